import { AgentError } from '../errors';
import type { Message } from '../messages';
import { PG_NOW_MS, PostgresTables, type PostgresPool } from './postgres-pool';
import type { SessionInfo, SessionScope, SessionStore } from './session-store';

/**
 * Options of {@link PostgresSessionStore}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresSessionStore, type PostgresSessionStoreOptions } from 'nestjs-definable';
 *
 * const options: PostgresSessionStoreOptions = {
 *   connectionString: 'postgres://app@db:5432/app',
 *   schema: 'definable',
 * };
 * const sessions = new PostgresSessionStore(options);
 * ```
 */
export interface PostgresSessionStoreOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The store borrows it:
   * {@link PostgresSessionStore.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the store's own, ended by {@link PostgresSessionStore.close}. */
  connectionString?: string;
  /** The schema of the store's tables, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table names (`<prefix>sessions`, `<prefix>session_messages`), to share a schema. Default none. */
  tablePrefix?: string;
}

interface SessionRow {
  session_id: string;
  user_id: string | null;
  created_at: string;
  updated_at: string;
  message_count: number;
}

/** The longest name we give after the prefix (PostgreSQL shortens the names it makes itself). */
const LONGEST_NAME = 'sessions_anonymous_key';

/**
 * A session store on PostgreSQL through `pg` (an optional peer dependency:
 * `npm install pg`), for apps on several replicas: every process on the same
 * database and schema sees the same sessions.
 *
 * The tables are created on first use, idempotently, under a transaction-level
 * advisory lock so processes starting together do not race each other. A
 * session is one row per (user, id) — a unique index for users and a partial
 * one for the anonymous session, whose NULL user a plain unique index would
 * not compare — and its messages are \`json\` rows numbered from 0 (stored as
 * written: JSONB would refuse a NUL character and reorder object keys). Each append
 * is one statement: the session row is upserted (which locks it, so
 * concurrent appends to one session queue up and two concurrent first appends
 * end in one session) and its messages inserted at the next positions.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { Agent, OpenAIChat, PostgresSessionStore } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const agent = new Agent({
 *   model: new OpenAIChat({ id: 'gpt-4o-mini' }),
 *   sessionStore: new PostgresSessionStore({ pool, schema: 'definable' }),
 * });
 * ```
 */
export class PostgresSessionStore implements SessionStore {
  private readonly tables: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly sessions: string;
  private readonly messages: string;

  constructor(options: PostgresSessionStoreOptions) {
    this.tables = new PostgresTables(
      options,
      'PostgresSessionStore',
      LONGEST_NAME,
      (t) => `
        CREATE TABLE IF NOT EXISTS ${t.table('sessions')} (
          id bigserial PRIMARY KEY,
          session_id text NOT NULL,
          user_id text,
          created_at bigint NOT NULL,
          updated_at bigint NOT NULL,
          message_count integer NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX IF NOT EXISTS ${t.local('sessions_user_key')} ON ${t.table('sessions')} (session_id, user_id);
        CREATE UNIQUE INDEX IF NOT EXISTS ${t.local('sessions_anonymous_key')} ON ${t.table('sessions')} (session_id) WHERE user_id IS NULL;
        CREATE TABLE IF NOT EXISTS ${t.table('session_messages')} (
          session_ref bigint NOT NULL REFERENCES ${t.table('sessions')} (id) ON DELETE CASCADE,
          position integer NOT NULL,
          message json NOT NULL,
          PRIMARY KEY (session_ref, position)
        );
      `,
      (message, cause) => (cause instanceof AgentError ? cause : new AgentError('session_store', `PostgreSQL session store failed: ${message}`, { cause })),
    );
    this.pool = this.tables.pool;
    this.sessions = this.tables.table('sessions');
    this.messages = this.tables.table('session_messages');
  }

  async getSession(sessionId: string, scope?: SessionScope): Promise<SessionInfo | null> {
    return this.tables.use(async () => {
      const { text, values } = this.find(sessionId, scope);
      const { rows } = await this.pool.query(
        `SELECT session_id, user_id, created_at, updated_at, message_count FROM ${this.sessions} ${text}`,
        values,
      );
      const row = rows[0] as SessionRow | undefined;
      if (!row) return null;
      return {
        sessionId: row.session_id,
        userId: row.user_id,
        createdAt: Number(row.created_at),
        updatedAt: Number(row.updated_at),
        messageCount: row.message_count,
      };
    });
  }

  async getMessages(sessionId: string, limit?: number, scope?: SessionScope): Promise<Message[]> {
    return this.tables.use(async () => {
      const { text, values } = this.find(sessionId, scope);
      // LIMIT NULL is no limit.
      const last = limit === undefined || !Number.isFinite(limit) ? null : Math.max(0, Math.floor(limit));
      const { rows } = await this.pool.query(
        `SELECT message FROM ${this.messages} WHERE session_ref = (SELECT id FROM ${this.sessions} ${text})
         ORDER BY position DESC LIMIT $${values.length + 1}`,
        [...values, last],
      );
      return (rows as { message: Message }[]).map((row) => row.message).reverse();
    });
  }

  async append(sessionId: string, userId: string | null, messages: Message[]): Promise<void> {
    await this.tables.use(async () => {
      const conflict = userId === null ? '(session_id) WHERE user_id IS NULL' : '(session_id, user_id)';
      // One statement, one round trip: the upsert locks the session's row until it ends, so a concurrent
      // append waits and then numbers after us (ON CONFLICT reads the row as the other left it).
      await this.pool.query(
        `WITH s AS (
           INSERT INTO ${this.sessions} AS s (session_id, user_id, created_at, updated_at, message_count)
           VALUES ($1, $2, ${PG_NOW_MS}, ${PG_NOW_MS}, $3)
           ON CONFLICT ${conflict} DO UPDATE
             SET updated_at = GREATEST(s.updated_at, EXCLUDED.updated_at), message_count = s.message_count + EXCLUDED.message_count
           RETURNING id, message_count
         )
         INSERT INTO ${this.messages} (session_ref, position, message)
         SELECT s.id, s.message_count - $3 + item.ordinality - 1, item.value FROM s, json_array_elements($4::json) WITH ORDINALITY AS item`,
        [sessionId, userId, messages.length, JSON.stringify(messages)],
      );
    });
  }


  async deleteSession(sessionId: string, scope?: SessionScope): Promise<void> {
    await this.tables.use(async () => {
      const where = !scope ? 'session_id = $1' : scope.userId === null ? 'session_id = $1 AND user_id IS NULL' : 'session_id = $1 AND user_id = $2';
      const values = scope && scope.userId !== null ? [sessionId, scope.userId] : [sessionId];
      // The messages go with their session (ON DELETE CASCADE).
      await this.pool.query(`DELETE FROM ${this.sessions} WHERE ${where}`, values);
    });
  }

  /** Ends the pool the store created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.tables.close();
  }

  /** The WHERE clause of the scope's session, or (without a scope) of the most recently updated one with this id. */
  private find(sessionId: string, scope: SessionScope | undefined): { text: string; values: unknown[] } {
    if (!scope) return { text: 'WHERE session_id = $1 ORDER BY updated_at DESC, id DESC LIMIT 1', values: [sessionId] };
    if (scope.userId === null) return { text: 'WHERE session_id = $1 AND user_id IS NULL', values: [sessionId] };
    return { text: 'WHERE session_id = $1 AND user_id = $2', values: [sessionId, scope.userId] };
  }
}
