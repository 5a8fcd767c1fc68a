import type { z } from 'zod';
import type { RunMedia } from './media';
import type { Message } from './messages';
import type { RunOutput } from './run-output';
import type { SessionStore } from './sessions/session-store';

/** Options of one run, shared by `Agent.run` and `Agent.stream`. */
export interface RunOptions<S extends z.ZodType = z.ZodType> extends RunMedia {
  /** Continue this session; a new one is created when absent. */
  sessionId?: string;
  /** The user the run is for; a session belongs to the user who created it. */
  userId?: string;
  /** Use this run id instead of a generated one. */
  runId?: string;
  /** History to send instead of the stored one (the new turn is still stored under `sessionId`). */
  messages?: Message[];
  /** Stored messages sent with this run, instead of the agent's `historyLimit`. */
  historyLimit?: number;
  /** Read and store this run's history here instead of the agent's `sessionStore`. */
  sessionStore?: SessionStore;
  /** A zod schema: the reply must be JSON matching it, and `content` is the parsed object. */
  outputSchema?: S;
  /** Aborting it cancels the run: the model request and pending tools are aborted. */
  signal?: AbortSignal;
  /**
   * Most milliseconds the whole run may take (model calls and tools); past it
   * the run is aborted and ends with `model_timeout`. Default: no limit.
   */
  timeout?: number;
  /** Free-form data passed to hooks and tools and returned in the output. */
  metadata?: Record<string, unknown>;
}

/** What `beforeRequest` hooks receive. */
export interface RunContext {
  runId: string;
  sessionId: string;
  userId: string | null;
  agentId: string;
  agentName: string;
  input: string;
  metadata: Record<string, unknown>;
}

/** A `beforeRequest` hook. */
export type BeforeRequestHook = (context: RunContext) => void | Promise<void>;
/** An `afterResponse` hook; it sees every finished run, whatever its status. */
export type AfterResponseHook = (output: RunOutput) => void | Promise<void>;
