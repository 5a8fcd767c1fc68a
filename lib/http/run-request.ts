import { DefinableHttpError } from './http-errors';

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
  /** A named agent of the module. */
  agent?: string;
  /** Free-form data handed to hooks and tools. */
  metadata?: Record<string, unknown>;
}

const OPTIONAL_STRINGS = ['session_id', 'user_id', 'agent'] as const;

/** Validates a `/run` body; throws a 400 that names the field and what it must be. */
export function parseRunRequest(body: unknown): RunRequestBody {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new DefinableHttpError(400, 'invalid_request', 'The body must be a JSON object like {"input": "Hello"} (Content-Type: application/json).');
  }
  const value = body as Record<string, unknown>;
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
  if (value.stream !== undefined && value.stream !== null && typeof value.stream !== 'boolean') {
    throw new DefinableHttpError(400, 'invalid_request', `"stream" must be true or false, got ${kind(value.stream)}.`);
  }
  if (value.metadata !== undefined && value.metadata !== null && (typeof value.metadata !== 'object' || Array.isArray(value.metadata))) {
    throw new DefinableHttpError(400, 'invalid_request', `"metadata" must be an object, got ${kind(value.metadata)}.`);
  }
  return {
    input: value.input,
    session_id: (value.session_id as string | null) ?? undefined,
    user_id: (value.user_id as string | null) ?? undefined,
    stream: (value.stream as boolean | null) ?? undefined,
    agent: (value.agent as string | null) ?? undefined,
    metadata: (value.metadata as Record<string, unknown> | null) ?? undefined,
  };
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
