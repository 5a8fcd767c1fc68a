import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AgentError } from '../agent';
import type { AuthContext } from '../auth';
import { BullQueue } from '../module/cluster/bull-queue';
import type { BullCounts, BullJob, BullOutcome } from '../module/cluster/bull-queue';
import { DefinableCluster } from '../module/cluster/definable-cluster';
import { HealthRegistry } from '../module/health.registry';
import { DefinableHttpError } from '../module/http-errors';
import { redactSecrets } from '../module/redact';
import { settleWithin } from '../module/settle-within';
import { DefinableMetrics } from '../module/telemetry/definable-metrics';
import { RunTracker } from '../module/run.tracker';
import { RunRecorder } from '../module/runs/run-recorder';
import { hasEnded } from '../module/runs/run-store';
import type { RunChange, RunJob, RunRecord } from '../module/runs/run-store';
import type { TriggerEvent } from './trigger-event';
import { TriggerExecutor } from './trigger.executor';

/** Async deliveries handled at once. */
const CONCURRENCY = 4;
/** The longest wait between two attempts. */
const MAX_RETRY_DELAY = 5 * 60 * 1000;
/** Headers that carry credentials: never written to the store with a delivery. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'x-api-key', 'proxy-authorization']);

/** An async webhook's handler, as the explorer registers it. */
interface AsyncHandler {
  call: (event: TriggerEvent) => unknown;
  agent?: string;
}

/** A delivery to queue (see {@link WebhookQueue.enqueue}). */
export interface AsyncDelivery {
  runId: string;
  /** The handler's `Class.method`. */
  handler: string;
  event: TriggerEvent;
  principal?: AuthContext;
  maxAttempts: number;
  retryDelay: number;
}

/** How often the cluster queue's counts (the metrics gauge, `/health`) are read from Redis at least. */
const COUNTS_REFRESH_MS = 5_000;
/** How soon after a job is added or ends the counts are read again. */
const COUNTS_SOON_MS = 1_000;

/** What a cluster job carries: everything needed to run it on any replica without reading the run store. */
interface ClusterJobData {
  runId: string;
  trigger: string;
  createdAt: number;
  job: RunJob;
}

/** How one attempt ended (see {@link WebhookQueue}'s `handle`). */
type AttemptOutcome = { kind: 'done' } | { kind: 'requeue' } | { kind: 'retry'; at: number; detail: string } | { kind: 'failed'; detail: string };

/**
 * The durable queue of `@Webhook(path, { mode: 'async' })`: a delivery is
 * written to the run store (as a `queued` run with its job) before the sender
 * gets 202, then handled here — the handler called with the `TriggerEvent`, the
 * agent run with what it returns — up to 4 at once. A failing attempt (the
 * handler throws, or the run does not complete) is retried after
 * `retryDelay`, doubling, up to `maxAttempts`; then the run is `failed`. Jobs
 * left by a stopped process are taken up at start (the attempt a crash cut
 * counts). With a `SqliteRunStore` nothing queued is lost across a crash.
 *
 * On several replicas (the `cluster` option) the jobs are BullMQ jobs in the
 * replicas' Redis, under the cluster's prefix, and any replica runs them (4 at
 * once each): a delivery posted to one replica may run on another, and a job
 * whose replica died is taken up by another within about twice
 * `jobLockDuration`. A job carries its delivery, so a replica runs it without
 * reading the run store; with a shared run store (PostgreSQL) the record is
 * kept in step by whichever replica runs it, and a run whose record has ended
 * is not run again when BullMQ hands its job out again.
 */
@Injectable()
export class WebhookQueue implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Webhooks');
  private readonly handlers = new Map<string, AsyncHandler>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly ready: string[] = [];
  private active = 0;
  private stopping = false;
  private workerStopped?: Promise<void>;
  /** The BullMQ queue, in cluster mode (made at bootstrap). */
  private bull?: BullQueue<ClusterJobData>;
  private counts: BullCounts = { waiting: 0, active: 0, delayed: 0, failed: 0 };
  private countsTimer: NodeJS.Timeout | undefined;
  private countsSoon: NodeJS.Timeout | undefined;
  private lastQueueError = 0;

  constructor(
    private readonly recorder: RunRecorder,
    private readonly executor: TriggerExecutor,
    private readonly runs: RunTracker,
    metrics: DefinableMetrics,
    private readonly cluster: DefinableCluster,
    health: HealthRegistry,
  ) {
    if (cluster.enabled) {
      // Gauges are read synchronously: the counts are Redis's, read every few seconds.
      metrics.addQueue('webhooks', () => this.counts.waiting + this.counts.delayed);
      health.contribute(() => ({ queues: { webhooks: { ...this.counts } } }));
      if (this.recorder.store.shared) this.cluster.onReplicaGone(() => this.requeueStored());
    } else {
      // Waiting jobs: ready ones, and those waiting out a retry delay.
      metrics.addQueue('webhooks', () => this.ready.length + this.timers.size);
    }
  }

  /** @internal Whether deliveries are BullMQ jobs shared by the replicas (the `cluster` option). */
  get clustered(): boolean {
    return this.cluster.enabled;
  }

  /** @internal Registers an async webhook's handler (by the explorer). */
  register(handler: string, call: (event: TriggerEvent) => unknown, agent?: string): void {
    this.handlers.set(handler, { call, agent });
  }

  /** Records a delivery durably and queues it; resolves once it is in the store (and, on several replicas, in Redis). */
  async enqueue(delivery: AsyncDelivery): Promise<void> {
    const now = Date.now();
    const { event } = delivery;
    const job: RunJob = {
      handler: delivery.handler,
      event: { body: event.body, headers: withoutSecrets(event.headers), source: event.source, timestamp: event.timestamp.getTime() },
      principal: delivery.principal ? { userId: delivery.principal.userId, provider: delivery.principal.provider, trusted: delivery.principal.trusted } : null,
      attempts: 0,
      maxAttempts: delivery.maxAttempts,
      retryDelay: delivery.retryDelay,
      nextAttemptAt: now,
    };
    // Written before the 202: a store failure fails the request (the sender retries), never loses it.
    try {
      await this.recorder.store.create(queuedRecord(delivery.runId, event.source, now, job));
    } catch (error) {
      this.logger.error(`${job.handler} (${event.source}): the delivery could not be recorded in the run store: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
      throw new DefinableHttpError(503, 'store_unavailable', 'The delivery could not be recorded: the run store does not answer. Send it again in a moment.');
    }
    if (!this.cluster.enabled) return this.schedule(delivery.runId, now);
    try {
      await this.queue().add(delivery.runId, { runId: delivery.runId, trigger: event.source, createdAt: now, job }, job.maxAttempts);
    } catch (error) {
      // Not queued: the record must not stay `queued` for a job nobody has (the sender is told to retry).
      const detail = error instanceof Error ? error.message : String(error);
      this.logger.error(`${job.handler} (${event.source}): the delivery could not be queued in Redis: ${redactSecrets(detail)}`);
      await this.recorder.store
        .write(delivery.runId, [], { status: 'failed', endedAt: Date.now(), error: { code: 'internal', message: 'The delivery could not be queued; send it again.' } })
        .catch(() => undefined);
      throw new DefinableHttpError(503, 'queue_unavailable', 'The delivery could not be queued: Redis does not answer. Send it again in a moment.');
    }
    this.refreshCountsSoon();
  }

  /**
   * @internal Puts a delivery recorded `queued` back in the cluster's queue
   * (a no-op when BullMQ has its job): an idempotent re-delivery of one whose
   * replica died between recording and queuing it. Nothing to do on one node.
   */
  async resubmit(record: RunRecord): Promise<void> {
    if (!this.cluster.enabled || !this.recorder.store.shared || record.status !== 'queued' || !record.job) return;
    await this.queue().add(record.runId, clusterJob(record), record.job.maxAttempts);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.cluster.enabled) {
      this.queue().start();
      this.refreshCounts();
      this.countsTimer = setInterval(() => this.refreshCounts(), COUNTS_REFRESH_MS).unref();
      // What a replica recorded but died before queuing (never blocking bootstrap on Redis).
      if (this.recorder.store.shared) void this.requeueStored();
      return;
    }
    let jobs: RunRecord[];
    try {
      jobs = await this.recorder.store.queuedJobs();
    } catch (error) {
      // The app starts all the same: what was queued stays in the store for the next start.
      this.logger.error(`could not read the queued webhook deliveries from the run store: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
      return;
    }
    if (jobs.length) this.logger.log(`${jobs.length} queued webhook deliver${jobs.length === 1 ? 'y' : 'ies'} taken up`);
    for (const record of jobs) this.schedule(record.runId, record.job!.nextAttemptAt);
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Attempts under way drain with the runs (RunTracker); what waits stays queued in the store (in Redis, for the other replicas).
    this.stopping = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.ready.length = 0;
    // The worker takes no new job from here on; not awaited: its jobs' runs drain with the others
    // (RunTracker), and Nest 12 runs these hooks one after another, so waiting here would hold the drain.
    this.workerStopped = this.bull?.stop().catch((error: unknown) => this.queueFailed('stopping the worker', error));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.countsTimer) clearInterval(this.countsTimer);
    if (this.countsSoon) clearTimeout(this.countsSoon);
    // Bounded: BullMQ's graceful close waits for Redis, which may be away.
    if (this.workerStopped) await settleWithin(this.workerStopped, 5_000);
    await this.bull?.close();
  }

  private schedule(runId: string, at: number): void {
    if (this.stopping) return;
    clearTimeout(this.timers.get(runId));
    this.timers.set(
      runId,
      setTimeout(() => {
        this.timers.delete(runId);
        this.ready.push(runId);
        this.next();
      }, Math.max(0, at - Date.now())),
    );
  }

  private next(): void {
    while (!this.stopping && this.active < CONCURRENCY && this.ready.length) {
      const runId = this.ready.shift()!;
      this.active++;
      void this.runs.trackPending(this.attempt(runId)).finally(() => {
        this.active--;
        this.next();
      });
    }
  }

  private async attempt(runId: string): Promise<void> {
    const { store } = this.recorder;
    const record = await store.get(runId).catch(() => null);
    if (!record?.job || record.status !== 'queued') return;
    const job: RunJob = { ...record.job, attempts: record.job.attempts + 1 };
    // Counted before the handler runs: an attempt a crash cuts is one of maxAttempts.
    await store.write(runId, [], { status: 'running', job });
    const outcome = await this.handle(runId, job);
    if (outcome.kind === 'retry') this.schedule(runId, outcome.at);
  }

  /**
   * One attempt of a cluster job, on whichever replica BullMQ handed it to.
   * The record is kept in step in this replica's run store (created there
   * when the store is this replica's own and does not have it).
   */
  private async process(bullJob: BullJob<ClusterJobData>): Promise<BullOutcome> {
    const { runId, trigger, createdAt } = bullJob.data;
    const { store } = this.recorder;
    const record = await store.get(runId);
    // Ended already: its job is handed out again because the end was not acknowledged (its replica died just then).
    if (record && hasEnded(record.status)) return { kind: 'done' };
    // Every start counts, those a crash cut too (the embedded queue's rule).
    const job: RunJob = { ...bullJob.data.job, attempts: Math.max(1, bullJob.attemptsStarted) };
    if (job.attempts > job.maxAttempts) {
      const error = { code: 'interrupted' as const, message: 'The process running this delivery stopped before it ended, on its last attempt.' };
      this.logger.error(`${job.handler} (${job.event.source}) failed: the replicas running it stopped on all ${job.maxAttempts} attempts`);
      const change = { status: 'failed' as const, endedAt: Date.now(), error, job };
      await this.upsert(record, { ...queuedRecord(runId, trigger, createdAt, job), ...change }, change);
      return { kind: 'fail', error: new Error(error.message) };
    }
    // Counted before the handler runs; with a shared store, the owner's death gives the record back to `queued`.
    const change = { status: 'running' as const, job, ...(store.shared ? { owner: this.cluster.replicaId } : {}) };
    await this.upsert(record, { ...queuedRecord(runId, trigger, createdAt, job), ...change }, change);
    const outcome = await this.handle(runId, job);
    this.refreshCountsSoon();
    if (outcome.kind === 'done' || outcome.kind === 'requeue') return outcome;
    return { kind: outcome.kind === 'retry' ? 'retry' : 'fail', error: new Error(outcome.detail) };
  }

  /** Writes a cluster job's record: `change` where the store has it, the whole `record` where it does not (a store of another replica's). */
  private async upsert(held: RunRecord | null, record: RunRecord, change: RunChange): Promise<void> {
    const { store } = this.recorder;
    await (held ? store.write(record.runId, [], change) : store.create(record));
  }

  /**
   * Runs one attempt of a job whose record says `running`: calls the handler
   * and runs the agent with what it returns, then records how it ended.
   */
  private async handle(runId: string, job: RunJob): Promise<AttemptOutcome> {
    const { store } = this.recorder;
    const handler = this.handlers.get(job.handler);
    if (!handler) return this.fail(runId, job, new AgentError('internal', `No async webhook handler ${job.handler} in this app: was it renamed or removed?`));
    const event: TriggerEvent = { body: job.event.body, headers: job.event.headers, source: job.event.source, timestamp: new Date(job.event.timestamp), raw: null };
    try {
      const output = await this.executor.execute((await handler.call(event)) as never, event, handler.agent, (job.principal ?? undefined) as AuthContext | undefined, runId);
      await this.recorded(runId);
      if (!output) await store.write(runId, [], { status: 'completed', endedAt: Date.now(), output: null, error: null });
      return { kind: 'done' };
    } catch (error) {
      await this.recorded(runId);
      if (this.stopping && error instanceof AgentError && (error.code === 'shutting_down' || error.code === 'cancelled')) {
        // Cut by shutdown: back to the queue for the next start (another replica, on several).
        await store.resetRun(runId, { status: 'queued', endedAt: null, output: null, error: null, job: { ...job, nextAttemptAt: Date.now() } });
        return { kind: 'requeue' };
      }
      return this.fail(runId, job, error);
    }
  }

  /**
   * On several replicas, waits for the run's last write: the job is acknowledged only once its record has
   * ended (else a replica dying in between leaves a record nobody runs again), and a retry's reset is not
   * overtaken by the run's own end.
   */
  private async recorded(runId: string): Promise<void> {
    const live = this.cluster.enabled ? this.recorder.find(runId) : undefined;
    if (live?.isOver) await live.ended;
  }

  /** Records a failed attempt: the job queued again for its retry, or `failed` once its attempts are spent. */
  private async fail(runId: string, job: RunJob, thrown: unknown): Promise<AttemptOutcome> {
    const error = thrown instanceof AgentError ? { code: thrown.code, message: thrown.message } : { code: 'internal' as const, message: 'The webhook handler failed; the server log has the details.' };
    const detail = thrown instanceof Error ? thrown.message : String(thrown);
    if (job.attempts < job.maxAttempts) {
      const delay = retryDelay(job.retryDelay, job.attempts);
      this.logger.warn(`${job.handler} (${job.event.source}) attempt ${job.attempts} of ${job.maxAttempts} failed, retrying in ${delay} ms: ${redactSecrets(detail)}`);
      const nextAttemptAt = Date.now() + delay;
      await this.recorder.store.resetRun(runId, { status: 'queued', endedAt: null, output: null, error, job: { ...job, nextAttemptAt } });
      return { kind: 'retry', at: nextAttemptAt, detail };
    }
    this.logger.error(`${job.handler} (${job.event.source}) failed after ${job.attempts} attempts: ${redactSecrets(detail)}`);
    await this.recorder.store.write(runId, [], { status: 'failed', endedAt: Date.now(), error, job });
    return { kind: 'failed', detail };
  }

  /** The cluster's BullMQ queue (made on first use: bootstrap, or a delivery arriving before it). */
  private queue(): BullQueue<ClusterJobData> {
    this.bull ??= new BullQueue<ClusterJobData>(this.cluster.config!, {
      name: 'webhooks',
      concurrency: CONCURRENCY,
      processor: (job) => this.runs.trackPending(this.process(job)),
      backoff: (job) => retryDelay(job.data.job.retryDelay, Math.max(1, job.attemptsStarted)),
      onError: (error) => this.queueFailed('queue', error),
    });
    return this.bull;
  }

  /** Queues again what a shared run store shows queued (each a no-op where BullMQ has the job). */
  private async requeueStored(): Promise<void> {
    try {
      const records = await this.recorder.store.queuedJobs();
      await this.queue().addBulk(records.map((record) => ({ id: record.runId, data: clusterJob(record), attempts: record.job!.maxAttempts })));
    } catch (error) {
      this.queueFailed('queuing recorded deliveries again', error);
    }
  }

  private refreshCounts(): void {
    if (!this.bull) return;
    this.bull.counts().then(
      (counts) => (this.counts = counts),
      (error: unknown) => this.queueFailed('reading the queue counts', error),
    );
  }

  private refreshCountsSoon(): void {
    if (this.countsSoon || this.stopping) return;
    this.countsSoon = setTimeout(() => {
      this.countsSoon = undefined;
      this.refreshCounts();
    }, COUNTS_SOON_MS).unref();
  }

  /** Logs a queue error (at most one every 10 s: a Redis that is down repeats them on every retry). */
  private queueFailed(what: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastQueueError < 10_000) return;
    this.lastQueueError = now;
    this.logger.error(`BullMQ (${what}): ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
  }
}

/** The wait before the attempt after attempt `attempts`: `retryDelay`, doubling, at most 5 minutes. */
function retryDelay(first: number, attempts: number): number {
  return Math.min(MAX_RETRY_DELAY, first * 2 ** (attempts - 1));
}

/** A delivery's record as it is queued. */
function queuedRecord(runId: string, trigger: string, createdAt: number, job: RunJob): RunRecord {
  return {
    runId,
    agent: '',
    userId: job.principal?.userId ?? null,
    sessionId: '',
    trigger,
    status: 'queued',
    background: true,
    createdAt,
    endedAt: null,
    output: null,
    error: null,
    lastSeq: 0,
    job,
  };
}

/** A recorded delivery as a cluster job. */
function clusterJob(record: RunRecord): ClusterJobData {
  return { runId: record.runId, trigger: record.trigger, createdAt: record.createdAt, job: { ...record.job!, attempts: 0 } };
}

function withoutSecrets(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !SECRET_HEADERS.has(name.toLowerCase())));
}
