/**
 * Restart delays of the supervisor: 1 s, 2 s, 4 s … capped at 60 s; after an
 * interface has run `resetAfterMs` (60 s) without crashing, it starts over at 1 s.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 1000,
    private readonly maxMs = 60_000,
    private readonly resetAfterMs = 60_000,
  ) {}

  /** The delay before the next restart, given how long the interface ran (ms) before it failed. */
  next(ranForMs: number): number {
    if (ranForMs >= this.resetAfterMs) this.attempt = 0;
    const delay = Math.min(this.initialMs * 2 ** this.attempt, this.maxMs);
    if (delay < this.maxMs) this.attempt++;
    return delay;
  }
}
