import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Agent, AgentError, AgentRunError } from '../agent';
import type { RunEvent, RunOptions, RunOutput } from '../agent';
import { linkedController } from '../agent/abort';
import { RUN_ONCE, settleRun } from '../agent/agent';
import { isTerminalEvent } from '../agent/run-events';
import { AgentRegistry } from './agent.registry';
import { RunTracker } from './run.tracker';
import { LiveRun, RunRecorder } from './runs/run-recorder';

/** Options of {@link AgentRunner.run} and {@link AgentRunner.stream}: the run's options plus where it came from. */
export interface RunnerOptions extends RunOptions {
  /** The agent: a name of the module's agents, one of its `Agent` instances, or the default one. */
  agent?: string | Agent;
  /** The entry point, recorded as `metadata.trigger`: `'POST /run'`, `'cron(0 9 * * *)'`, `'telegram(42)'`… */
  trigger: string;
}

/** What {@link AgentRunner.start} answers: the background run's id, to follow with `GET /runs/:id`. */
export interface StartedRun {
  runId: string;
  sessionId: string;
}

/** A run the runner admitted: the agent, its options with the combined signal, and its controller. */
interface Admitted {
  agent: Agent;
  options: RunOptions;
  controller: AbortController;
  callerSignal?: AbortSignal;
  /** Detaches the run from the caller's signal once it is over. */
  release: () => void;
  /** Its record in the run store. */
  live: LiveRun;
}

/**
 * The one Nest-side door into the run loop: `/run`, webhooks, cron, events and
 * chat all run the agent through it. It picks the agent, refuses new runs once
 * shutdown has begun (`AgentError('shutting_down')`, HTTP 503), gives the run
 * a signal that the caller's signal and shutdown both abort, records
 * `metadata.trigger`, and tracks the run so shutdown drains it (up to
 * `shutdownTimeout`) and then cancels it. A run cancelled by shutdown rejects
 * with `AgentRunError('shutting_down')` rather than `cancelled`. Every run is
 * recorded in the module's run store (`RunRecorder`) with its events, and one
 * cut by shutdown is recorded `interrupted`.
 */
@Injectable()
export class AgentRunner {
  constructor(
    private readonly agents: AgentRegistry,
    private readonly tracker: RunTracker,
    private readonly recorder: RunRecorder,
  ) {}

  /** Whether shutdown has begun (new runs are refused). */
  get isClosing(): boolean {
    return this.tracker.isClosing;
  }

  /** Runs an agent and resolves to its output; rejects like `Agent.run` (see the class notes for shutdown). */
  run(input: string, options: RunnerOptions): Promise<RunOutput> {
    const admitted = this.admit(options, false);
    const done = this.settle(admitted, input).then(
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
   * Starts a background run and returns at once: the run goes on whether or
   * not anyone follows it (`GET /runs/:id/events`), until it ends, is
   * cancelled (`POST /runs/:id/cancel`) or the app shuts down. The caller's
   * `signal`, if any, is ignored.
   */
  start(input: string, options: RunnerOptions): StartedRun {
    const runId = options.runId ?? randomUUID();
    const sessionId = options.sessionId ?? randomUUID();
    const events = this.stream(input, { ...options, runId, sessionId, signal: undefined }, true);
    void (async () => {
      // The recorder keeps the events; nothing else here needs them.
      for await (const _event of events);
    })();
    return { runId, sessionId };
  }

  /** The run-mode loop of the agent (only its terminal event), recorded, settled as `Agent.run` settles it. */
  private async settle(admitted: Admitted, input: string): Promise<RunOutput> {
    const { agent, options, live } = admitted;
    for await (const event of agent[RUN_ONCE](input, options)) {
      live.push(event);
      if (isTerminalEvent(event.event)) live.finish(event, this.endStatus(event, admitted.callerSignal));
      const output = settleRun(event);
      if (output) return output;
    }
    /* istanbul ignore next -- the loop always ends with a terminal event */
    throw new AgentError('internal', 'The run ended without a result.');
  }

  /**
   * Runs an agent and yields its events, like `Agent.stream` (it ends with
   * `RunCompleted`, `RunError` or `RunCancelled`). Admission happens at the
   * call, so a refusal throws here, not at the first `next()`.
   */
  stream(input: string, options: RunnerOptions, background = false): AsyncGenerator<RunEvent, void, undefined> {
    const admitted = this.admit(options, background);
    const { live } = admitted;
    let finish!: () => void;
    let started = false;
    this.tracker.track(admitted.controller, new Promise<void>((resolve) => (finish = resolve)).then(admitted.release));
    // A stream its caller never iterates must not hold the drain: cancelling it at shutdown ends it.
    admitted.controller.signal.addEventListener(
      'abort',
      () => {
        if (started) return;
        live.abandon(this.tracker.isClosing ? 'interrupted' : 'cancelled', { code: 'cancelled', message: 'The run was cancelled before it started.' });
        finish();
      },
      { once: true },
    );
    const events = admitted.agent.stream(input, admitted.options) as AsyncGenerator<RunEvent, void, undefined>;
    // Delegates to the agent's generator, recording and noting its end: a plain object, not a wrapping
    // async generator, so each event costs no extra generator step (streams relay hundreds of them).
    const ended = (result: IteratorResult<RunEvent, void>) => {
      if (result.done) {
        live.abandon('cancelled', { code: 'cancelled', message: 'The stream was left before the run ended.' });
        finish();
        return result;
      }
      live.push(result.value);
      if (isTerminalEvent(result.value.event)) live.finish(result.value, this.endStatus(result.value, admitted.callerSignal));
      return result;
    };
    const failed = (error: unknown): never => {
      live.abandon('error', { code: 'internal', message: 'The run failed without a result.' });
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

  /** The admitted run's record, live in this process or from the run store; `null` if unknown. */
  record(runId: string) {
    return this.recorder.get(runId);
  }

  private admit(options: RunnerOptions, background: boolean): Admitted {
    if (this.tracker.isClosing) {
      throw new AgentError('shutting_down', `The ${options.trigger} run was refused: the server is shutting down; retry against another instance.`);
    }
    const { agent: chosen, trigger, signal: callerSignal, ...rest } = options;
    const agent = chosen instanceof Agent ? this.agents.resolve(chosen) : this.agents.get(chosen);
    // The caller's signal aborts the run's controller (cheaper per run than AbortSignal.any, and the
    // listener is removed when the run ends, so a long-lived caller signal collects nothing).
    const { controller, unlink: release } = linkedController(callerSignal);
    // The ids are chosen here, so the run is recorded (and can be found) before its first event.
    const runId = rest.runId ?? randomUUID();
    const sessionId = rest.sessionId ?? randomUUID();
    const live = this.recorder.begin(
      {
        runId,
        agent: agent.name,
        userId: rest.userId ?? null,
        sessionId,
        trigger,
        status: background ? 'queued' : 'running',
        background,
        createdAt: Date.now(),
        endedAt: null,
        output: null,
        error: null,
        lastSeq: 0,
      },
      controller,
      // A run whose id the caller chose (an idempotency key's) can be asked for before it ends.
      background || rest.runId !== undefined,
    );
    return {
      agent,
      controller,
      callerSignal,
      release,
      live,
      options: { ...rest, runId, sessionId, signal: controller.signal, metadata: { ...rest.metadata, trigger } },
    };
  }

  /** A run cut by shutdown (not by its caller) is recorded `interrupted`. */
  private endStatus(event: RunEvent, callerSignal: AbortSignal | undefined): 'interrupted' | undefined {
    return event.event === 'RunCancelled' && this.tracker.isClosing && !callerSignal?.aborted ? 'interrupted' : undefined;
  }

  /** A run cancelled by shutdown (not by its caller) is reported as `shutting_down`. */
  private translate(error: unknown, callerSignal: AbortSignal | undefined): unknown {
    if (error instanceof AgentRunError && error.code === 'cancelled' && this.tracker.isClosing && !callerSignal?.aborted) {
      return new AgentRunError('shutting_down', 'The server shut down before the run finished; retry against another instance.', error.output);
    }
    return error;
  }
}
