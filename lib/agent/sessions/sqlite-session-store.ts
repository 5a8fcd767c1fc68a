import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from './open-sqlite';
import { AgentError } from '../errors';
import type { Message } from '../messages';
import type { SessionInfo, SessionScope, SessionStore } from './session-store';

/** Options of {@link SqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** The database file (created if missing), or `':memory:'`. */
  path: string;
  /** Prefix of the store's table names, to share a database file. Default `definable_`. */
  tablePrefix?: string;
}

interface SessionRow {
  id: number;
  session_id: string;
  user_id: string | null;
  created_at: number;
  updated_at: number;
}

/**
 * A persistent session store on `better-sqlite3` (an optional peer
 * dependency: `npm install better-sqlite3`). The file is opened in WAL mode;
 * sessions survive a restart. Each append is one transaction.
 *
 * Sessions are keyed by user and id (see {@link SessionStore}). A file written
 * before that (one owner per session id) is migrated when opened: each
 * existing session stays with the user recorded in it.
 */
export class SqliteSessionStore implements SessionStore {
  private readonly db: BetterSqlite3.Database;
  private readonly statements: {
    scoped: BetterSqlite3.Statement<[string, string | null]>;
    latest: BetterSqlite3.Statement<[string]>;
    count: BetterSqlite3.Statement<[number]>;
    recent: BetterSqlite3.Statement<[number, number]>;
    all: BetterSqlite3.Statement<[number]>;
    create: BetterSqlite3.Statement<[string, string | null, number, number]>;
    insert: BetterSqlite3.Statement<[number, string]>;
    touch: BetterSqlite3.Statement<[number, number]>;
    deleteMessages: BetterSqlite3.Statement<[number]>;
    deleteSession: BetterSqlite3.Statement<[number]>;
    everyUser: BetterSqlite3.Statement<[string]>;
  };
  private readonly appendTx: (sessionId: string, userId: string | null, messages: Message[]) => void;
  private readonly deleteTx: (rows: { id: number }[]) => void;

  constructor(options: SqliteSessionStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteSessionStore needs a file path, e.g. new SqliteSessionStore({ path: './agent.db' }).");
    }
    const prefix = options.tablePrefix ?? 'definable_';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
      throw new TypeError(`SqliteSessionStore: tablePrefix "${prefix}" must be letters, digits and "_".`);
    }
    this.db = openSqlite(options.path, 'SqliteSessionStore');
    const sessions = `${prefix}sessions`;
    const messages = `${prefix}messages`;
    try {
      migrateToUserKeys(this.db, sessions, messages);
      this.db.exec(schema(sessions, messages));
    } catch (error) {
      this.db.close();
      throw error;
    }
    const columns = 'id, session_id, user_id, created_at, updated_at';
    this.statements = {
      // `IS` compares NULL (anonymous) as a value.
      scoped: this.db.prepare(`SELECT ${columns} FROM ${sessions} WHERE session_id = ? AND user_id IS ?`),
      latest: this.db.prepare(`SELECT ${columns} FROM ${sessions} WHERE session_id = ? ORDER BY updated_at DESC, id DESC LIMIT 1`),
      count: this.db.prepare(`SELECT COUNT(*) AS n FROM ${messages} WHERE session_ref = ?`),
      recent: this.db.prepare(
        `SELECT message FROM (SELECT id, message FROM ${messages} WHERE session_ref = ? ORDER BY id DESC LIMIT ?) ORDER BY id`,
      ),
      all: this.db.prepare(`SELECT message FROM ${messages} WHERE session_ref = ? ORDER BY id`),
      create: this.db.prepare(
        `INSERT OR IGNORE INTO ${sessions} (session_id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?)`,
      ),
      insert: this.db.prepare(`INSERT INTO ${messages} (session_ref, message) VALUES (?, ?)`),
      touch: this.db.prepare(`UPDATE ${sessions} SET updated_at = ? WHERE id = ?`),
      deleteMessages: this.db.prepare(`DELETE FROM ${messages} WHERE session_ref = ?`),
      deleteSession: this.db.prepare(`DELETE FROM ${sessions} WHERE id = ?`),
      everyUser: this.db.prepare(`SELECT ${columns} FROM ${sessions} WHERE session_id = ?`),
    };
    this.appendTx = this.db.transaction((sessionId: string, userId: string | null, batch: Message[]) => {
      const now = Date.now();
      this.statements.create.run(sessionId, userId, now, now);
      const row = this.statements.scoped.get(sessionId, userId) as SessionRow;
      for (const message of batch) this.statements.insert.run(row.id, JSON.stringify(message));
      this.statements.touch.run(now, row.id);
    });
    this.deleteTx = this.db.transaction((rows: { id: number }[]) => {
      for (const row of rows) {
        this.statements.deleteMessages.run(row.id);
        this.statements.deleteSession.run(row.id);
      }
    });
  }

  async getSession(sessionId: string, scope?: SessionScope): Promise<SessionInfo | null> {
    return this.guard(() => {
      const row = this.find(sessionId, scope);
      if (!row) return null;
      const { n } = this.statements.count.get(row.id) as { n: number };
      return { sessionId: row.session_id, userId: row.user_id, createdAt: row.created_at, updatedAt: row.updated_at, messageCount: n };
    });
  }

  async getMessages(sessionId: string, limit?: number, scope?: SessionScope): Promise<Message[]> {
    return this.guard(() => {
      const row = this.find(sessionId, scope);
      if (!row) return [];
      const rows = (limit === undefined ? this.statements.all.all(row.id) : this.statements.recent.all(row.id, limit)) as { message: string }[];
      return rows.map((stored) => JSON.parse(stored.message) as Message);
    });
  }

  async append(sessionId: string, userId: string | null, messages: Message[]): Promise<void> {
    this.guard(() => this.appendTx(sessionId, userId, messages));
  }

  async deleteSession(sessionId: string, scope?: SessionScope): Promise<void> {
    this.guard(() => {
      const rows = scope ? [this.statements.scoped.get(sessionId, scope.userId)] : this.statements.everyUser.all(sessionId);
      this.deleteTx(rows.filter(Boolean) as SessionRow[]);
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** The scope's session, or (without a scope) the most recently updated one with this id. */
  private find(sessionId: string, scope: SessionScope | undefined): SessionRow | undefined {
    return (scope ? this.statements.scoped.get(sessionId, scope.userId) : this.statements.latest.get(sessionId)) as SessionRow | undefined;
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof AgentError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new AgentError('session_store', `SQLite session store failed: ${message}`, { cause: error });
    }
  }
}

/**
 * The tables: a session is one row per (user, id) — a unique index for users,
 * and a partial one for anonymous sessions, whose NULL user a plain unique
 * index would not compare — and messages point at the session's row.
 */
function schema(sessions: string, messages: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${sessions} (
      id INTEGER PRIMARY KEY,
      session_id TEXT NOT NULL,
      user_id TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS ${sessions}_user_key ON ${sessions}(session_id, user_id);
    CREATE UNIQUE INDEX IF NOT EXISTS ${sessions}_anonymous_key ON ${sessions}(session_id) WHERE user_id IS NULL;
    CREATE TABLE IF NOT EXISTS ${messages} (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      session_ref INTEGER NOT NULL REFERENCES ${sessions}(id) ON DELETE CASCADE,
      message TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${messages}_by_session ON ${messages}(session_ref, id);
  `;
}

/**
 * Moves tables written before sessions were keyed by user (`session_id` the
 * primary key, messages keyed by it) to the current schema, keeping every
 * session with the user recorded in it and every message's id and order.
 * Done once, in one immediate transaction, so a second process opening the
 * file meanwhile waits and then finds it done.
 */
function migrateToUserKeys(db: BetterSqlite3.Database, sessions: string, messages: string): void {
  const isOld = () => {
    const columns = db.pragma(`table_info(${sessions})`) as { name: string }[];
    return columns.length > 0 && !columns.some((column) => column.name === 'id');
  };
  if (!isOld()) return;
  // Tables are rebuilt (SQLite cannot change a primary key): the documented way turns foreign keys off around it.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      if (!isOld()) return;
      db.exec(schema(`${sessions}_v2`, `${messages}_v2`).replace(`REFERENCES ${sessions}_v2(id)`, `REFERENCES ${sessions}(id)`));
      db.exec(`
        INSERT INTO ${sessions}_v2 (session_id, user_id, created_at, updated_at)
          SELECT session_id, user_id, created_at, updated_at FROM ${sessions} ORDER BY rowid;
        INSERT INTO ${messages}_v2 (id, session_ref, message)
          SELECT m.id, s.id, m.message FROM ${messages} m JOIN ${sessions}_v2 s ON s.session_id = m.session_id ORDER BY m.id;
        DROP TABLE ${messages};
        DROP TABLE ${sessions};
        ALTER TABLE ${sessions}_v2 RENAME TO ${sessions};
        ALTER TABLE ${messages}_v2 RENAME TO ${messages};
      `);
      // The indexes keep their _v2 names through the rename; give them the current ones.
      db.exec(`
        DROP INDEX ${sessions}_v2_user_key;
        DROP INDEX ${sessions}_v2_anonymous_key;
        DROP INDEX ${messages}_v2_by_session;
      `);
      db.exec(schema(sessions, messages));
      const broken = db.pragma(`foreign_key_check(${messages})`) as unknown[];
      if (broken.length) throw new Error(`migrating ${sessions} left ${broken.length} messages without a session`);
    }).immediate();
  } finally {
    if (foreignKeys) db.pragma('foreign_keys = ON');
  }
}
