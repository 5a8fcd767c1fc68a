import { Injectable, Logger } from '@nestjs/common';
import type { RunOptions, RunOutput } from '../agent';
import { AgentError } from '../agent';
import type { AuthContext } from '../auth';
import { AgentRunner } from '../module/agent.runner';
import { DefinableHttpError } from '../module/http-errors';
import { RunTracker } from '../module/run.tracker';
import type { TriggerEvent, TriggerResult } from './trigger-event';

/** A handler returned something that is neither a string, `{ input, ... }` nor null. */
export class TriggerResultError extends AgentError {
  override readonly name = 'TriggerResultError';
}

/**
 * Turns what a trigger handler returns into an agent run through the
 * {@link AgentRunner} (so shutdown lets it finish, then cancels it).
 */
@Injectable()
export class TriggerExecutor {
  private readonly logger = new Logger('Definable:Triggers');

  constructor(
    private readonly runner: AgentRunner,
    private readonly runs: RunTracker,
  ) {}

  /**
   * Runs the agent for a handler's result; resolves `null` when nothing ran.
   * Rejects with `AgentRunError` when the run fails, `TriggerResultError` for a
   * result of the wrong shape. With the webhook caller's `principal`, the run
   * is that user's: a handler's other `userId` is refused (403) unless the
   * principal is trusted, as on `POST /run`.
   */
  async execute(result: TriggerResult, event: TriggerEvent, agentName?: string, principal?: AuthContext, runId?: string): Promise<RunOutput | null> {
    if (result === null || result === undefined) return null;
    let input: string;
    let options: RunOptions & { agent?: string };
    if (typeof result === 'string') {
      input = result;
      options = {};
    } else if (typeof result === 'object' && typeof (result as { input?: unknown }).input === 'string') {
      ({ input, ...options } = result as RunOptions & { input: string; agent?: string });
    } else {
      throw new TriggerResultError(
        'invalid_input',
        `The ${event.source} handler returned ${describe(result)}; return a string, { input, ...runOptions } or null.`,
      );
    }
    const { agent: chosen, ...runOptions } = options;
    if (principal) {
      // The rule of POST /run: an authenticated caller's runs are its own; only trusted principals act for others.
      if (runOptions.userId !== undefined && runOptions.userId !== principal.userId && !principal.trusted) {
        throw new DefinableHttpError(
          403,
          'forbidden',
          `The ${event.source} handler returned userId "${runOptions.userId}" for a caller authenticated as "${principal.userId}"; only trusted principals may run for other users. Leave userId out (the caller's is used).`,
        );
      }
      runOptions.userId ??= principal.userId;
      runOptions.metadata = { ...runOptions.metadata, auth: principal.provider };
    }
    return this.runner.run(input, { ...runOptions, ...(runId ? { runId } : {}), agent: chosen ?? agentName, trigger: event.source, traceCarrier: event.headers });
  }

  /**
   * Calls a cron or event handler and runs the agent with its result. Never
   * throws: a failing handler or run is logged with its class and method.
   */
  invoke(label: string, handler: () => unknown, event: TriggerEvent, agentName?: string): Promise<void> {
    return this.runs.trackPending(this.call(label, handler, event, agentName));
  }

  /** {@link invoke} after the current job: `emit()` returns before the handler runs, yet the work is tracked from now. */
  defer(label: string, handler: () => unknown, event: TriggerEvent, agentName?: string): Promise<void> {
    return this.runs.trackPending(Promise.resolve().then(() => this.call(label, handler, event, agentName)));
  }

  private async call(label: string, handler: () => unknown, event: TriggerEvent, agentName?: string): Promise<void> {
    try {
      const output = await this.execute((await handler()) as TriggerResult, event, agentName);
      if (output) this.logger.debug?.(`${label} (${event.source}) ran ${output.runId}`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof AgentError && error.code === 'shutting_down') {
        // An ordinary part of a graceful shutdown, not a failure.
        this.logger.log(`${label} (${event.source}) did not run: ${message}`);
        return;
      }
      if (error instanceof AgentError && error.code === 'quota_exceeded') {
        this.logger.warn(`${label} (${event.source}) did not run, over quota: ${message}`);
        return;
      }
      const code = error instanceof AgentError ? ` [${error.code}]` : '';
      this.logger.error(`${label} (${event.source}) failed${code}: ${message}`);
    }
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object without a string "input"';
  return `a ${typeof value}`;
}
