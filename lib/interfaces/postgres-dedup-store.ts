import { PG_NOW_MS, PostgresTables, type PostgresPool } from '../agent/sessions/postgres-pool';
import type { DedupStore, InboxEntry } from './dedup-store';
import type { InboundMessage } from './inbound-message';
import { parseMessage, serializeMessage } from './inbox-message';

/**
 * Options of {@link PostgresDedupStore}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresDedupStore, type PostgresDedupStoreOptions } from 'nestjs-definable';
 *
 * const options: PostgresDedupStoreOptions = { connectionString: 'postgres://app@db:5432/app', retentionMs: 24 * 3600 * 1000 };
 * const inbox = new PostgresDedupStore(options);
 * ```
 */
export interface PostgresDedupStoreOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The store borrows it:
   * {@link PostgresDedupStore.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the store's own, ended by {@link PostgresDedupStore.close}. */
  connectionString?: string;
  /** The schema of the store's table, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table name (`<prefix>chat_inbox`), to share a schema. Default none. */
  tablePrefix?: string;
  /** How long answered message ids are kept, in ms. Default 7 days. */
  retentionMs?: number;
}

/** The longest name we give after the prefix. */
const LONGEST_NAME = 'chat_inbox_answered';

/** Answered keys past their retention are deleted every this many `add`s of a store. */
const EXPIRE_EVERY = 1000;

/**
 * The durable chat inbox and {@link DedupStore} on PostgreSQL through `pg`
 * (an optional peer dependency: `npm install pg`), for apps on several
 * replicas: what {@link SqliteDedupStore} does for one process — a message is
 * written before its delivery is acknowledged to the platform, one a crash
 * left unanswered is answered after the restart, a re-delivery of an answered
 * (or inboxed) message is recognised — on a database every replica shares.
 *
 * One row per message key, whether it waits in an inbox or was answered: the
 * key's primary key decides every race. `admit` is one
 * `INSERT ... ON CONFLICT DO NOTHING`, so of two replicas admitting one
 * key at once exactly one gets `true`, and a key answered meanwhile is never
 * admitted again; `add` turns the row into an answered one in one upsert.
 * Messages are stored as {@link SqliteDedupStore} stores them (JSON, bytes as
 * base64, without the platform's raw object); `pending` returns them in the
 * order they were admitted (a `bigserial`). Answered keys are kept for
 * `retentionMs`, then deleted (checked every 1,000 answers of a store).
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { PostgresDedupStore, TelegramInterface } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const telegram = new TelegramInterface({ botToken: process.env.TELEGRAM_TOKEN, dedup: new PostgresDedupStore({ pool }) });
 * ```
 */
export class PostgresDedupStore implements DedupStore {
  private readonly tables: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly inbox: string;
  private readonly retentionMs: number;
  private added = 0;

  constructor(options: PostgresDedupStoreOptions) {
    const retentionMs = options?.retentionMs ?? 7 * 24 * 3600 * 1000;
    if (typeof retentionMs !== 'number' || !(retentionMs >= 0) || !Number.isFinite(retentionMs)) {
      throw new TypeError(`PostgresDedupStore: retentionMs must be a number of milliseconds of at least 0, e.g. ${7 * 24 * 3600 * 1000} (7 days); got ${String(retentionMs)}.`);
    }
    this.retentionMs = Math.floor(retentionMs);
    this.tables = new PostgresTables(
      options,
      'PostgresDedupStore',
      LONGEST_NAME,
      (t) => `
        CREATE TABLE IF NOT EXISTS ${t.table('chat_inbox')} (
          key text PRIMARY KEY,
          seq bigserial NOT NULL,
          inbox text,
          message text,
          received_at bigint NOT NULL,
          answered_at bigint,
          CHECK ((answered_at IS NULL) = (inbox IS NOT NULL AND message IS NOT NULL))
        );
        CREATE INDEX IF NOT EXISTS ${t.local('chat_inbox_pending')} ON ${t.table('chat_inbox')} (inbox, seq) WHERE answered_at IS NULL;
        CREATE INDEX IF NOT EXISTS ${t.local('chat_inbox_answered')} ON ${t.table('chat_inbox')} (answered_at) WHERE answered_at IS NOT NULL;
      `,
      'PostgreSQL chat inbox (PostgresDedupStore)',
    );
    this.pool = this.tables.pool;
    this.inbox = this.tables.table('chat_inbox');
  }

  async has(key: string): Promise<boolean> {
    return this.tables.use(async () => (await this.pool.query(`SELECT 1 FROM ${this.inbox} WHERE key = $1`, [key])).rows.length > 0);
  }

  async answered(key: string): Promise<boolean> {
    return this.tables.use(async () => (await this.pool.query(`SELECT 1 FROM ${this.inbox} WHERE key = $1 AND answered_at IS NOT NULL`, [key])).rows.length > 0);
  }

  async add(key: string): Promise<void> {
    await this.tables.use(async () => {
      // Answered, and out of its inbox: one statement, the key's row locked while it changes.
      await this.pool.query(
        `INSERT INTO ${this.inbox} (key, received_at, answered_at) VALUES ($1, ${PG_NOW_MS}, ${PG_NOW_MS})
         ON CONFLICT (key) DO UPDATE SET answered_at = EXCLUDED.answered_at, inbox = NULL, message = NULL`,
        [key],
      );
      if (++this.added % EXPIRE_EVERY === 0) {
        await this.pool.query(`DELETE FROM ${this.inbox} WHERE answered_at < ${PG_NOW_MS} - $1::bigint`, [this.retentionMs]);
      }
    });
  }

  async admit(key: string, message: InboundMessage, inbox: string): Promise<boolean> {
    return this.tables.use(async () => {
      // A key known in any state (in an inbox, answered) conflicts: nothing is written, and no row comes back.
      const { rows } = await this.pool.query(
        `INSERT INTO ${this.inbox} (key, inbox, message, received_at) VALUES ($1, $2, $3, ${PG_NOW_MS})
         ON CONFLICT (key) DO NOTHING RETURNING seq`,
        [key, inbox, serializeMessage(message)],
      );
      return rows.length > 0;
    });
  }

  async pending(inbox: string): Promise<InboxEntry[]> {
    return this.tables.use(async () => {
      const { rows } = await this.pool.query(`SELECT key, message FROM ${this.inbox} WHERE inbox = $1 AND answered_at IS NULL ORDER BY seq`, [inbox]);
      return (rows as { key: string; message: string }[]).map((row) => ({ key: row.key, message: parseMessage(row.message) }));
    });
  }

  /** Ends the pool the store created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.tables.close();
  }
}
