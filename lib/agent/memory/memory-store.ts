import { wholeAtLeastOne } from '../bounded';
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
  /**
   * Memory the stored texts may take, in bytes (counted as UTF-16, plus a
   * little per memory): beyond it the least recently used users' memories go,
   * and a user who alone is over it loses their oldest. Default 16 MiB.
   */
  maxBytes?: number;
}

/** Bookkeeping per stored memory besides its text (the record, its ids and times). */
const MEMORY_OVERHEAD = 160;

interface UserMemories {
  records: Map<string, MemoryRecord>;
  /** What `records` weigh (see {@link weigh}). */
  bytes: number;
}

/**
 * The default {@link MemoryStore}: in process memory, lost on restart, and
 * bounded (users, memories per user and bytes), since every caller can add a
 * user and the model writes the texts.
 */
export class InMemoryMemoryStore implements MemoryStore {
  private readonly users = new Map<string, UserMemories>();
  private readonly maxUsers: number;
  private readonly maxMemories: number;
  private readonly maxBytes: number;
  private bytes = 0;

  constructor(options: InMemoryMemoryStoreOptions = {}) {
    this.maxUsers = wholeAtLeastOne('InMemoryMemoryStore', 'maxUsers', options.maxUsers, 10_000);
    this.maxMemories = wholeAtLeastOne('InMemoryMemoryStore', 'maxMemoriesPerUser', options.maxMemoriesPerUser, 500);
    this.maxBytes = wholeAtLeastOne('InMemoryMemoryStore', 'maxBytes', options.maxBytes, 16 * 1024 * 1024);
  }

  /** What the stored memories weigh now, in bytes (as {@link InMemoryMemoryStoreOptions.maxBytes} counts them). */
  get size(): number {
    return this.bytes;
  }

  async list(userId: string): Promise<MemoryRecord[]> {
    return [...(this.touch(userId)?.records.values() ?? [])].map((record) => ({ ...record }));
  }

  async add(userId: string, text: string): Promise<MemoryRecord> {
    const now = Date.now();
    const record = { id: randomUUID(), userId, text, createdAt: now, updatedAt: now };
    let memories = this.touch(userId);
    if (!memories) {
      this.users.set(userId, (memories = { records: new Map(), bytes: 0 }));
      // Map order is recency: the first key is the least recently used user.
      if (this.users.size > this.maxUsers) this.forget(this.users.keys().next().value!);
    }
    memories.records.set(record.id, record);
    this.resize(memories, weigh(text));
    if (memories.records.size > this.maxMemories) this.dropOldest(memories);
    this.evict(memories);
    return { ...record };
  }

  async update(userId: string, id: string, text: string): Promise<MemoryRecord | null> {
    const memories = this.users.get(userId);
    const record = memories?.records.get(id);
    if (!memories || !record) return null;
    this.resize(memories, weigh(text) - weigh(record.text));
    record.text = text;
    record.updatedAt = Date.now();
    this.evict(memories);
    return { ...record };
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const memories = this.users.get(userId);
    const record = memories?.records.get(id);
    if (!memories || !record) return false;
    memories.records.delete(id);
    this.resize(memories, -weigh(record.text));
    return true;
  }

  async clear(userId: string): Promise<void> {
    this.forget(userId);
  }

  /** The user's memories, marked most recently used. */
  private touch(userId: string): UserMemories | undefined {
    const memories = this.users.get(userId);
    if (memories) {
      this.users.delete(userId);
      this.users.set(userId, memories);
    }
    return memories;
  }

  /** Over the bytes: the least recently used users (never `current`) go, then `current`'s oldest memories (never its newest). */
  private evict(current: UserMemories): void {
    for (const [userId, memories] of this.users) {
      if (this.bytes <= this.maxBytes) return;
      if (memories !== current) this.forget(userId);
    }
    while (this.bytes > this.maxBytes && current.records.size > 1) this.dropOldest(current);
  }

  private dropOldest(memories: UserMemories): void {
    const [id, record] = memories.records.entries().next().value!;
    memories.records.delete(id);
    this.resize(memories, -weigh(record.text));
  }

  private forget(userId: string): void {
    const memories = this.users.get(userId);
    if (!memories) return;
    this.users.delete(userId);
    this.bytes -= memories.bytes;
  }

  private resize(memories: UserMemories, change: number): void {
    memories.bytes += change;
    this.bytes += change;
  }
}

/** What a memory weighs: its text as UTF-16 (2 bytes a code unit) plus {@link MEMORY_OVERHEAD}. */
function weigh(text: string): number {
  return MEMORY_OVERHEAD + 2 * text.length;
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

