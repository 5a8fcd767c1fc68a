import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { DefinableModuleOptions } from './definable-module.options';
import { settleWithin } from './settle-within';
import { DEFINABLE_OPTIONS } from './definable.module-definition';

/**
 * The agent runs in flight, from `/run` and from triggers. At shutdown it
 * stops intake, waits for them up to `shutdownTimeout`, then cancels the rest,
 * so an open SSE stream ends (with `RunCancelled`) instead of holding the
 * server open.
 */
@Injectable()
export class RunTracker implements BeforeApplicationShutdown {
  private readonly runs = new Map<AbortController, Promise<unknown>>();
  /** Trigger work on its way to a run (a cron or event handler still deciding what to run). */
  private readonly pending = new Set<Promise<unknown>>();
  private closing = false;
  private readonly shutdownTimeout: number;

  constructor(@Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions) {
    this.shutdownTimeout = options?.shutdownTimeout ?? 10_000;
  }

  /** Whether shutdown has begun (new runs are refused). */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Tracks a run, cancelled through `controller` at shutdown, until `done` settles; returns `done`. */
  track<T>(controller: AbortController, done: Promise<T>): Promise<T> {
    const settled = quietly(done);
    this.runs.set(controller, settled);
    void settled.then(() => this.runs.delete(controller));
    return done;
  }

  /**
   * Tracks work that may start a run (a trigger handler), so {@link settled}
   * also waits for runs that have not begun yet; returns `work`.
   */
  trackPending<T>(work: Promise<T>): Promise<T> {
    const settled = quietly(work);
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return work;
  }

  /** Runs in flight plus trigger handlers on their way to one. */
  get inFlight(): number {
    return this.runs.size + this.pending.size;
  }

  /**
   * Resolves once no run and no trigger handler is in flight, including runs
   * started while it waits. Uses no timers, so it works under fake timers
   * (see `waitForRuns` in `nestjs-definable/testing`).
   */
  async settled(): Promise<void> {
    while (this.inFlight > 0) await Promise.all([...this.runs.values(), ...this.pending]);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.runs.size === 0) return;
    await settleWithin(Promise.all(this.runs.values()), this.shutdownTimeout);
    for (const controller of this.runs.keys()) controller.abort(new Error('The server is shutting down.'));
    await Promise.all(this.runs.values());
  }
}

/** Settles when `work` does, fulfilled either way (what the drain waits on). */
function quietly(work: Promise<unknown>): Promise<void> {
  return work.then(
    () => undefined,
    () => undefined,
  );
}
