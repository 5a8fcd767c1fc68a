import { wholeAtLeastOne } from '../agent/bounded';
/** Limits of {@link ChatScheduler}'s queue. */
export interface ChatSchedulerLimits {
  /** Jobs queued or running across chats; beyond it {@link ChatScheduler.enqueue} refuses. Default unbounded. */
  maxQueued?: number;
  /** Jobs queued or running for one chat; beyond it that chat's new jobs are refused. Default unbounded. */
  maxQueuedPerChat?: number;
}

/**
 * Runs work per chat in arrival order, one job at a time per chat, with at
 * most `concurrency` jobs running across chats. `drain()` waits for what is
 * queued and running.
 *
 * Every queued job holds its message, and anyone who can write to the bot can
 * queue one: give it `limits` so a flood is refused instead of held.
 */
export class ChatScheduler {
  private readonly tails = new Map<string, Promise<void>>();
  /** Jobs queued or running per chat (only chats that have some). */
  private readonly perChat = new Map<string, number>();
  private readonly waiting: (() => void)[] = [];
  private running = 0;
  private readonly pending = new Set<Promise<void>>();
  private readonly maxQueued: number;
  private readonly maxQueuedPerChat: number;

  constructor(
    private readonly concurrency: number,
    limits: ChatSchedulerLimits = {},
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`maxConcurrentRuns must be a whole number of at least 1, got ${concurrency}.`);
    }
    this.maxQueued = wholeAtLeastOne('ChatScheduler', 'maxQueued', limits.maxQueued, Infinity);
    this.maxQueuedPerChat = wholeAtLeastOne('ChatScheduler', 'maxQueuedPerChat', limits.maxQueuedPerChat, Infinity);
  }

  /**
   * Queues a job for a chat; returns at once: `true` when queued, `false`
   * (the job will not run) when a limit is reached — unless `force` (work
   * taken in earlier, e.g. recovered after a restart). The job's failures are
   * its own to handle.
   */
  enqueue(chatKey: string, job: () => Promise<void>, force = false): boolean {
    const queuedForChat = this.perChat.get(chatKey) ?? 0;
    if (!force && !this.hasRoom(chatKey)) return false;
    this.perChat.set(chatKey, queuedForChat + 1);
    const previous = this.tails.get(chatKey) ?? Promise.resolve();
    const next = previous.then(() => this.withSlot(job)).catch(() => {});
    this.tails.set(chatKey, next);
    this.pending.add(next);
    void next.then(() => {
      this.pending.delete(next);
      const left = (this.perChat.get(chatKey) ?? 1) - 1;
      if (left > 0) this.perChat.set(chatKey, left);
      else this.perChat.delete(chatKey);
      if (this.tails.get(chatKey) === next) this.tails.delete(chatKey);
    });
    return true;
  }

  /** Whether a job for this chat would be taken now (within `maxQueued` and `maxQueuedPerChat`). */
  hasRoom(chatKey: string): boolean {
    return this.pending.size < this.maxQueued && (this.perChat.get(chatKey) ?? 0) < this.maxQueuedPerChat;
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

