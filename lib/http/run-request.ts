import type { Agent } from '../agent';
import { SessionOwnershipError } from '../agent/errors';
import type { Message } from '../agent/messages';
import type { AuthContext } from '../auth';
import type { AgentRegistry } from '../module/agent.registry';
import { assertContentType, DefinableHttpError, JSON_CONTENT_TYPE_HINT } from '../module/http-errors';

/**
 * The user a run from an HTTP caller is for — the rule of every route that
 * runs an agent: an authenticated caller's runs are its own (`requested`, when
 * given, must be its id) unless it is trusted, which may name any user;
 * without auth, the requested user. `field` names the request field in the 403.
 */
export function callerUserId(principal: AuthContext | undefined, requested: string | undefined, field = '"user_id"'): string | undefined {
  if (!principal) return requested;
  if (requested !== undefined && requested !== principal.userId && !principal.trusted) {
    throw new DefinableHttpError(403, 'forbidden', `${field} must be your own (${principal.userId}) or left out; only trusted services may act for other users.`);
  }
  return requested ?? principal.userId;
}

/** The agent a request names (the default one when it names none); 400 `unknown_agent`, listing the agents, otherwise. */
export function requestedAgent(agents: AgentRegistry, name: string | undefined): Agent {
  const agent = agents.find(name);
  if (!agent) throw new DefinableHttpError(400, 'unknown_agent', `No agent named "${name}"; use one of: ${agents.names().join(', ')}.`);
  return agent;
}

/**
 * Makes the stored session match a client that keeps the conversation itself
 * (the AI SDK's `useChat`, OpenAI clients) where the client's copy must win:
 * seeds a session the server does not have (or has empty) with the client's
 * earlier messages, and replaces it when the client rewrote the chat
 * (`rewritten`). A session the server has stays the history otherwise: it
 * holds the exact tool calls and results the client may not have kept.
 * Another user's session is never touched ({@link SessionOwnershipError}).
 */
export async function syncClientHistory(agent: Agent, sessionId: string, userId: string | null, history: () => Message[], rewritten: boolean): Promise<void> {
  const store = agent.sessionStore;
  const scope = { userId };
  const session = await store.getSession(sessionId, scope);
  // A store from before user-scoped sessions may answer with another user's session: never touch it.
  if (session && session.userId !== userId) throw new SessionOwnershipError(sessionId);
  if (session && session.messageCount > 0 && !rewritten) return;
  const messages = history();
  if (session) await store.deleteSession(sessionId, scope);
  if (messages.length) await store.append(sessionId, userId, messages);
}

/** The body of `POST /run`. */
export interface RunRequestBody {
  /** The message to the agent. */
  input: string;
  /** Continue this session. */
  session_id?: string;
  /** Run for this user (see the auth rules in the README). */
  user_id?: string;
  /** Answer with Server-Sent Events. */
  stream?: boolean;
  /** Start the run and answer 202 `{ run_id }` at once; follow it with `GET /runs/:id/events`. */
  background?: boolean;
  /** A named agent of the module. */
  agent?: string;
  /** Free-form data handed to hooks and tools. */
  metadata?: Record<string, unknown>;
}

const OPTIONAL_STRINGS = ['session_id', 'user_id', 'agent'] as const;
/** Every field `/run` takes; anything else is refused, so a typo never goes unnoticed. */
const FIELDS: readonly string[] = ['input', 'session_id', 'user_id', 'stream', 'background', 'agent', 'metadata'];
/** Names other agent APIs use for a field of `/run`. */
const ALIASES: Record<string, string> = { prompt: 'input', message: 'input', query: 'input', session: 'session_id', user: 'user_id' };
const snakeCase = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();

/**
 * Validates a `/run` request: a `contentType` other than `application/json`
 * gets 415; a bad body gets a 400 that names the field and what it must be.
 * Unknown fields are refused (a camelCase one with a "did you mean"), so
 * free-form data goes in `metadata`.
 */
export function parseRunRequest(body: unknown, contentType?: unknown): RunRequestBody {
  assertJsonContentType(contentType);
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new DefinableHttpError(400, 'invalid_request', 'The body must be a JSON object like {"input": "Hello"} (Content-Type: application/json).');
  }
  const value = body as Record<string, unknown>;
  for (const field of Object.keys(value)) {
    if (FIELDS.includes(field)) continue;
    const shown = JSON.stringify(field.length > 64 ? `${field.slice(0, 64)}…` : field);
    const meant = Object.hasOwn(ALIASES, field) ? ALIASES[field] : snakeCase(field);
    if (FIELDS.includes(meant)) {
      throw new DefinableHttpError(400, 'invalid_request', `Unknown field ${shown}: did you mean "${meant}"?${meant === snakeCase(field) ? ' The JSON API is snake_case.' : ''}`);
    }
    throw new DefinableHttpError(
      400,
      'invalid_request',
      `Unknown field ${shown}: /run takes ${FIELDS.map((name) => `"${name}"`).join(', ')}; put free-form data in "metadata".`,
    );
  }
  if (typeof value.input !== 'string') {
    throw new DefinableHttpError(400, 'invalid_request', `"input" is required and must be a string${value.input === undefined ? '' : `, got ${kind(value.input)}`}.`);
  }
  if (value.input.trim() === '') throw new DefinableHttpError(400, 'invalid_request', '"input" must not be empty.');
  for (const field of OPTIONAL_STRINGS) {
    const field_value = value[field];
    if (field_value !== undefined && field_value !== null && (typeof field_value !== 'string' || field_value === '')) {
      throw new DefinableHttpError(400, 'invalid_request', `"${field}" must be a non-empty string, got ${kind(field_value)}.`);
    }
  }
  for (const field of ['stream', 'background'] as const) {
    if (value[field] !== undefined && value[field] !== null && typeof value[field] !== 'boolean') {
      throw new DefinableHttpError(400, 'invalid_request', `"${field}" must be true or false, got ${kind(value[field])}.`);
    }
  }
  if (value.metadata !== undefined && value.metadata !== null && (typeof value.metadata !== 'object' || Array.isArray(value.metadata))) {
    throw new DefinableHttpError(400, 'invalid_request', `"metadata" must be an object, got ${kind(value.metadata)}.`);
  }
  return {
    input: value.input,
    session_id: (value.session_id as string | null) ?? undefined,
    user_id: (value.user_id as string | null) ?? undefined,
    stream: (value.stream as boolean | null) ?? undefined,
    background: (value.background as boolean | null) ?? undefined,
    agent: (value.agent as string | null) ?? undefined,
    metadata: (value.metadata as Record<string, unknown> | null) ?? undefined,
  };
}

/** `/run` reads JSON only (a missing Content-Type falls through to the body check, whose 400 says to send JSON). */
function assertJsonContentType(contentType: unknown): void {
  assertContentType(contentType, ['application/json'], 'POST /run', JSON_CONTENT_TYPE_HINT);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
