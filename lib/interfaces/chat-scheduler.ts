/**
 * Runs work per chat in arrival order, one job at a time per chat, with at
 * most `concurrency` jobs running across chats. `drain()` waits for what is
 * queued and running.
 */
export class ChatScheduler {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`maxConcurrentRuns must be a whole number of at least 1, got ${concurrency}.`);
    }
  }

  /** Queues a job for a chat; returns at once. The job's failures are its own to handle. */
  enqueue(chatKey: string, job: () => Promise<void>): void {
    const previous = this.tails.get(chatKey) ?? Promise.resolve();
    const next = previous.then(() => this.withSlot(job)).catch(() => {});
    this.tails.set(chatKey, next);
    this.pending.add(next);
    void next.then(() => {
      this.pending.delete(next);
      if (this.tails.get(chatKey) === next) this.tails.delete(chatKey);
    });
  }

  /** Jobs queued or running. */
  get size(): number {
    return this.pending.size;
  }

  /** Resolves when every queued and running job has finished. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async withSlot(job: () => Promise<void>): Promise<void> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      await job();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
