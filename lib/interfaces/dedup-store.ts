import { trimOldest } from '../agent/bounded';
import { openSqlite } from '../agent/sessions/open-sqlite';

/**
 * Remembers which platform messages were answered, so a message delivered
 * twice (Telegram re-delivers after a crash) is answered once.
 */
export interface DedupStore {
  /** Whether the message was already handled. */
  has(key: string): Promise<boolean>;
  /** Records a message as handled. */
  add(key: string): Promise<void>;
}

/** A bounded in-memory {@link DedupStore} (the oldest keys are forgotten first). */
export class InMemoryDedupStore implements DedupStore {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  async has(key: string): Promise<boolean> {
    return this.keys.has(key);
  }

  async add(key: string): Promise<void> {
    this.keys.add(key);
    trimOldest(this.keys, this.capacity);
  }
}

/** Options of {@link SqliteDedupStore}. */
export interface SqliteDedupStoreOptions {
  /** The database file (it may be the session store's), or `':memory:'`. */
  path: string;
  /** How long answered message ids are kept, in ms. Default 7 days. */
  retentionMs?: number;
}

/**
 * A persistent {@link DedupStore} on `better-sqlite3`: after a crash, a
 * platform's re-delivery of an already answered message is still recognised.
 */
export class SqliteDedupStore implements DedupStore {
  private readonly db: import('better-sqlite3').Database;
  private readonly retentionMs: number;
  private added = 0;

  constructor(options: SqliteDedupStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteDedupStore needs a file path, e.g. new SqliteDedupStore({ path: './agent.db' }).");
    }
    this.db = openSqlite(options.path, 'SqliteDedupStore');
    this.db.exec('CREATE TABLE IF NOT EXISTS definable_seen_messages (key TEXT PRIMARY KEY, seen_at INTEGER NOT NULL)');
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3600 * 1000;
  }

  async has(key: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM definable_seen_messages WHERE key = ?').get(key) !== undefined;
  }

  async add(key: string): Promise<void> {
    const now = Date.now();
    this.db.prepare('INSERT OR REPLACE INTO definable_seen_messages (key, seen_at) VALUES (?, ?)').run(key, now);
    if (++this.added % 1000 === 0) this.db.prepare('DELETE FROM definable_seen_messages WHERE seen_at < ?').run(now - this.retentionMs);
  }

  /** Closes the database. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
