import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../sessions/open-sqlite';

/** One durable fact about a user. */
export interface MemoryRecord {
  id: string;
  userId: string;
  text: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** Where memories live; every operation is scoped to one user. */
export interface MemoryStore {
  /** The user's memories, oldest first. */
  list(userId: string): Promise<MemoryRecord[]>;
  add(userId: string, text: string): Promise<MemoryRecord>;
  /** Replaces a memory's text; `null` when the user has no memory with that id. */
  update(userId: string, id: string, text: string): Promise<MemoryRecord | null>;
  /** Whether the user had a memory with that id. */
  delete(userId: string, id: string): Promise<boolean>;
  clear(userId: string): Promise<void>;
}

/** Options of {@link InMemoryMemoryStore}. */
export interface InMemoryMemoryStoreOptions {
  /** Users whose memories are kept; beyond it the least recently used user's go. Default 10,000. */
  maxUsers?: number;
  /** Memories kept per user; beyond it the oldest go. Default 500. */
  maxMemoriesPerUser?: number;
}

/**
 * The default {@link MemoryStore}: in process memory, lost on restart, and
 * bounded (users and memories per user), since every caller can add a user.
 */
export class InMemoryMemoryStore implements MemoryStore {
  private readonly users = new Map<string, Map<string, MemoryRecord>>();
  private readonly maxUsers: number;
  private readonly maxMemories: number;

  constructor(options: InMemoryMemoryStoreOptions = {}) {
    this.maxUsers = wholeAtLeastOne(options.maxUsers, 10_000, 'maxUsers');
    this.maxMemories = wholeAtLeastOne(options.maxMemoriesPerUser, 500, 'maxMemoriesPerUser');
  }

  async list(userId: string): Promise<MemoryRecord[]> {
    return [...(this.touch(userId)?.values() ?? [])].map((record) => ({ ...record }));
  }

  async add(userId: string, text: string): Promise<MemoryRecord> {
    const now = Date.now();
    const record = { id: randomUUID(), userId, text, createdAt: now, updatedAt: now };
    let memories = this.touch(userId);
    if (!memories) {
      this.users.set(userId, (memories = new Map()));
      // Map order is recency: the first key is the least recently used user.
      if (this.users.size > this.maxUsers) this.users.delete(this.users.keys().next().value!);
    }
    memories.set(record.id, record);
    if (memories.size > this.maxMemories) memories.delete(memories.keys().next().value!);
    return { ...record };
  }

  /** The user's memories, marked most recently used. */
  private touch(userId: string): Map<string, MemoryRecord> | undefined {
    const memories = this.users.get(userId);
    if (memories) {
      this.users.delete(userId);
      this.users.set(userId, memories);
    }
    return memories;
  }

  async update(userId: string, id: string, text: string): Promise<MemoryRecord | null> {
    const record = this.users.get(userId)?.get(id);
    if (!record) return null;
    record.text = text;
    record.updatedAt = Date.now();
    return { ...record };
  }

  async delete(userId: string, id: string): Promise<boolean> {
    return this.users.get(userId)?.delete(id) ?? false;
  }

  async clear(userId: string): Promise<void> {
    this.users.delete(userId);
  }
}

/** Options of {@link SqliteMemoryStore}. */
export interface SqliteMemoryStoreOptions {
  /** The database file (it may be the session store's), or `':memory:'`. */
  path: string;
}

/** A persistent {@link MemoryStore} on `better-sqlite3` (WAL mode). */
export class SqliteMemoryStore implements MemoryStore {
  private readonly db: BetterSqlite3.Database;

  constructor(options: SqliteMemoryStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteMemoryStore needs a file path, e.g. new SqliteMemoryStore({ path: './memory.db' }).");
    }
    this.db = openSqlite(options.path, 'SqliteMemoryStore');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS definable_memories (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS definable_memories_user ON definable_memories(user_id, created_at);
    `);
  }

  async list(userId: string): Promise<MemoryRecord[]> {
    const rows = this.db
      .prepare('SELECT id, user_id, text, created_at, updated_at FROM definable_memories WHERE user_id = ? ORDER BY created_at, rowid')
      .all(userId) as { id: string; user_id: string; text: string; created_at: number; updated_at: number }[];
    return rows.map((row) => ({ id: row.id, userId: row.user_id, text: row.text, createdAt: row.created_at, updatedAt: row.updated_at }));
  }

  async add(userId: string, text: string): Promise<MemoryRecord> {
    const now = Date.now();
    const record = { id: randomUUID(), userId, text, createdAt: now, updatedAt: now };
    this.db.prepare('INSERT INTO definable_memories (id, user_id, text, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(record.id, userId, text, now, now);
    return record;
  }

  async update(userId: string, id: string, text: string): Promise<MemoryRecord | null> {
    const now = Date.now();
    const changed = this.db.prepare('UPDATE definable_memories SET text = ?, updated_at = ? WHERE user_id = ? AND id = ?').run(text, now, userId, id).changes;
    if (!changed) return null;
    const row = this.db.prepare('SELECT id, user_id, text, created_at, updated_at FROM definable_memories WHERE id = ?').get(id) as
      | { id: string; user_id: string; text: string; created_at: number; updated_at: number }
      | undefined;
    return row ? { id: row.id, userId: row.user_id, text: row.text, createdAt: row.created_at, updatedAt: row.updated_at } : null;
  }

  async delete(userId: string, id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM definable_memories WHERE user_id = ? AND id = ?').run(userId, id).changes > 0;
  }

  async clear(userId: string): Promise<void> {
    this.db.prepare('DELETE FROM definable_memories WHERE user_id = ?').run(userId);
  }

  /** Closes the database. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function wholeAtLeastOne(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`InMemoryMemoryStore: ${name} must be a whole number of at least 1, got ${value}.`);
  return value;
}
