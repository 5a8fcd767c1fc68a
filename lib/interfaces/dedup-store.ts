import { trimOldest } from '../agent/bounded';

/**
 * Remembers which platform messages were answered, so a message delivered
 * twice (Telegram re-delivers after a crash) is answered once.
 */
export interface DedupStore {
  /** Whether the message was already handled. */
  has(key: string): Promise<boolean>;
  /** Records a message as handled. */
  add(key: string): Promise<void>;
}

/** A bounded in-memory {@link DedupStore} (the oldest keys are forgotten first). */
export class InMemoryDedupStore implements DedupStore {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  async has(key: string): Promise<boolean> {
    return this.keys.has(key);
  }

  async add(key: string): Promise<void> {
    this.keys.add(key);
    trimOldest(this.keys, this.capacity);
  }
}
