import type { RunOutput } from './run-output';

/**
 * Machine-readable codes of the failures a run can end with.
 *
 * - `model_auth`: the provider refused the credentials (401/403).
 * - `model_rate_limit`: the provider kept answering 429 after the retries.
 * - `model_unavailable`: the provider answered 5xx after the retries.
 * - `model_timeout`: the provider did not answer within the model's `timeout`.
 * - `model_connection`: the provider could not be reached.
 * - `model_bad_request`: the provider rejected the request (400/404/422).
 * - `model_stream_error`: the provider's stream broke or carried an error.
 * - `model_bad_response`: the provider's answer could not be understood (e.g. malformed tool-call JSON).
 * - `max_steps_exceeded`: the model kept calling tools past `maxSteps`.
 * - `output_validation`: the reply did not match `outputSchema`.
 * - `unsupported_media`: an input (image, audio, video) the model cannot take.
 * - `file_read`: a file could not be read (unknown type, too large, corrupt).
 * - `invalid_input`: the run's input or options are malformed.
 * - `session_forbidden`: the session belongs to another user.
 * - `session_store`: the session store failed.
 * - `cancelled`: the run's `signal` was aborted.
 * - `shutting_down`: the host (e.g. the Nest app) refused or cancelled the run because it is shutting down.
 * - `internal`: a bug; please report it.
 */
export type AgentErrorCode =
  | 'model_auth'
  | 'model_rate_limit'
  | 'model_unavailable'
  | 'model_timeout'
  | 'model_connection'
  | 'model_bad_request'
  | 'model_stream_error'
  | 'model_bad_response'
  | 'max_steps_exceeded'
  | 'output_validation'
  | 'unsupported_media'
  | 'file_read'
  | 'invalid_input'
  | 'session_forbidden'
  | 'session_store'
  | 'cancelled'
  | 'shutting_down'
  | 'internal';

/**
 * A failure with a machine-readable {@link AgentErrorCode}. Models, session
 * stores and the run loop throw it; the run loop turns it into a `RunError`.
 */
export class AgentError extends Error {
  override readonly name: string = 'AgentError';

  constructor(
    /** What kind of failure this is. */
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }

  /** The provider's HTTP status, when the failure came from an HTTP answer. */
  readonly status?: number;
}

/**
 * Thrown by a model when the provider fails. Carries the provider's HTTP status
 * when there was one.
 */
export class ModelError extends AgentError {
  override readonly name = 'ModelError';
}

/**
 * Thrown by a session store when a run's user does not own the session.
 */
export class SessionOwnershipError extends AgentError {
  override readonly name = 'SessionOwnershipError';

  constructor(sessionId: string) {
    super(
      'session_forbidden',
      `Session "${sessionId}" belongs to another user. Start a new session (omit sessionId) or run as the user who created it.`,
    );
  }
}

/**
 * How `agent.run()` rejects when a run does not complete: it carries the
 * failure's {@link AgentErrorCode} and the partial {@link RunOutput} (status
 * `'error'` or `'cancelled'`, the content produced so far, metrics, messages).
 */
export class AgentRunError extends AgentError {
  override readonly name = 'AgentRunError';

  constructor(
    code: AgentErrorCode,
    message: string,
    /** The run's output up to the failure. */
    readonly output: RunOutput,
    options?: { cause?: unknown; status?: number },
  ) {
    super(code, message, options);
  }
}

/** Normalises anything thrown into an {@link AgentError}. */
export function toAgentError(error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AgentError('internal', message, { cause: error });
}
