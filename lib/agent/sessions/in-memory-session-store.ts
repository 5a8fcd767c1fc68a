import { SessionOwnershipError } from '../errors';
import type { Message } from '../messages';
import type { SessionInfo, SessionStore } from './session-store';

/** Options of {@link InMemorySessionStore}. */
export interface InMemorySessionStoreOptions {
  /** Sessions kept; beyond it the least recently used are evicted (1% of the bound at a time). Default 10,000. */
  maxSessions?: number;
  /** Messages kept per session; the oldest are dropped beyond it. Default 1,000. */
  maxMessagesPerSession?: number;
  /**
   * Memory the stored messages may take, in bytes (their strings counted as
   * UTF-16, as the engine may hold them, plus a little per message): beyond
   * it the least recently used sessions are evicted, and a session that alone
   * is over it loses its oldest messages. Default 64 MiB.
   */
  maxBytes?: number;
}

interface Entry {
  info: SessionInfo;
  messages: Message[];
  /** What `messages` weigh (see {@link messageBytes}). */
  bytes: number;
}

/** Bookkeeping per stored message besides its strings (object headers, fields). */
const MESSAGE_OVERHEAD = 64;

/**
 * The default session store: bounded — in sessions, messages per session and
 * bytes — in process memory, lost on restart. Use {@link SqliteSessionStore}
 * (or another persistent store) in production.
 *
 * Stored messages are frozen rather than copied (the run output shares them),
 * so nobody can change history behind the store's back.
 */
export class InMemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  private readonly maxSessions: number;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private bytes = 0;

  constructor(options: InMemorySessionStoreOptions = {}) {
    this.maxSessions = positive(options.maxSessions, 10_000, 'maxSessions');
    this.maxMessages = positive(options.maxMessagesPerSession, 1_000, 'maxMessagesPerSession');
    this.maxBytes = positive(options.maxBytes, 64 * 1024 * 1024, 'maxBytes');
  }

  /** What the stored messages weigh now, in bytes (as {@link InMemorySessionStoreOptions.maxBytes} counts them). */
  get size(): number {
    return this.bytes;
  }

  async getSession(sessionId: string): Promise<SessionInfo | null> {
    const entry = this.sessions.get(sessionId);
    return entry ? { ...entry.info, messageCount: entry.messages.length } : null;
  }

  async getMessages(sessionId: string, limit?: number): Promise<Message[]> {
    const entry = this.touch(sessionId);
    if (!entry) return [];
    return entry.messages.slice(limit === undefined ? 0 : Math.max(0, entry.messages.length - limit));
  }

  async append(sessionId: string, userId: string | null, messages: Message[]): Promise<void> {
    let entry = this.touch(sessionId);
    if (!entry) {
      const now = Date.now();
      entry = { info: { sessionId, userId, createdAt: now, updatedAt: now, messageCount: 0 }, messages: [], bytes: 0 };
      this.sessions.set(sessionId, entry);
    } else if (entry.info.userId !== userId) {
      throw new SessionOwnershipError(sessionId);
    }
    for (const message of messages) {
      entry.messages.push(freezeMessage(message));
      const weight = messageBytes(message);
      entry.bytes += weight;
      this.bytes += weight;
    }
    if (entry.messages.length > this.maxMessages) this.dropOldest(entry, entry.messages.length - this.maxMessages);
    entry.info.updatedAt = Date.now();
    this.evict(entry);
  }

  /** Evicts least recently used sessions (never `current`) while over a bound, then trims `current` itself if it alone is over the bytes. */
  private evict(current: Entry): void {
    for (const [sessionId, entry] of this.sessions) {
      if (this.sessions.size <= this.maxSessions && this.bytes <= this.maxBytes) return;
      if (entry === current) continue;
      this.sessions.delete(sessionId);
      this.bytes -= entry.bytes;
    }
    let drop = 0;
    for (let over = this.bytes - this.maxBytes; over > 0 && drop < current.messages.length - 1; drop++) over -= messageBytes(current.messages[drop]);
    if (drop > 0) this.dropOldest(current, drop);
  }

  private dropOldest(entry: Entry, count: number): void {
    for (const message of entry.messages.splice(0, count)) {
      const weight = messageBytes(message);
      entry.bytes -= weight;
      this.bytes -= weight;
    }
  }

  async deleteSession(sessionId: string): Promise<void> {
    const entry = this.sessions.get(sessionId);
    if (!entry) return;
    this.sessions.delete(sessionId);
    this.bytes -= entry.bytes;
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.bytes = 0;
  }

  /** Marks a session most recently used (Map order is the LRU order). */
  private touch(sessionId: string): Entry | undefined {
    const entry = this.sessions.get(sessionId);
    if (entry) {
      this.sessions.delete(sessionId);
      this.sessions.set(sessionId, entry);
    }
    return entry;
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`InMemorySessionStore: ${name} must be a whole number of at least 1, got ${value}.`);
  }
  return value;
}

/** What a message weighs: its strings as UTF-16 (2 bytes a code unit) plus {@link MESSAGE_OVERHEAD}. */
function messageBytes(message: Message): number {
  return MESSAGE_OVERHEAD + 2 * stringLength(message);
}

function stringLength(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + stringLength(item), 0);
  if (value && typeof value === 'object') {
    let sum = 0;
    for (const key in value) sum += stringLength((value as Record<string, unknown>)[key]);
    return sum;
  }
  return 0;
}

/** Freezes a message and the arrays and parts inside it. */
function freezeMessage(message: Message): Message {
  if (Object.isFrozen(message)) return message;
  if (Array.isArray(message.content)) {
    for (const part of message.content) Object.freeze(part);
    Object.freeze(message.content);
  }
  if (message.role === 'assistant' && message.toolCalls) {
    for (const call of message.toolCalls) Object.freeze(call);
    Object.freeze(message.toolCalls);
  }
  return Object.freeze(message);
}
