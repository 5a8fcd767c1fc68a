import { Injectable } from '@nestjs/common';
import { Agent, AgentError, AgentRunError } from '../agent';
import type { RunEvent, RunOptions, RunOutput } from '../agent';
import { linkedController } from '../agent/abort';
import { AgentRegistry } from './agent.registry';
import { RunTracker } from './run.tracker';

/** Options of {@link AgentRunner.run} and {@link AgentRunner.stream}: the run's options plus where it came from. */
export interface RunnerOptions extends RunOptions {
  /** The agent: a name of the module's agents, one of its `Agent` instances, or the default one. */
  agent?: string | Agent;
  /** The entry point, recorded as `metadata.trigger`: `'POST /run'`, `'cron(0 9 * * *)'`, `'telegram(42)'`… */
  trigger: string;
}

/** A run the runner admitted: the agent, its options with the combined signal, and its controller. */
interface Admitted {
  agent: Agent;
  options: RunOptions;
  controller: AbortController;
  callerSignal?: AbortSignal;
  /** Detaches the run from the caller's signal once it is over. */
  release: () => void;
}

/**
 * The one Nest-side door into the run loop: `/run`, webhooks, cron, events and
 * chat all run the agent through it. It picks the agent, refuses new runs once
 * shutdown has begun (`AgentError('shutting_down')`, HTTP 503), gives the run
 * a signal that the caller's signal and shutdown both abort, records
 * `metadata.trigger`, and tracks the run so shutdown drains it (up to
 * `shutdownTimeout`) and then cancels it. A run cancelled by shutdown rejects
 * with `AgentRunError('shutting_down')` rather than `cancelled`.
 */
@Injectable()
export class AgentRunner {
  constructor(
    private readonly agents: AgentRegistry,
    private readonly tracker: RunTracker,
  ) {}

  /** Whether shutdown has begun (new runs are refused). */
  get isClosing(): boolean {
    return this.tracker.isClosing;
  }

  /** Runs an agent and resolves to its output; rejects like `Agent.run` (see the class notes for shutdown). */
  run(input: string, options: RunnerOptions): Promise<RunOutput> {
    const admitted = this.admit(options);
    const done = admitted.agent.run(input, admitted.options).then(
      (output) => {
        admitted.release();
        return output;
      },
      (error: unknown) => {
        admitted.release();
        throw this.translate(error, admitted.callerSignal);
      },
    );
    return this.tracker.track(admitted.controller, done);
  }

  /**
   * Runs an agent and yields its events, like `Agent.stream` (it ends with
   * `RunCompleted`, `RunError` or `RunCancelled`). Admission happens at the
   * call, so a refusal throws here, not at the first `next()`.
   */
  stream(input: string, options: RunnerOptions): AsyncGenerator<RunEvent, void, undefined> {
    const admitted = this.admit(options);
    let finish!: () => void;
    let started = false;
    this.tracker.track(admitted.controller, new Promise<void>((resolve) => (finish = resolve)).then(admitted.release));
    // A stream its caller never iterates must not hold the drain: cancelling it at shutdown ends it.
    admitted.controller.signal.addEventListener('abort', () => started || finish(), { once: true });
    const events = admitted.agent.stream(input, admitted.options) as AsyncGenerator<RunEvent, void, undefined>;
    // Delegates to the agent's generator, noting its end: a plain object, not a wrapping async
    // generator, so each event costs no extra generator step (streams relay hundreds of them).
    const ended = (result: IteratorResult<RunEvent, void>) => {
      if (result.done) finish();
      return result;
    };
    const failed = (error: unknown): never => {
      finish();
      throw error;
    };
    const tracked: AsyncGenerator<RunEvent, void, undefined> = {
      next: () => {
        started = true;
        return events.next().then(ended, failed);
      },
      return: (value) => events.return(value).then(ended, failed),
      throw: (error) => events.throw(error).then(ended, failed),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return tracked;
  }

  private admit(options: RunnerOptions): Admitted {
    if (this.tracker.isClosing) {
      throw new AgentError('shutting_down', `The ${options.trigger} run was refused: the server is shutting down; retry against another instance.`);
    }
    const { agent: chosen, trigger, signal: callerSignal, ...rest } = options;
    const agent = chosen instanceof Agent ? this.agents.resolve(chosen) : this.agents.get(chosen);
    // The caller's signal aborts the run's controller (cheaper per run than AbortSignal.any, and the
    // listener is removed when the run ends, so a long-lived caller signal collects nothing).
    const { controller, unlink: release } = linkedController(callerSignal);
    return { agent, controller, callerSignal, release, options: { ...rest, signal: controller.signal, metadata: { ...rest.metadata, trigger } } };
  }

  /** A run cancelled by shutdown (not by its caller) is reported as `shutting_down`. */
  private translate(error: unknown, callerSignal: AbortSignal | undefined): unknown {
    if (error instanceof AgentRunError && error.code === 'cancelled' && this.tracker.isClosing && !callerSignal?.aborted) {
      return new AgentRunError('shutting_down', 'The server shut down before the run finished; retry against another instance.', error.output);
    }
    return error;
  }
}
