import type { RunErrorInfo, RunEvent, RunOutput } from '../../agent';

/**
 * Where a recorded run stands: `queued` (admitted, not started), `running`,
 * the three ends of a run (`completed`, `error`, `cancelled`),
 * `interrupted` — the process running it went away (a crash, a deploy that
 * could not wait) before it ended — or `failed`: queued work (an async
 * webhook delivery) that failed on every attempt.
 */
/**
 * Where a recorded run stands. `paused`: waiting for tool approvals (not ended: its continuation is
 * recorded under the same id, its events after those of the pause).
 */
export type RecordedRunStatus = 'queued' | 'running' | 'paused' | 'completed' | 'error' | 'cancelled' | 'interrupted' | 'failed';

/** Queued work behind a run: an async webhook delivery, kept so it survives a restart. */
export interface RunJob {
  /** The webhook handler that takes it: `Class.method`. */
  handler: string;
  /** The delivery (`TriggerEvent` without `raw`; credentials headers removed). `timestamp` in ms. */
  event: { body: unknown; headers: Record<string, string | string[] | undefined>; source: string; timestamp: number };
  /** Who sent it: the run is theirs. */
  principal: { userId: string; provider: string; trusted: boolean } | null;
  /** Attempts started so far (one that a crash cut counts). */
  attempts: number;
  maxAttempts: number;
  /** Milliseconds of the first retry's delay; each next one doubles it (at most 5 minutes). */
  retryDelay: number;
  /** When the next attempt is due (ms since the epoch). */
  nextAttemptAt: number;
}

/** A run's output as a run store keeps it: without `messages` (the session store has them). */
export type RecordedRunOutput = Omit<RunOutput, 'messages'>;

/** What a {@link RunStore} keeps of one run. Times are milliseconds since the epoch. */
export interface RunRecord {
  runId: string;
  /** The agent's name. */
  agent: string;
  userId: string | null;
  sessionId: string;
  /** The entry point: `'POST /run'`, `'POST /hooks/github'`, `'cron(0 9 * * *)'`, `'telegram(42)'`… */
  trigger: string;
  status: RecordedRunStatus;
  /** Whether the run was started to go on without a listener (`"background": true`). */
  background: boolean;
  createdAt: number;
  /** When it ended; `null` while it is queued or running. */
  endedAt: number | null;
  /** The output once it ended (`null` before, and for `interrupted` runs). */
  output: RecordedRunOutput | null;
  /** Why it did not complete (`error`, `cancelled`, `interrupted`). */
  error: RunErrorInfo | null;
  /** The sequence number of its last recorded event (0: none yet). */
  lastSeq: number;
  /** The queued work behind it (async webhooks); absent for other runs. */
  job?: RunJob | null;
  /**
   * The replica running it, when the app runs on several (`cluster` option):
   * its runs are recovered when it is gone. Absent on one node. A store shared
   * by replicas keeps it; a single-node store may drop it.
   */
  owner?: string | null;
}

/** A run event with its sequence number in the run (1, 2, 3…; SSE frames carry it as `id:`). */
export interface RecordedEvent {
  seq: number;
  event: RunEvent;
}

/** What changes in a run record as it goes on. */
export type RunChange = Partial<Pick<RunRecord, 'status' | 'endedAt' | 'output' | 'error' | 'job' | 'owner'>>;

/** An idempotency key taken for a run: by whom (`scope`), for which request (`requestHash`). */
export interface IdempotencyRecord {
  /** Whose key it is: keys of different principals never meet. */
  scope: string;
  key: string;
  /** A digest of the request the key was first used with. */
  requestHash: string;
  /** The run started for it. */
  runId: string;
  createdAt: number;
  /** When the key is forgotten (a request with it then starts a new run). */
  expiresAt: number;
}

/** How long a {@link RunStore} keeps ended runs. */
export interface RunRetention {
  /** Ended runs older than this many milliseconds are deleted. Default 7 days. */
  maxAge?: number;
  /** At most this many runs are kept; the oldest ended ones go first. Default 10,000. */
  maxRuns?: number;
}

/**
 * Where `AgentRunner` records every run it admits — from `/run`, webhooks,
 * cron, events and chat — with its event log, so a run can be looked up,
 * followed and resumed (`GET /runs/:id`, `GET /runs/:id/events`) and an
 * idempotent retry answered from the first run.
 *
 * The library ships {@link InMemoryRunStore} (the default: the API works, nothing
 * survives a restart) and {@link SqliteRunStore} (one node, survives crashes).
 * Writes of one run arrive in order; a store must apply each call atomically.
 */
export interface RunStore {
  /**
   * Whether every replica of the app sees the same runs (a database server,
   * e.g. PostgreSQL), so one replica may recover the runs another left. A
   * store without it (in memory, a SQLite file) is one process's.
   */
  readonly shared?: boolean;
  /**
   * Records a new run, with its first events if any (in one write). A run
   * already recorded under this id (a queued job starting) is updated, keeping
   * its `job`, `createdAt`, `trigger` and `background`.
   */
  create(run: RunRecord, events?: RecordedEvent[]): Promise<void>;
  /** The queued jobs (status `queued` with a `job`), oldest first. */
  queuedJobs(): Promise<RunRecord[]>;
  /** Drops the run's events and applies `change`: a job going back to the queue for another attempt. */
  resetRun(runId: string, change: RunChange): Promise<void>;
  /** Appends events (in `seq` order, after those recorded) and applies `change`, in one write. */
  write(runId: string, events: RecordedEvent[], change?: RunChange): Promise<void>;
  /** The run, or `null` if it is unknown (or was deleted by retention). */
  get(runId: string): Promise<RunRecord | null>;
  /** The run's events with `seq` greater than `afterSeq` (default 0: all), in order. */
  events(runId: string, afterSeq?: number): Promise<RecordedEvent[]>;
  /**
   * Takes `claim.key` for `claim.scope` unless it is taken and not expired;
   * returns the record that holds the key afterwards — `claim` itself when
   * taken now, the earlier one otherwise. Atomic: of concurrent claims of one
   * key exactly one wins.
   */
  claimIdempotencyKey(claim: IdempotencyRecord): Promise<IdempotencyRecord>;
  /** Gives a key back (its run ended without an answer worth repeating); a later claim wins it. */
  releaseIdempotencyKey(scope: string, key: string, runId: string): Promise<void>;
  /**
   * Runs left `queued` or `running` by a process that is gone become
   * `interrupted` — except jobs, which stay (or go back to) `queued` while
   * attempts are left (`failed` otherwise). Returns the ids of the runs marked
   * `interrupted` or `failed`. On one node it is called once when the module
   * starts, without `owner`: every such run is a dead process's. On several
   * replicas it is called with the `owner` of a replica found gone, and only
   * that replica's runs are recovered.
   */
  recover(now: number, owner?: string): Promise<string[]>;
  /** Deletes ended runs past the retention, and expired idempotency keys. */
  prune(now: number): Promise<void>;
  /** Releases resources (file handles, connections). */
  close(): Promise<void>;
}

/** Whether a run in this status has ended (nothing more will be recorded; a paused run goes on once decided). */
export function hasEnded(status: RecordedRunStatus): boolean {
  return status !== 'queued' && status !== 'running' && status !== 'paused';
}

/** Retention with its defaults applied and checked. */
export function retentionOf(retention: RunRetention | undefined, owner: string): Required<RunRetention> {
  const maxAge = retention?.maxAge ?? 7 * 24 * 60 * 60 * 1000;
  const maxRuns = retention?.maxRuns ?? 10_000;
  if (!(maxAge > 0)) throw new RangeError(`${owner}: retention.maxAge must be a positive number of milliseconds, got ${maxAge}.`);
  if (!Number.isInteger(maxRuns) || maxRuns < 1) throw new RangeError(`${owner}: retention.maxRuns must be a whole number of at least 1, got ${maxRuns}.`);
  return { maxAge, maxRuns };
}
