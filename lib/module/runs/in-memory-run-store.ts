import { trimOldest } from '../../agent/bounded';
import { hasEnded, retentionOf } from './run-store';
import type { IdempotencyRecord, RecordedEvent, RunChange, RunRecord, RunRetention, RunStore } from './run-store';

/** Options of {@link InMemoryRunStore}. */
export interface InMemoryRunStoreOptions {
  /** How long ended runs are kept. Default 7 days and 10,000 runs (events included: keep it small on a small heap). */
  retention?: RunRetention;
}

interface Entry {
  record: RunRecord;
  events: RecordedEvent[];
}

/**
 * The default {@link RunStore}: in process memory. `GET /runs/:id`, resumable
 * streams, background runs and idempotency keys all work, within one process
 * and until it stops — nothing survives a restart. Use {@link SqliteRunStore}
 * when runs must outlive the process.
 */
export class InMemoryRunStore implements RunStore {
  /** Map order is creation order: the first ended entries are the oldest. */
  private readonly runs = new Map<string, Entry>();
  private readonly keys = new Map<string, IdempotencyRecord>();
  private readonly retention: Required<RunRetention>;

  constructor(options: InMemoryRunStoreOptions = {}) {
    this.retention = retentionOf(options.retention, 'InMemoryRunStore');
  }

  async create(run: RunRecord, events: RecordedEvent[] = []): Promise<void> {
    const held = this.runs.get(run.runId)?.record;
    const record = held ? { ...run, job: held.job, createdAt: held.createdAt, trigger: held.trigger, background: held.background } : { ...run };
    this.runs.set(run.runId, { record, events: [...events] });
    if (this.runs.size > this.retention.maxRuns) this.dropOldestEnded(this.runs.size - this.retention.maxRuns);
  }

  async write(runId: string, events: RecordedEvent[], change?: RunChange): Promise<void> {
    const entry = this.runs.get(runId);
    if (!entry) return;
    for (const recorded of events) entry.events.push(recorded);
    if (events.length) entry.record.lastSeq = events[events.length - 1].seq;
    if (change) Object.assign(entry.record, change);
  }

  async queuedJobs(): Promise<RunRecord[]> {
    return [...this.runs.values()]
      .filter(({ record }) => record.status === 'queued' && record.job)
      .map(({ record }) => ({ ...record }))
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async resetRun(runId: string, change: RunChange): Promise<void> {
    const entry = this.runs.get(runId);
    if (!entry) return;
    entry.events = [];
    entry.record.lastSeq = 0;
    Object.assign(entry.record, change);
  }

  async get(runId: string): Promise<RunRecord | null> {
    const entry = this.runs.get(runId);
    return entry ? { ...entry.record } : null;
  }

  async events(runId: string, afterSeq = 0): Promise<RecordedEvent[]> {
    const events = this.runs.get(runId)?.events ?? [];
    // Sequence numbers are 1, 2, 3…: the event after `afterSeq` is at index `afterSeq`.
    return events.slice(Math.max(0, afterSeq));
  }

  async claimIdempotencyKey(claim: IdempotencyRecord): Promise<IdempotencyRecord> {
    const id = keyId(claim.scope, claim.key);
    const held = this.keys.get(id);
    if (held && held.expiresAt > claim.createdAt) return { ...held };
    this.keys.delete(id);
    this.keys.set(id, { ...claim });
    // As many keys as runs are kept: every caller can send new ones.
    trimOldest(this.keys, this.retention.maxRuns);
    return claim;
  }

  async releaseIdempotencyKey(scope: string, key: string, runId: string): Promise<void> {
    const id = keyId(scope, key);
    if (this.keys.get(id)?.runId === runId) this.keys.delete(id);
  }

  async recover(now: number): Promise<string[]> {
    // A new store holds no runs of a dead process.
    void now;
    return [];
  }

  async prune(now: number): Promise<void> {
    const oldest = now - this.retention.maxAge;
    for (const [runId, { record }] of this.runs) {
      if (record.endedAt !== null && record.endedAt < oldest) this.runs.delete(runId);
    }
    for (const [id, held] of this.keys) if (held.expiresAt <= now) this.keys.delete(id);
  }

  async close(): Promise<void> {
    this.runs.clear();
    this.keys.clear();
  }

  private dropOldestEnded(count: number): void {
    for (const [runId, { record }] of this.runs) {
      if (count <= 0) return;
      if (!hasEnded(record.status)) continue;
      this.runs.delete(runId);
      count--;
    }
  }
}

function keyId(scope: string, key: string): string {
  return `${scope.length}:${scope}:${key}`;
}
