import type { Message } from '../messages';

/** What a store knows about a session besides its messages. */
export interface SessionInfo {
  sessionId: string;
  /** The user whose session it is; `null` for an anonymous session (created without a user). */
  userId: string | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
  messageCount: number;
}

/**
 * Whose session a call means. Sessions are keyed by user and id: the same
 * `sessionId` names a different session for each user (and one more for
 * anonymous callers), so one user's id neither collides with nor reveals
 * another's.
 */
export interface SessionScope {
  /** The user whose session it is; `null` for the anonymous one. */
  userId: string | null;
}

/**
 * Where conversation history lives. The agent reads a session's recent
 * messages before a run and appends the new turn after a completed one.
 *
 * **Sessions are keyed by user and id** ({@link SessionScope}): the run loop
 * passes the run's user as `scope` to every read and as `userId` to
 * {@link SessionStore.append}, and a store must only ever answer with that
 * user's session. Another user's session with the same id is invisible — a
 * foreign id behaves exactly like an unused one (no session, no messages; the
 * first append creates a new, empty session for this user).
 *
 * Compatibility: `scope` is a trailing optional argument, so a store written
 * against the earlier interface (reads by `sessionId` alone, one owner per id,
 * `append` throwing {@link SessionOwnershipError} for another user) still
 * type-checks and works; the run loop then still refuses a foreign session
 * with `session_forbidden`. A call without `scope` (admin code, tests written
 * before scopes) matches the id across users: see each method.
 */
export interface SessionStore {
  /**
   * The session's info, or `null` if it does not exist. With `scope`: only
   * `scope.userId`'s session. Without: the most recently updated session with
   * this id, whoever's it is.
   */
  getSession(sessionId: string, scope?: SessionScope): Promise<SessionInfo | null>;
  /**
   * The session's last `limit` messages (all when `limit` is undefined),
   * oldest first; `[]` when it does not exist. `scope` as in
   * {@link SessionStore.getSession}.
   */
  getMessages(sessionId: string, limit?: number, scope?: SessionScope): Promise<Message[]>;
  /**
   * Appends messages to `userId`'s session `sessionId` (`null`: the anonymous
   * one), creating it if it does not exist, atomically (two concurrent first
   * runs end up in one session). A store keyed by user never refuses.
   */
  append(sessionId: string, userId: string | null, messages: Message[]): Promise<void>;
  /**
   * Deletes a session and its messages. With `scope`: only that user's
   * session. Without: every user's session with this id.
   */
  deleteSession(sessionId: string, scope?: SessionScope): Promise<void>;
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
