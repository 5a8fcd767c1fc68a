// A BullMQ queue and its worker, for the replicas' shared job queues. bullmq is an optional peer
// dependency, loaded lazily; its types stay out of our declarations (the small interfaces below are
// what we call).
import type { ClusterConfig } from './cluster-options';
import { bullConnection } from './redis-client';

/** @internal A job as the processor sees it. */
export interface BullJob<T> {
  readonly id?: string;
  readonly data: T;
  /** Times the job was moved to active, this time included (a start a crash cut counts). */
  readonly attemptsStarted: number;
  /** Failed attempts so far. */
  readonly attemptsMade: number;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
}

/**
 * @internal What a processor decides about the job it was handed: `done` (acknowledged; it is not
 * handed out again), `retry` (a failed attempt: BullMQ hands it out again after the backoff while
 * attempts are left), `fail` (failed for good, whatever the attempts left), `requeue` (back to the
 * waiting list at once, no attempt counted as failed: cut by this replica's shutdown).
 */
export type BullOutcome = { kind: 'done' } | { kind: 'retry'; error: Error } | { kind: 'fail'; error: Error } | { kind: 'requeue' };

/** @internal Job counts of a queue. */
export interface BullCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** @internal How a {@link BullQueue} runs its jobs. */
export interface BullQueueOptions<T> {
  /** The queue's name under the cluster's prefix (no `:`). */
  name: string;
  /** Jobs run at once by this replica's worker. */
  concurrency: number;
  processor: (job: BullJob<T>) => Promise<BullOutcome>;
  /** The wait before the next attempt of a job whose attempt failed, in ms. */
  backoff: (job: BullJob<T>) => number;
  /** Where worker and queue errors go. */
  onError: (error: Error) => void;
}

/** The part of BullMQ's exports the queue uses. */
interface BullModule {
  Queue: new (name: string, options: Record<string, unknown>) => BullQueueClient;
  Worker: new (name: string, processor: (job: BullJob<unknown>, token?: string) => Promise<unknown>, options: Record<string, unknown>) => BullWorkerClient;
  DelayedError: new (message?: string) => Error;
  UnrecoverableError: new (message?: string) => Error;
}

interface BullQueueClient {
  add(name: string, data: unknown, options: Record<string, unknown>): Promise<unknown>;
  addBulk(jobs: { name: string; data: unknown; opts: Record<string, unknown> }[]): Promise<unknown>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  on(event: string, listener: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any -- BullMQ events carry various arguments
  close(): Promise<void>;
}

interface BullWorkerClient {
  run(): Promise<void>;
  close(force?: boolean): Promise<void>;
  on(event: string, listener: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any -- BullMQ events carry various arguments
}

/** A custom backoff type, so the wait can be capped (BullMQ's `exponential` is not). */
const BACKOFF_TYPE = 'definable-exponential';

/** Loads the optional `bullmq` peer dependency, or says how to install it. */
function loadBullMQ(): BullModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('bullmq') as BullModule;
  } catch (error) {
    throw new Error(`redisCluster needs the "bullmq" package for async webhooks on several replicas: run \`npm install bullmq@6\`. (${(error as Error).message})`);
  }
}

/**
 * @internal One BullMQ queue of the cluster and this replica's worker on it.
 * Its keys are under the cluster's prefix (`<prefix>:<name>:…`). A job's id
 * is given by the caller, so adding a job twice adds it once. A job whose
 * worker died (its lock not renewed for `jobLockDuration`) is handed to
 * another worker; a processor decides on attempts itself (`attemptsStarted`
 * counts the starts a crash cut), so BullMQ never fails a job for stalling.
 */
/** How long adding a job may wait for Redis. */
const ADD_TIMEOUT_MS = 5_000;

export class BullQueue<T> {
  private readonly queue: BullQueueClient;
  private worker?: BullWorkerClient;
  private readonly bull: BullModule;
  private closed = false;
  /** Jobs this replica's worker is running. */
  private active = 0;

  constructor(
    private readonly config: ClusterConfig,
    private readonly options: BullQueueOptions<T>,
  ) {
    this.bull = loadBullMQ();
    // A delivery is added inside its HTTP request: while Redis is away, adding fails at once (the sender
    // is told to retry) rather than waiting in ioredis' offline queue.
    this.queue = new this.bull.Queue(options.name, { connection: { ...bullConnection(config.connection), enableOfflineQueue: false }, prefix: config.prefix });
    this.queue.on('error', (error: Error) => options.onError(error));
  }

  /**
   * Adds a job under `id` (a no-op while a job of that id is kept), tried up
   * to `attempts` times.
   */
  async add(id: string, data: T, attempts: number): Promise<void> {
    // BullMQ waits for a first connection however long it takes: a Redis down since the start fails the add here.
    // (Should the add land later after all, its run's record has ended and the job is skipped.)
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ADD_TIMEOUT_MS} ms`)), ADD_TIMEOUT_MS)));
    try {
      await Promise.race([this.queue.add(this.options.name, data, this.jobOptions(id, attempts)), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Adds several jobs in one round trip (each a no-op where its id is kept). */
  async addBulk(jobs: { id: string; data: T; attempts: number }[]): Promise<void> {
    if (jobs.length) await this.queue.addBulk(jobs.map(({ id, data, attempts }) => ({ name: this.options.name, data, opts: this.jobOptions(id, attempts) })));
  }

  /** Starts this replica's worker (not awaited: it runs until {@link stop}). */
  start(): void {
    if (this.worker || this.closed) return;
    const { DelayedError, UnrecoverableError } = this.bull;
    const processJob = async (job: BullJob<T>, token?: string): Promise<void> => {
      this.active++;
      try {
        await runJob(job, token);
      } finally {
        this.active--;
      }
    };
    const runJob = async (job: BullJob<T>, token?: string): Promise<void> => {
      const outcome = await this.options.processor(job);
      if (outcome.kind === 'retry') throw outcome.error;
      if (outcome.kind === 'fail') throw new UnrecoverableError(outcome.error.message);
      if (outcome.kind === 'requeue') {
        // Delayed until now: promoted to the waiting list at once, for any replica; no failed attempt counted.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
    };
    this.worker = new this.bull.Worker(this.options.name, processJob as (job: BullJob<unknown>, token?: string) => Promise<unknown>, {
      connection: bullConnection(this.config.connection),
      prefix: this.config.prefix,
      concurrency: this.options.concurrency,
      lockDuration: this.config.jobLockDuration,
      // A dead worker's job is found within a lock duration after its lock lapsed.
      stalledInterval: this.config.jobLockDuration,
      // Attempts (crash-cut ones included) are counted by the processor: BullMQ never fails a job for stalling.
      maxStalledCount: Number.MAX_SAFE_INTEGER,
      autorun: false,
      settings: { backoffStrategy: (_attemptsMade: number, _type: string, _error: Error, job: BullJob<T>) => this.options.backoff(job) },
    });
    this.worker.on('error', (error: Error) => this.options.onError(error));
    void this.worker.run().catch((error: Error) => this.options.onError(error));
  }

  /** Takes no new job; resolves once the jobs this worker runs have finished. */
  async stop(): Promise<void> {
    // BullMQ's graceful close waits for Redis even with no job to finish: with none running here, close at once.
    await this.worker?.close(this.active === 0);
  }

  /** The queue's job counts. */
  async counts(): Promise<BullCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 };
  }

  /** Closes the worker (if still running) and the queue's connections. */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker?.close(this.active === 0).catch((error: Error) => this.options.onError(error));
    await this.queue.close().catch((error: Error) => this.options.onError(error));
  }

  private jobOptions(id: string, attempts: number): Record<string, unknown> {
    return {
      jobId: id,
      attempts,
      backoff: { type: BACKOFF_TYPE },
      // Kept a while after they end, so adding one again (a replica re-queuing what a store still shows queued) is a no-op.
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600, count: 10_000 },
    };
  }
}
