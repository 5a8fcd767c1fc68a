import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AgentError } from '../agent';
import type { AuthContext } from '../auth';
import { redactSecrets } from '../module/redact';
import { DefinableMetrics } from '../module/telemetry/definable-metrics';
import { RunTracker } from '../module/run.tracker';
import { RunRecorder } from '../module/runs/run-recorder';
import type { RunJob, RunRecord } from '../module/runs/run-store';
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

/**
 * The durable queue of `@Webhook(path, { mode: 'async' })`: a delivery is
 * written to the run store (as a `queued` run with its job) before the sender
 * gets 202, then handled here — the handler called with the `TriggerEvent`, the
 * agent run with what it returns — up to 4 at once. A failing attempt (the
 * handler throws, or the run does not complete) is retried after
 * `retryDelay`, doubling, up to `maxAttempts`; then the run is `failed`. Jobs
 * left by a stopped process are taken up at start (the attempt a crash cut
 * counts). With a `SqliteRunStore` nothing queued is lost across a crash.
 */
@Injectable()
export class WebhookQueue implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Definable:Webhooks');
  private readonly handlers = new Map<string, AsyncHandler>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly ready: string[] = [];
  private active = 0;
  private stopping = false;

  constructor(
    private readonly recorder: RunRecorder,
    private readonly executor: TriggerExecutor,
    private readonly runs: RunTracker,
    metrics: DefinableMetrics,
  ) {
    // Waiting jobs: ready ones, and those waiting out a retry delay.
    metrics.addQueue('webhooks', () => this.ready.length + this.timers.size);
  }

  /** @internal Registers an async webhook's handler (by the explorer). */
  register(handler: string, call: (event: TriggerEvent) => unknown, agent?: string): void {
    this.handlers.set(handler, { call, agent });
  }

  /** Records a delivery durably and queues it; resolves once it is in the store. */
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
    await this.recorder.store.create({
      runId: delivery.runId,
      agent: '',
      userId: job.principal?.userId ?? null,
      sessionId: '',
      trigger: event.source,
      status: 'queued',
      background: true,
      createdAt: now,
      endedAt: null,
      output: null,
      error: null,
      lastSeq: 0,
      job,
    });
    this.schedule(delivery.runId, now);
  }

  async onApplicationBootstrap(): Promise<void> {
    const jobs = await this.recorder.store.queuedJobs();
    if (jobs.length) this.logger.log(`${jobs.length} queued webhook deliver${jobs.length === 1 ? 'y' : 'ies'} taken up`);
    for (const record of jobs) this.schedule(record.runId, record.job!.nextAttemptAt);
  }

  beforeApplicationShutdown(): void {
    // Attempts under way drain with the runs (RunTracker); what waits stays queued in the store.
    this.stopping = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.ready.length = 0;
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
    const handler = this.handlers.get(job.handler);
    if (!handler) {
      await this.fail(record, job, new AgentError('internal', `No async webhook handler ${job.handler} in this app: was it renamed or removed?`));
      return;
    }
    const event: TriggerEvent = { body: job.event.body, headers: job.event.headers, source: job.event.source, timestamp: new Date(job.event.timestamp), raw: null };
    try {
      const output = await this.executor.execute((await handler.call(event)) as never, event, handler.agent, (job.principal ?? undefined) as AuthContext | undefined, runId);
      if (!output) await store.write(runId, [], { status: 'completed', endedAt: Date.now(), output: null, error: null });
    } catch (error) {
      if (this.stopping && error instanceof AgentError && (error.code === 'shutting_down' || error.code === 'cancelled')) {
        // Cut by shutdown: back to the queue for the next start.
        await store.resetRun(runId, { status: 'queued', endedAt: null, output: null, error: null, job: { ...job, nextAttemptAt: Date.now() } });
        return;
      }
      await this.fail(record, job, error);
    }
  }

  /** Retries the job after its delay, or marks it `failed` once its attempts are spent. */
  private async fail(record: RunRecord, job: RunJob, thrown: unknown): Promise<void> {
    const error = thrown instanceof AgentError ? { code: thrown.code, message: thrown.message } : { code: 'internal' as const, message: 'The webhook handler failed; the server log has the details.' };
    const detail = thrown instanceof Error ? thrown.message : String(thrown);
    if (job.attempts < job.maxAttempts) {
      const delay = Math.min(MAX_RETRY_DELAY, job.retryDelay * 2 ** (job.attempts - 1));
      this.logger.warn(`${job.handler} (${job.event.source}) attempt ${job.attempts} of ${job.maxAttempts} failed, retrying in ${delay} ms: ${redactSecrets(detail)}`);
      const nextAttemptAt = Date.now() + delay;
      await this.recorder.store.resetRun(record.runId, { status: 'queued', endedAt: null, output: null, error, job: { ...job, nextAttemptAt } });
      this.schedule(record.runId, nextAttemptAt);
      return;
    }
    this.logger.error(`${job.handler} (${job.event.source}) failed after ${job.attempts} attempts: ${redactSecrets(detail)}`);
    await this.recorder.store.write(record.runId, [], { status: 'failed', endedAt: Date.now(), error, job });
  }
}

function withoutSecrets(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !SECRET_HEADERS.has(name.toLowerCase())));
}
