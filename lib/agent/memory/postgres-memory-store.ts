import { randomUUID } from 'node:crypto';
import { PG_NOW_MS, PostgresTables, type PostgresPool } from '../sessions/postgres-pool';
import type { MemoryRecord, MemoryStore } from './memory-store';

/**
 * Options of {@link PostgresMemoryStore}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresMemoryStore, type PostgresMemoryStoreOptions } from 'nestjs-definable';
 *
 * const options: PostgresMemoryStoreOptions = { connectionString: 'postgres://app@db:5432/app', schema: 'definable' };
 * const store = new PostgresMemoryStore(options);
 * ```
 */
export interface PostgresMemoryStoreOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The store borrows it:
   * {@link PostgresMemoryStore.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the store's own, ended by {@link PostgresMemoryStore.close}. */
  connectionString?: string;
  /** The schema of the store's table, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table name (`<prefix>memories`), to share a schema. Default none. */
  tablePrefix?: string;
}

interface MemoryRow {
  id: string;
  user_id: string;
  /** The text as a JSON string (pg parses json columns). */
  text: string;
  created_at: string;
  updated_at: string;
}

/** The longest name we give after the prefix. */
const LONGEST_NAME = 'memories_by_user';

const COLUMNS = 'id, user_id, text, created_at, updated_at';

function toRecord(row: MemoryRow): MemoryRecord {
  return { id: row.id, userId: row.user_id, text: row.text, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
}

/**
 * A persistent {@link MemoryStore} on PostgreSQL through `pg` (an optional
 * peer dependency: `npm install pg`), for apps on several replicas: every
 * process on the same database and schema sees the same memories — what
 * {@link SqliteMemoryStore} is for one process.
 *
 * One row per memory, keyed by its id, with its user's index; the text is a
 * JSON string (`json`, as written: a `text` column would refuse a NUL
 * character, which SQLite and the in-memory store keep); every operation
 * is one statement scoped to the user, so a replica can neither read nor
 * change another user's memory by id. Times are the database's clock, the
 * same for every replica; the list is oldest first (ties in the order they
 * were added). The table is created on first use, idempotently, under an
 * advisory lock so replicas starting together do not collide.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { Agent, Memory, OpenAIChat, PostgresMemoryStore } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const agent = new Agent({
 *   model: new OpenAIChat({ id: 'gpt-4o-mini' }),
 *   memory: new Memory({ store: new PostgresMemoryStore({ pool }) }),
 * });
 * ```
 */
export class PostgresMemoryStore implements MemoryStore {
  private readonly tables: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly memories: string;

  constructor(options: PostgresMemoryStoreOptions) {
    this.tables = new PostgresTables(
      options,
      'PostgresMemoryStore',
      LONGEST_NAME,
      (t) => `
        CREATE TABLE IF NOT EXISTS ${t.table('memories')} (
          id text PRIMARY KEY,
          seq bigserial NOT NULL,
          user_id text NOT NULL,
          text json NOT NULL,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ${t.local('memories_by_user')} ON ${t.table('memories')} (user_id, created_at, seq);
      `,
      'PostgreSQL memory store (PostgresMemoryStore)',
    );
    this.pool = this.tables.pool;
    this.memories = this.tables.table('memories');
  }

  async list(userId: string): Promise<MemoryRecord[]> {
    return this.tables.use(async () => {
      const { rows } = await this.pool.query(`SELECT ${COLUMNS} FROM ${this.memories} WHERE user_id = $1 ORDER BY created_at, seq`, [userId]);
      return (rows as MemoryRow[]).map(toRecord);
    });
  }

  async add(userId: string, text: string): Promise<MemoryRecord> {
    return this.tables.use(async () => {
      const { rows } = await this.pool.query(
        `INSERT INTO ${this.memories} (id, user_id, text, created_at, updated_at) VALUES ($1, $2, $3::json, ${PG_NOW_MS}, ${PG_NOW_MS}) RETURNING ${COLUMNS}`,
        [randomUUID(), userId, JSON.stringify(text)],
      );
      return toRecord(rows[0] as MemoryRow);
    });
  }

  async update(userId: string, id: string, text: string): Promise<MemoryRecord | null> {
    return this.tables.use(async () => {
      const { rows } = await this.pool.query(
        `UPDATE ${this.memories} SET text = $3::json, updated_at = GREATEST(updated_at, ${PG_NOW_MS}) WHERE user_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        [userId, id, JSON.stringify(text)],
      );
      const row = rows[0] as MemoryRow | undefined;
      return row ? toRecord(row) : null;
    });
  }

  async delete(userId: string, id: string): Promise<boolean> {
    return this.tables.use(async () => (await this.pool.query(`DELETE FROM ${this.memories} WHERE user_id = $1 AND id = $2 RETURNING id`, [userId, id])).rows.length > 0);
  }

  async clear(userId: string): Promise<void> {
    await this.tables.use(() => this.pool.query(`DELETE FROM ${this.memories} WHERE user_id = $1`, [userId]));
  }

  /** Ends the pool the store created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.tables.close();
  }
}
