import type { ServerResponse } from 'node:http';

/**
 * Held requests of a fake server's long-poll endpoint: each is answered when
 * `wake()` signals new data or when its hold time runs out, whichever is
 * first; a client that leaves is forgotten. `close()` drops every timer.
 */
export class LongPoll {
  private readonly held = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /**
   * Holds `res` up to `ms`, then (or on wake) calls `respond`. Returns a
   * function that ends the hold at once with another answer (unless it ended).
   */
  hold(res: ServerResponse, ms: number, respond: () => void): (instead: () => void) => void {
    let done = false;
    /** Ends the hold (once), answering with `answer` if the client is still there. */
    const end = (answer?: () => void) => {
      if (done) return;
      done = true;
      this.held.delete(finish);
      clearTimeout(timer);
      this.timers.delete(timer);
      if (answer && !res.destroyed) answer();
    };
    const finish = () => end(respond);
    const timer = setTimeout(finish, ms);
    this.timers.add(timer);
    this.held.add(finish);
    // The response's close (not the request's, which fires once the body is read) means the client left.
    res.on('close', () => {
      if (!res.writableEnded) end();
    });
    return (instead) => end(instead);
  }

  /** Answers every held request now. */
  wake(): void {
    for (const finish of [...this.held]) finish();
  }

  /** Clears every timer (the server is closing). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held.clear();
  }
}
