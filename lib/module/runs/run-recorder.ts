import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { RunErrorInfo, RunEvent, RunOutput } from '../../agent';
import { isTerminalEvent } from '../../agent/run-events';
import type { DefinableModuleOptions } from '../definable-module.options';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import { DefinableCluster } from '../cluster/definable-cluster';
import { InMemoryRunStore } from './in-memory-run-store';
import { hasEnded } from './run-store';
import type { DefinableStores } from '../definable-stores';
import type { RecordedEvent, RecordedRunOutput, RecordedRunStatus, RunChange, RunRecord, RunStore } from './run-store';

/** How often a live run's new events are written to the store (a stream's tokens go in batches). */
const FLUSH_INTERVAL_MS = 200;
/** How long `cancel()` waits for another replica's run to end. */
const CANCEL_WAIT_MS = 10_000;
/** How often it looks. */
const CANCEL_POLL_MS = 100;
/** How often ended runs past the retention are pruned. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** What a listener of a live run hears: each event, then the end. */
export interface RunListener {
  event(recorded: RecordedEvent): void;
  end(record: RunRecord): void;
}

/**
 * A run in flight in this process: its events so far (in memory, so a reader
 * of this process never waits for the store), its listeners, and its
 * controller (`POST /runs/:id/cancel`). Events reach the store in batches.
 */
export class LiveRun {
  /** Every event of this process's part of the run so far; `events[i].seq === firstSeq + i + 1`. */
  readonly events: RecordedEvent[] = [];
  /** Events recorded before this part: those of a paused run, when this is its continuation. */
  readonly firstSeq: number;
  /** Resolves with the record once the run has ended and its last write is done. */
  readonly ended: Promise<RunRecord>;
  private readonly listeners = new Set<RunListener>();
  private unwritten = 0;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void>;
  private resolveEnded!: (record: RunRecord) => void;
  private startedRunning: boolean;
  /** Whether the store has the run yet (see the constructor). */
  private created: boolean;

  constructor(
    readonly record: RunRecord,
    /** Aborting it cancels the run. */
    readonly controller: AbortController,
    private readonly recorder: RunRecorder,
    /**
     * Write the run at once (a background run, or one whose id its caller
     * already holds). Otherwise it reaches the store with its first batch of
     * events — at the end of a short run, one write in all — and readers of
     * this process find it live meanwhile.
     */
    durable: boolean,
  ) {
    this.firstSeq = record.lastSeq;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.startedRunning = record.status === 'running';
    this.created = durable;
    this.writes = durable ? recorder.write(() => recorder.store.create({ ...record })) : Promise.resolve();
    this.stored = this.writes;
  }

  /**
   * Settles once a durable run's first write is done (at once for others):
   * from then on every process on a shared store finds it. Never rejects (a
   * failing store is logged).
   */
  readonly stored: Promise<void>;

  /** Whether this process's part of the run is over (it ended, or paused for approvals: {@link LiveRun.abandon}). */
  get isOver(): boolean {
    return this.record.status === 'paused' || hasEnded(this.record.status);
  }

  /** The events of this part with `seq` greater than `afterSeq`. */
  eventsAfter(afterSeq: number): RecordedEvent[] {
    return this.events.slice(Math.max(0, afterSeq - this.firstSeq));
  }

  /** Records an event; a terminal one ends the run (see {@link LiveRun.finish}). Returns its sequence number. */
  push(event: RunEvent): number {
    const recorded = { seq: this.firstSeq + this.events.length + 1, event };
    this.events.push(recorded);
    this.record.lastSeq = recorded.seq;
    this.unwritten++;
    for (const listener of this.listeners) listener.event(recorded);
    if (!this.startedRunning) {
      this.startedRunning = true;
      this.record.status = 'running';
    }
    // A terminal event is written by finish() at once: no timer for it (a JSON run's only event).
    if (!this.timer && !isTerminalEvent(event.event)) this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS).unref();
    return recorded.seq;
  }

  /** Ends the run with its terminal event (already {@link LiveRun.push}ed); `status` overrides the one the event implies. */
  finish(event: RunEvent, status?: RecordedRunStatus): void {
    const output = 'output' in event ? (event.output as RunOutput) : undefined;
    const implied: RecordedRunStatus =
      event.event === 'RunCompleted' ? 'completed' : event.event === 'RunError' ? 'error' : event.event === 'RunPaused' ? 'paused' : 'cancelled';
    const error: RunErrorInfo | null =
      status === 'interrupted'
        ? { code: 'interrupted', message: 'The server shut down before the run finished.' }
        : (output?.error ?? (event.event === 'RunCancelled' ? { code: 'cancelled', message: event.reason } : null));
    const final = status ?? implied;
    // A paused run has not ended: it goes on under its id once its approvals are decided.
    this.end({ status: final, endedAt: final === 'paused' ? null : Date.now(), output: output ? recordedOutput(output) : null, error });
  }

  /** @internal The store has the run already (a paused run's continuation). */
  markStored(): void {
    this.created = true;
    this.writes = this.recorder.write(() => this.recorder.store.write(this.record.runId, [], { status: 'running', endedAt: null, output: null, error: null, ...(this.record.owner ? { owner: this.record.owner } : {}) }));
  }

  /** Ends a run that stopped without a terminal event (its consumer left the stream). */
  abandon(status: RecordedRunStatus, error: RunErrorInfo): void {
    if (!this.isOver) this.end({ status, endedAt: Date.now(), output: null, error });
  }

  /** Listens until the run ends; returns a function that stops listening. */
  listen(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private end(change: Required<Pick<RunChange, 'status' | 'endedAt' | 'output' | 'error'>>): void {
    if (this.isOver) return;
    Object.assign(this.record, change);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.takeUnwritten();
    const record = { ...this.record };
    this.writes = this.writes.then(() => this.recorder.write(() => this.store(record, batch, change)));
    void this.writes.then(() => {
      this.recorder.forget(this);
      this.resolveEnded(record);
      for (const listener of this.listeners) listener.end(record);
      this.listeners.clear();
    });
  }

  private flush(): void {
    this.timer = undefined;
    if (this.isOver || this.unwritten === 0) return;
    const batch = this.takeUnwritten();
    const record = { ...this.record };
    const change: RunChange | undefined = record.status === 'running' ? { status: 'running' } : undefined;
    this.writes = this.writes.then(() => this.recorder.write(() => this.store(record, batch, change)));
  }

  /** Writes a batch and a change: with the run itself if the store does not have it yet. */
  private store(record: RunRecord, batch: RecordedEvent[], change: RunChange | undefined): Promise<void> {
    if (this.created) return this.recorder.store.write(record.runId, batch, change);
    this.created = true;
    return this.recorder.store.create(record, batch);
  }

  /** The events not yet written, as the store keeps them (outputs without `messages`). */
  private takeUnwritten(): RecordedEvent[] {
    const batch = this.events.slice(this.events.length - this.unwritten).map(storedEvent);
    this.unwritten = 0;
    return batch;
  }
}

/**
 * Records the runs `AgentRunner` admits in the module's {@link RunStore}
 * (`runStore`, default {@link InMemoryRunStore}), keeps the live ones of this
 * process at hand for readers and cancellation, marks runs a dead process left
 * behind `interrupted` at start, and prunes past the retention. A failing
 * store is logged and never fails a run.
 */
@Injectable()
export class RunRecorder implements OnModuleInit, OnApplicationShutdown {
  /** The module's run store. */
  readonly store: RunStore;
  private readonly logger = new Logger('Definable:Runs');
  private readonly live = new Map<string, LiveRun>();
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly stores?: DefinableStores;

  constructor(
    @Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions,
    private readonly cluster: DefinableCluster,
  ) {
    this.store = options?.runStore ?? options?.stores?.runs ?? new InMemoryRunStore();
    this.stores = options?.stores;
  }

  async onModuleInit(): Promise<void> {
    const now = Date.now();
    if (this.cluster.enabled && !this.store.shared) {
      this.logger.warn('the app runs on several replicas (cluster) with a run store of its own process: GET /runs/:id, resumable streams and idempotency keys only see this replica\'s runs. Give every replica one shared store (postgresStores(), or a PostgresRunStore as runStore).');
    }
    if (this.cluster.enabled && this.store.shared) {
      // A cancel sent to another replica (POST /runs/:id/cancel there) for a run that lives here.
      this.cluster.subscribe('cancel', (message) => {
        const { runId, reason } = JSON.parse(message) as { runId: string; reason: string };
        const live = this.live.get(runId);
        if (live && !live.isOver) live.controller.abort(reason);
      });
      // Other replicas' runs are going on: only a replica found gone has its runs recovered.
      this.cluster.onReplicaGone(async (replicaId, at) => {
        const ended = await this.store.recover(at, replicaId);
        if (ended.length) this.logger.warn(`${ended.length} run(s) left unfinished by replica ${replicaId} are now "interrupted"`);
      });
    } else {
      // A store that cannot be reached now is logged, not fatal: the app starts and says it is not ready.
      await this.write(async () => {
        const interrupted = await this.store.recover(now);
        if (interrupted.length) this.logger.warn(`${interrupted.length} run(s) left unfinished by a stopped process are now "interrupted"`);
      });
    }
    await this.write(() => this.store.prune(now));
    this.pruneTimer = setInterval(() => void this.write(() => this.store.prune(Date.now())), PRUNE_INTERVAL_MS).unref();
  }

  /** Starts recording a run (`durable`: write it to the store at once, see {@link LiveRun}). */
  begin(record: RunRecord, controller: AbortController, durable = record.background): LiveRun {
    if (this.cluster.enabled && this.store.shared) record.owner = this.cluster.replicaId;
    const run = new LiveRun(record, controller, this, durable);
    this.live.set(record.runId, run);
    return run;
  }

  /**
   * Records the continuation of a paused run (its approvals decided): the
   * run's record goes `running` again, its new events after those it had.
   */
  resume(record: RunRecord, controller: AbortController): LiveRun {
    const run = new LiveRun({ ...record, status: 'running', endedAt: null, output: null, error: null }, controller, this, false);
    // The store has the run: its first batch is a write, not a create.
    run.markStored();
    this.live.set(record.runId, run);
    return run;
  }

  /**
   * Records work that ran no agent under `runId` (a webhook delivery whose
   * handler returned nothing), completed at once, so an idempotent retry of
   * it is answered without calling the handler again.
   */
  async recordNothing(runId: string, trigger: string, userId: string | null): Promise<void> {
    const now = Date.now();
    await this.write(() =>
      this.store.create({ runId, agent: '', userId, sessionId: '', trigger, status: 'completed', background: false, createdAt: now, endedAt: now, output: null, error: null, lastSeq: 0 }),
    );
  }

  /**
   * Cancels a run that has not ended — live here, or (on several replicas)
   * on the replica running it, which hears of it through Redis — and resolves
   * with its record once it has ended, or as it stands after
   * `CANCEL_WAIT_MS` (a run no replica holds ends when its replica is found
   * gone). A run that ended is left as it is.
   */
  async cancel(record: RunRecord, reason: string): Promise<RunRecord> {
    const live = this.live.get(record.runId);
    if (live) {
      if (!live.isOver) live.controller.abort(reason);
      return live.ended;
    }
    if (!this.cluster.enabled || !this.store.shared || hasEnded(record.status) || record.status === 'paused') return record;
    await this.cluster.publish('cancel', JSON.stringify({ runId: record.runId, reason }));
    const deadline = Date.now() + CANCEL_WAIT_MS;
    let current: RunRecord | null = record;
    while (current && !hasEnded(current.status) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_MS));
      current = await this.store.get(record.runId);
    }
    return current ?? record;
  }

  /** The run if it is live in this process. */
  find(runId: string): LiveRun | undefined {
    return this.live.get(runId);
  }

  /** The run's record: live (current) or from the store. */
  async get(runId: string): Promise<RunRecord | null> {
    const live = this.live.get(runId);
    return live ? { ...live.record } : this.store.get(runId);
  }

  /** @internal Forgets a live run once its last write is done. */
  forget(run: LiveRun): void {
    if (this.live.get(run.record.runId) === run) this.live.delete(run.record.runId);
  }

  /** @internal A store call whose failure is logged, never thrown: recording must not fail runs. */
  async write(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.error(`the run store failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    // Runs are drained (or cancelled) before this hook: wait for their last writes.
    await Promise.all([...this.live.values()].map((run) => (run.isOver ? run.ended : undefined)));
    await this.store.close();
    // The module's shared stores go after the run store (its last writes), here: Nest 12 runs the
    // providers' shutdown hooks one after another, so no hook may wait for another's.
    await this.stores?.close?.().catch((error) => this.logger.error(`closing the stores failed: ${error instanceof Error ? error.message : String(error)}`));
  }
}

/** A run's output as the store keeps it. */
export function recordedOutput(output: RunOutput): RecordedRunOutput {
  const { messages: _messages, ...kept } = output;
  return kept;
}

/** An event as the store keeps it: a terminal event's output without `messages`. */
function storedEvent(recorded: RecordedEvent): RecordedEvent {
  const { event } = recorded;
  if (!('output' in event)) return recorded;
  return { seq: recorded.seq, event: { ...event, output: recordedOutput(event.output as RunOutput) } as RunEvent };
}
