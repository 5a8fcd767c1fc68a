import type { Message } from '../messages';

/** What a store knows about a session besides its messages. */
export interface SessionInfo {
  sessionId: string;
  /** The user who created the session; `null` for a session created without a user. */
  userId: string | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
  messageCount: number;
}

/**
 * Where conversation history lives. The agent reads a session's recent
 * messages before a run and appends the new turn after a completed one.
 *
 * A session belongs to the user that created it: `append` must refuse
 * (throw {@link SessionOwnershipError}) to add to another user's session,
 * atomically with creating it, so two concurrent first runs cannot both own it.
 */
export interface SessionStore {
  /** The session's owner and counts, or `null` if it does not exist. */
  getSession(sessionId: string): Promise<SessionInfo | null>;
  /** The session's last `limit` messages (all when `limit` is undefined), oldest first. */
  getMessages(sessionId: string, limit?: number): Promise<Message[]>;
  /** Appends messages, creating the session for `userId` if it does not exist. */
  append(sessionId: string, userId: string | null, messages: Message[]): Promise<void>;
  /** Deletes a session and its messages. */
  deleteSession(sessionId: string): Promise<void>;
  /** Releases resources (file handles, connections). */
  close(): Promise<void>;
}

/**
 * Cuts history to at most `limit` messages without separating an assistant
 * tool-call message from its tool results: leading tool results whose call was
 * cut are dropped, and so is a trailing tool call whose results never came.
 */
export function windowHistory(messages: Message[], limit?: number): Message[] {
  let start = limit === undefined ? 0 : Math.max(0, messages.length - limit);
  while (start < messages.length && messages[start].role === 'tool') start++;
  let end = messages.length;
  const last = messages[end - 1];
  if (end > start && last.role === 'assistant' && last.toolCalls?.length) end--;
  return start === 0 && end === messages.length ? messages : messages.slice(start, end);
}
