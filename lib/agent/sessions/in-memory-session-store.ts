import { wholeAtLeastOne } from '../bounded';
import type { Message } from '../messages';
import type { SessionInfo, SessionScope, SessionStore } from './session-store';

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
  /** The session's key in the store: its user and id (see {@link keyOf}). */
  key: string;
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
 * Sessions are keyed by user and id (see {@link SessionStore}): each user, and
 * anonymous callers, has their own session under any id.
 *
 * Stored messages are frozen rather than copied (the run output shares them),
 * so nobody can change history behind the store's back.
 */
export class InMemorySessionStore implements SessionStore {
  /** By {@link keyOf}; Map order is the least-recently-used order. */
  private readonly sessions = new Map<string, Entry>();
  /** The sessions of every user under one id, for calls without a scope. */
  private readonly byId = new Map<string, Set<Entry>>();
  private readonly maxSessions: number;
  private readonly maxMessages: number;
  private readonly maxBytes: number;
  private bytes = 0;

  constructor(options: InMemorySessionStoreOptions = {}) {
    this.maxSessions = wholeAtLeastOne('InMemorySessionStore', 'maxSessions', options.maxSessions, 10_000);
    this.maxMessages = wholeAtLeastOne('InMemorySessionStore', 'maxMessagesPerSession', options.maxMessagesPerSession, 1_000);
    this.maxBytes = wholeAtLeastOne('InMemorySessionStore', 'maxBytes', options.maxBytes, 64 * 1024 * 1024);
  }

  /** What the stored messages weigh now, in bytes (as {@link InMemorySessionStoreOptions.maxBytes} counts them). */
  get size(): number {
    return this.bytes;
  }

  async getSession(sessionId: string, scope?: SessionScope): Promise<SessionInfo | null> {
    const entry = this.find(sessionId, scope);
    return entry ? { ...entry.info, messageCount: entry.messages.length } : null;
  }

  async getMessages(sessionId: string, limit?: number, scope?: SessionScope): Promise<Message[]> {
    const entry = this.find(sessionId, scope);
    if (!entry) return [];
    this.touch(entry);
    return entry.messages.slice(limit === undefined ? 0 : Math.max(0, entry.messages.length - limit));
  }

  async append(sessionId: string, userId: string | null, messages: Message[]): Promise<void> {
    const key = keyOf(userId, sessionId);
    let entry = this.sessions.get(key);
    if (entry) {
      this.touch(entry);
    } else {
      const now = Date.now();
      entry = { key, info: { sessionId, userId, createdAt: now, updatedAt: now, messageCount: 0 }, messages: [], bytes: 0 };
      this.sessions.set(key, entry);
      const sameId = this.byId.get(sessionId);
      if (sameId) sameId.add(entry);
      else this.byId.set(sessionId, new Set([entry]));
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
    // Over the count, 1% of it goes at once: finding the oldest walks the Map's deleted slots.
    const keep = this.sessions.size > this.maxSessions ? this.maxSessions - Math.floor(this.maxSessions / 100) : this.maxSessions;
    for (const entry of this.sessions.values()) {
      if (this.sessions.size <= keep && this.bytes <= this.maxBytes) break;
      if (entry !== current) this.remove(entry);
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

  async deleteSession(sessionId: string, scope?: SessionScope): Promise<void> {
    if (scope) {
      const entry = this.sessions.get(keyOf(scope.userId, sessionId));
      if (entry) this.remove(entry);
      return;
    }
    for (const entry of [...(this.byId.get(sessionId) ?? [])]) this.remove(entry);
  }

  async close(): Promise<void> {
    this.sessions.clear();
    this.byId.clear();
    this.bytes = 0;
  }

  /** The scope's session, or (without a scope) the most recently updated one with this id. */
  private find(sessionId: string, scope: SessionScope | undefined): Entry | undefined {
    if (scope) return this.sessions.get(keyOf(scope.userId, sessionId));
    let latest: Entry | undefined;
    for (const entry of this.byId.get(sessionId) ?? []) if (!latest || entry.info.updatedAt >= latest.info.updatedAt) latest = entry;
    return latest;
  }

  private remove(entry: Entry): void {
    this.sessions.delete(entry.key);
    this.bytes -= entry.bytes;
    const sameId = this.byId.get(entry.info.sessionId);
    sameId?.delete(entry);
    if (sameId?.size === 0) this.byId.delete(entry.info.sessionId);
  }

  /** Marks a session most recently used (Map order is the LRU order). */
  private touch(entry: Entry): void {
    this.sessions.delete(entry.key);
    this.sessions.set(entry.key, entry);
  }
}

/**
 * A session's key: user and id, unambiguous whatever characters they hold
 * (the user id is length-prefixed; anonymous sessions start with `-`).
 */
function keyOf(userId: string | null, sessionId: string): string {
  return userId === null ? `-:${sessionId}` : `${userId.length}:${userId}:${sessionId}`;
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
