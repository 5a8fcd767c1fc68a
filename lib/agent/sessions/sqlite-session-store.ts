import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from './open-sqlite';
import { AgentError, SessionOwnershipError } from '../errors';
import type { Message } from '../messages';
import type { SessionInfo, SessionStore } from './session-store';

/** Options of {@link SqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** The database file (created if missing), or `':memory:'`. */
  path: string;
  /** Prefix of the store's table names, to share a database file. Default `definable_`. */
  tablePrefix?: string;
}

/**
 * A persistent session store on `better-sqlite3` (an optional peer
 * dependency: `npm install better-sqlite3`). The file is opened in WAL mode;
 * sessions survive a restart. Each append is one transaction.
 */
export class SqliteSessionStore implements SessionStore {
  private readonly db: BetterSqlite3.Database;
  private readonly statements: {
    session: BetterSqlite3.Statement<[string]>;
    count: BetterSqlite3.Statement<[string]>;
    recent: BetterSqlite3.Statement<[string, number]>;
    all: BetterSqlite3.Statement<[string]>;
    create: BetterSqlite3.Statement<[string, string | null, number, number]>;
    insert: BetterSqlite3.Statement<[string, string]>;
    touch: BetterSqlite3.Statement<[number, string]>;
    deleteMessages: BetterSqlite3.Statement<[string]>;
    deleteSession: BetterSqlite3.Statement<[string]>;
  };
  private readonly appendTx: (sessionId: string, userId: string | null, messages: Message[]) => void;

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
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ${sessions} (
        session_id TEXT PRIMARY KEY,
        user_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${messages} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES ${sessions}(session_id) ON DELETE CASCADE,
        message TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ${messages}_session ON ${messages}(session_id, id);
    `);
    this.statements = {
      session: this.db.prepare(`SELECT session_id, user_id, created_at, updated_at FROM ${sessions} WHERE session_id = ?`),
      count: this.db.prepare(`SELECT COUNT(*) AS n FROM ${messages} WHERE session_id = ?`),
      recent: this.db.prepare(
        `SELECT message FROM (SELECT id, message FROM ${messages} WHERE session_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id`,
      ),
      all: this.db.prepare(`SELECT message FROM ${messages} WHERE session_id = ? ORDER BY id`),
      create: this.db.prepare(
        `INSERT OR IGNORE INTO ${sessions} (session_id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?)`,
      ),
      insert: this.db.prepare(`INSERT INTO ${messages} (session_id, message) VALUES (?, ?)`),
      touch: this.db.prepare(`UPDATE ${sessions} SET updated_at = ? WHERE session_id = ?`),
      deleteMessages: this.db.prepare(`DELETE FROM ${messages} WHERE session_id = ?`),
      deleteSession: this.db.prepare(`DELETE FROM ${sessions} WHERE session_id = ?`),
    };
    this.appendTx = this.db.transaction((sessionId: string, userId: string | null, batch: Message[]) => {
      const now = Date.now();
      this.statements.create.run(sessionId, userId, now, now);
      const row = this.statements.session.get(sessionId) as { user_id: string | null };
      if (row.user_id !== userId) throw new SessionOwnershipError(sessionId);
      for (const message of batch) this.statements.insert.run(sessionId, JSON.stringify(message));
      this.statements.touch.run(now, sessionId);
    });
  }

  async getSession(sessionId: string): Promise<SessionInfo | null> {
    return this.guard(() => {
      const row = this.statements.session.get(sessionId) as
        | { session_id: string; user_id: string | null; created_at: number; updated_at: number }
        | undefined;
      if (!row) return null;
      const { n } = this.statements.count.get(sessionId) as { n: number };
      return { sessionId: row.session_id, userId: row.user_id, createdAt: row.created_at, updatedAt: row.updated_at, messageCount: n };
    });
  }

  async getMessages(sessionId: string, limit?: number): Promise<Message[]> {
    return this.guard(() => {
      const rows = (limit === undefined ? this.statements.all.all(sessionId) : this.statements.recent.all(sessionId, limit)) as {
        message: string;
      }[];
      return rows.map((row) => JSON.parse(row.message) as Message);
    });
  }

  async append(sessionId: string, userId: string | null, messages: Message[]): Promise<void> {
    this.guard(() => this.appendTx(sessionId, userId, messages));
  }

  async deleteSession(sessionId: string): Promise<void> {
    this.guard(() =>
      this.db.transaction(() => {
        this.statements.deleteMessages.run(sessionId);
        this.statements.deleteSession.run(sessionId);
      })(),
    );
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
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
