import { linkedController } from '../abort';

/**
 * Abandons a model call whose answer goes silent: once started (when the
 * response headers are in), every `touch()` (a chunk, a body read) resets
 * the clock, and `idleMs` without one aborts `signal`. Never touched, it is a
 * deadline (a run's `timeout`). One timer per call,
 * re-armed only when it fires, so touching costs a clock read. The caller's
 * signal aborts it too; `stop()` detaches from it.
 */
export class IdleWatch {
  private readonly controller: AbortController;
  private readonly unlink: () => void;
  private last = 0;
  private timer?: NodeJS.Timeout;
  /** Whether the answer went silent for `idleMs` (as opposed to the caller aborting). */
  expired = false;

  constructor(
    private readonly idleMs: number,
    outer: AbortSignal | undefined,
  ) {
    ({ controller: this.controller, unlink: this.unlink } = linkedController(outer));
  }

  /** What the call's request listens to. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts the clock (the headers are in: the SDK's own `timeout` stopped counting). */
  start(): void {
    if (this.idleMs <= 0 || this.timer) return;
    this.last = performance.now();
    this.arm(this.idleMs);
  }

  /** Something arrived. */
  touch(): void {
    this.last = performance.now();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.unlink();
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      const silent = performance.now() - this.last;
      if (silent < this.idleMs) return this.arm(this.idleMs - silent);
      this.expired = true;
      this.controller.abort(new Error(`no data for ${this.idleMs} ms`));
    }, delay);
  }
}
