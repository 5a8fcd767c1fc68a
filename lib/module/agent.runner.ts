import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Agent, AgentError, AgentRunError } from '../agent';
import type { RunEvent, RunOptions, RunOutput } from '../agent';
import { linkedController } from '../agent/abort';
import { RESUME_HOSTED, RUN_HOSTED, settleRun } from '../agent/agent';
import { NEW_SESSION } from '../agent/run/new-session';
import { ApprovalError } from '../agent/approvals/approval-store';
import type { PausedRun } from '../agent/approvals/approval-store';
import { isTerminalEvent } from '../agent/run-events';
import type { RunProbe } from '../agent/run/run-probe';
import { AgentRegistry } from './agent.registry';
import { RunQuotas } from './quotas/run-quotas';
import type { QuotaSubject } from './quotas/run-quotas';
import { RunTracker } from './run.tracker';
import { LiveRun, RunRecorder } from './runs/run-recorder';
import type { RunRecord } from './runs/run-store';
import { DefinableMetrics } from './telemetry/definable-metrics';
import { RunTrace, RunTracing } from './telemetry/run-tracing';

/** Options of {@link AgentRunner.run} and {@link AgentRunner.stream}: the run's options plus where it came from. */
export interface RunnerOptions extends RunOptions {
  /** The agent: a name of the module's agents, one of its `Agent` instances, or the default one. */
  agent?: string | Agent;
  /** The entry point, recorded as `metadata.trigger`: `'POST /run'`, `'cron(0 9 * * *)'`, `'telegram(42)'`… */
  trigger: string;
  /**
   * The incoming request's headers, when the run answers one: a W3C
   * `traceparent` there becomes the run span's parent when no span is
   * current (an instrumented HTTP server already made one).
   */
  traceCarrier?: Record<string, unknown>;
}

/** What {@link AgentRunner.start} answers: the background run's id, to follow with `GET /runs/:id`. */
export interface StartedRun {
  runId: string;
  sessionId: string;
}

/** A paused run's continuation, as {@link AgentRunner.continuation} started it. */
export interface Continuation {
  runId: string;
  /** Resolves with the run's record once the continuation has ended (or paused again) and its last write is done. */
  ended: Promise<RunRecord>;
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
  /** Where it came from (metrics label). */
  trigger: string;
  /** Its trace, when an OpenTelemetry SDK records. */
  trace?: RunTrace;
  /** What the host watches in the loop (trace spans, budgets); none when neither is on. */
  probe?: RunProbe;
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
 * cut by shutdown is recorded `interrupted`. With quotas configured it admits
 * a run only within them (`QuotaExceededError`, HTTP 429) and stops one
 * before a model call once a budget is used up; it traces each run
 * (OpenTelemetry) and counts it in the module's metrics when those are on.
 */
@Injectable()
export class AgentRunner {
  constructor(
    private readonly agents: AgentRegistry,
    private readonly tracker: RunTracker,
    private readonly recorder: RunRecorder,
    /** The module's traces (the chat pipeline wraps each message and reply in a span). */
    readonly tracing: RunTracing,
    private readonly metrics: DefinableMetrics,
    @Optional() @Inject(RunQuotas) private readonly quotas?: RunQuotas | null,
  ) {}

  /** The reply a chat user gets when over quota; `undefined` without quotas. */
  get quotaMessage(): string | undefined {
    return this.quotas?.message;
  }

  /** Whether shutdown has begun (new runs are refused). */
  get isClosing(): boolean {
    return this.tracker.isClosing;
  }

  /** Runs an agent and resolves to its output; rejects like `Agent.run` (see the class notes for shutdown and quotas). */
  run(input: string, options: RunnerOptions): Promise<RunOutput> {
    if (this.quotas) return this.withinQuota(options).then(() => this.runAdmitted(input, options));
    return this.runAdmitted(input, options);
  }

  private runAdmitted(input: string, options: RunnerOptions): Promise<RunOutput> {
    const admitted = this.admit(options, false, input);
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
   * `signal`, if any, is ignored. Rejects when the run is refused (shutdown,
   * quota).
   */
  async start(input: string, options: RunnerOptions): Promise<StartedRun> {
    const runId = options.runId ?? randomUUID();
    const sessionId = options.sessionId ?? randomUUID();
    const events = await this.stream(input, { ...options, runId, sessionId, signal: undefined }, true);
    void (async () => {
      // The recorder keeps the events; nothing else here needs them.
      for await (const _event of events);
    })();
    // Answered once the run is in the store: its id works at once on every replica of a shared store.
    await this.recorder.find(runId)?.stored;
    return { runId, sessionId };
  }

  /** The run-mode loop of the agent (only its terminal event), recorded, settled as `Agent.run` settles it. */
  private async settle(admitted: Admitted, input: string): Promise<RunOutput> {
    const { agent, options, live } = admitted;
    for await (const event of agent[RUN_HOSTED](input, options, false, admitted.probe)) {
      live.push(event);
      if (isTerminalEvent(event.event)) this.ended(admitted, event);
      // A paused run is answered once the store has it: a decision may come to another process.
      if (event.event === 'RunPaused') await live.ended;
      const output = settleRun(event);
      if (output) return output;
    }
    /* istanbul ignore next -- the loop always ends with a terminal event */
    throw new AgentError('internal', 'The run ended without a result.');
  }

  /**
   * Runs an agent and yields its events, like `Agent.stream` (it ends with
   * `RunCompleted`, `RunError` or `RunCancelled`). Admission happens before
   * the generator is handed over: a refusal (shutdown, quota) rejects the
   * returned promise, before any event.
   */
  async stream(input: string, options: RunnerOptions, background = false): Promise<AsyncGenerator<RunEvent, void, undefined>> {
    if (this.quotas) await this.withinQuota(options);
    return this.streamAdmitted(input, options, background);
  }

  private streamAdmitted(input: string, options: RunnerOptions, background: boolean): AsyncGenerator<RunEvent, void, undefined> {
    const admitted = this.admit(options, background, input);
    return this.tracked(admitted, () => admitted.agent[RUN_HOSTED](input, admitted.options, true, admitted.probe));
  }

  /**
   * Goes on with a paused run whose approvals are all decided, in the
   * background: recorded under its id (its events after those of the pause;
   * follow it with `GET /runs/:id/events`), drained at shutdown like any run.
   * Resolves once it has started (`true`), or with `false` when it cannot go
   * on here: a decision is missing, another process took it, it is not
   * paused, or shutdown has begun (it stays paused, to go on after a restart).
   */
  async continue(runId: string, agentName?: string): Promise<boolean> {
    return (await this.continuation(runId, agentName)) !== null;
  }

  /**
   * {@link AgentRunner.continue}, answering the continuation it started (its
   * `ended` resolves with the run's record once it has ended — or paused
   * again — and its last write is done), or `null` when it could not go on here.
   */
  async continuation(runId: string, agentName?: string): Promise<Continuation | null> {
    if (this.tracker.isClosing) return null;
    const record = await this.recorder.get(runId);
    const agent = this.agents.find(record?.agent ?? agentName);
    if (!agent || (record && record.agent !== agent.name)) return null;
    const { controller, unlink: release } = linkedController(undefined);
    let claimed: { paused: PausedRun; events: AsyncGenerator<RunEvent, void, undefined> };
    const probe: { current?: RunProbe } = {};
    try {
      claimed = await agent[RESUME_HOSTED](runId, { signal: controller.signal }, true, {
        // The trace begins once the run is claimed (below); the loop reaches it through this probe.
        begin: (step) => probe.current?.begin(step),
      });
    } catch (error) {
      release();
      if (error instanceof ApprovalError) return null;
      throw error;
    }
    const { paused } = claimed;
    const trigger = record?.trigger ?? 'approval';
    const trace = this.trace(agent, { trigger, runId, sessionId: paused.sessionId, input: paused.state.input, carrier: undefined });
    if (trace) probe.current = hostProbe(trace, undefined, this.tracker);
    // A run whose pause the store never got (the process stopped at once) is recorded anew.
    const live = record
      ? this.recorder.resume(record, controller)
      : this.recorder.begin(
          { runId, agent: agent.name, userId: paused.userId, sessionId: paused.sessionId, trigger, status: 'running', background: true, createdAt: paused.pausedAt, endedAt: null, output: null, error: null, lastSeq: 0 },
          controller,
          true,
        );
    const admitted: Admitted = { agent, controller, release, live, trigger, trace, probe: probe.current, options: { runId, sessionId: paused.sessionId, signal: controller.signal } };
    const tracked = this.tracked(admitted, () => claimed.events);
    void (async () => {
      // The recorder keeps the events; nothing else here needs them.
      for await (const _event of tracked);
    })();
    return { runId, ended: live.ended };
  }

  /**
   * An admitted run's events as its consumer iterates them, each recorded,
   * its end noted (span, metrics) and the run tracked for the drain.
   */
  private tracked(admitted: Admitted, loop: () => AsyncGenerator<RunEvent, void, undefined>): AsyncGenerator<RunEvent, void, undefined> {
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
        this.abandoned(admitted, 'cancelled');
        finish();
      },
      { once: true },
    );
    const events = loop();
    // Delegates to the agent's generator, recording and noting its end: a plain object, not a wrapping
    // async generator, so each event costs no extra generator step (streams relay hundreds of them).
    const ended = (result: IteratorResult<RunEvent, void>) => {
      if (result.done) {
        if (!live.isOver) this.abandoned(admitted, 'cancelled');
        live.abandon('cancelled', { code: 'cancelled', message: 'The stream was left before the run ended.' });
        finish();
        return result;
      }
      live.push(result.value);
      if (isTerminalEvent(result.value.event)) this.ended(admitted, result.value);
      return result;
    };
    const failed = (error: unknown): never => {
      if (!live.isOver) this.abandoned(admitted, 'error', error);
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

  private admit(options: RunnerOptions, background: boolean, input?: string): Admitted {
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
    const { traceCarrier, ...runOptions } = rest;
    const trace = this.trace(agent, { trigger, runId, sessionId, input: typeof input === 'string' ? input : '', carrier: traceCarrier });
    const budget = this.quotas?.hasBudgets ? { quotas: this.quotas, subject: { agent: agent.name, userId: rest.userId ?? null, trigger } } : undefined;
    return {
      agent,
      controller,
      callerSignal,
      release,
      live,
      trigger,
      trace,
      probe: trace || budget ? hostProbe(trace, budget, this.tracker) : undefined,
      options: { ...runOptions, runId, sessionId, signal: controller.signal, metadata: { ...rest.metadata, trigger }, ...(rest.sessionId === undefined ? { [NEW_SESSION]: true } : {}) },
    };
  }

  /** The run's trace, when an OpenTelemetry SDK records (the agent's name, id and model on it). */
  private trace(agent: Agent, run: { trigger: string; runId: string; sessionId: string; input: string; carrier: Record<string, unknown> | undefined }): RunTrace | undefined {
    return this.tracing.begin({ agent: agent.name, agentId: agent.id, model: agent.model.id, provider: agent.model.provider, ...run });
  }

  /** Refuses a run over its quotas (`QuotaExceededError`) before anything of it is recorded. */
  private withinQuota(options: RunnerOptions): Promise<void> {
    if (this.tracker.isClosing) return Promise.resolve(); // admit() refuses it, as shutting down
    const { agent: chosen } = options;
    const agent = chosen instanceof Agent ? this.agents.resolve(chosen) : this.agents.get(chosen);
    return this.quotas!.admit({ agent: agent.name, userId: options.userId ?? null, trigger: options.trigger });
  }

  /** A run's terminal event: recorded, its span ended, counted. */
  private ended(admitted: Admitted, event: RunEvent): void {
    admitted.live.finish(event, this.endStatus(event, admitted.callerSignal));
    admitted.trace?.end(event);
    if (this.metrics.enabled && (event.event === 'RunCompleted' || event.event === 'RunError' || event.event === 'RunCancelled')) {
      this.metrics.runEnded(admitted.trigger, event.output);
    }
  }

  /** A run that ended without a terminal event (its stream was left, or the loop threw). */
  private abandoned(admitted: Admitted, status: 'cancelled' | 'error', error?: unknown): void {
    admitted.trace?.abandon(status, error);
    if (this.metrics.enabled) this.metrics.runAbandoned(admitted.agent, admitted.trigger, status);
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

/**
 * What the runner watches inside a run: the trace's child spans, and the
 * budgets — checked before each model call after the first (admission checked
 * them for that one), charged after each (the next check waits for the
 * charge, so a run cannot outrun its own spending).
 */
function hostProbe(trace: RunTrace | undefined, budget: { quotas: RunQuotas; subject: QuotaSubject } | undefined, tracker: RunTracker): RunProbe {
  if (!budget) return { begin: (step) => trace!.begin(step) };
  let charging: Promise<void> | undefined;
  return {
    async beforeModelCall(step) {
      // The first call's check is the admission's, a moment ago.
      if (step === 1) return;
      if (charging) await charging;
      await budget.quotas.check(budget.subject);
    },
    begin(step) {
      const scope = trace?.begin(step);
      if (step.kind !== 'model') return scope;
      return {
        within: scope ? (fn) => scope.within(fn) : (fn) => fn(),
        end(outcome) {
          scope?.end(outcome);
          const { usage } = outcome;
          if (usage) charging = tracker.trackPending(budget.quotas.charge(budget.subject, { tokens: usage.inputTokens + usage.outputTokens, cost: usage.cost }));
        },
      };
    },
  };
}
