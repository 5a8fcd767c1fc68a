import type { AgentErrorCode } from './error-codes';
import type { RunOutput } from './run-output';

export type { AgentErrorCode } from './error-codes';

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
 * Another user's session, from a {@link SessionStore} written before
 * sessions were keyed by user (stores that honour {@link SessionScope} never
 * answer with one): the run loop throws it before the model is called.
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
  return new AgentError('internal', errorMessage(error), { cause: error });
}

/** The message of anything thrown: an error's `message`, anything else as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
