import { trimOldest } from '../bounded';
import { SessionOwnershipError } from '../errors';
import type { Message } from '../messages';
import type { SessionInfo, SessionStore } from './session-store';

/** Options of {@link InMemorySessionStore}. */
export interface InMemorySessionStoreOptions {
  /** Sessions kept; beyond it the least recently used are evicted (1% of the bound at a time). Default 10,000. */
  maxSessions?: number;
  /** Messages kept per session; the oldest are dropped beyond it. Default 1,000. */
  maxMessagesPerSession?: number;
}

interface Entry {
  info: SessionInfo;
  messages: Message[];
}

/**
 * The default session store: bounded, in process memory, lost on restart.
 * Use {@link SqliteSessionStore} (or another persistent store) in production.
 *
 * Stored messages are frozen rather than copied (the run output shares them),
 * so nobody can change history behind the store's back.
 */
export class InMemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  private readonly maxSessions: number;
  private readonly maxMessages: number;

  constructor(options: InMemorySessionStoreOptions = {}) {
    this.maxSessions = positive(options.maxSessions, 10_000, 'maxSessions');
    this.maxMessages = positive(options.maxMessagesPerSession, 1_000, 'maxMessagesPerSession');
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
      entry = { info: { sessionId, userId, createdAt: now, updatedAt: now, messageCount: 0 }, messages: [] };
      this.sessions.set(sessionId, entry);
      trimOldest(this.sessions, this.maxSessions);
    } else if (entry.info.userId !== userId) {
      throw new SessionOwnershipError(sessionId);
    }
    for (const message of messages) entry.messages.push(freezeMessage(message));
    if (entry.messages.length > this.maxMessages) entry.messages.splice(0, entry.messages.length - this.maxMessages);
    entry.info.updatedAt = Date.now();
  }

  async deleteSession(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  async close(): Promise<void> {
    this.sessions.clear();
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
