import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { RunContext, RunOutput } from '../agent';
import { AgentRegistry } from '../module/agent.registry';
import type { TriggerEvent } from './trigger-event';
import { TriggerExecutor } from './trigger.executor';
import type { CronMetadata, OnEventMetadata } from './trigger.metadata';
import { TriggerRegistry } from './trigger.registry';
import { DefinableCluster } from '../module/cluster/definable-cluster';
import { cronSchedule, scheduledInstant, TriggerCronJob } from './trigger-cron-job';
import type { Cron } from 'croner';

/** How long a claimed tick stays claimed: far beyond any clock skew between replicas. */
const TICK_CLAIM_TTL = 60 * 60 * 1000;

/** Where a trigger is declared: for messages and the registry. */
export interface TriggerSite {
  className: string;
  methodName: string;
  /** `Class.method`, or `agent.on(#n)` for triggers declared on an agent. */
  label: string;
}

/** Calls the user's method with the trigger's event; its result goes to the executor. */
export type TriggerCall = (event: TriggerEvent) => unknown;

interface CronDefinition {
  site: TriggerSite;
  call: TriggerCall;
  meta: CronMetadata;
  jobName: string;
}
interface EventDefinition {
  site: TriggerSite;
  call: TriggerCall;
  meta: OnEventMetadata;
}
interface HookDefinition {
  kind: 'beforeRequest' | 'afterResponse';
  label: string;
  call: (arg: RunContext | RunOutput) => unknown;
  agent?: string;
}

/**
 * Starts and stops what the {@link TriggerExplorer} found, as
 * `@nestjs/schedule`'s orchestrator does: in `onApplicationBootstrap` it mounts
 * the cron jobs (on croner, whose schedules are right across daylight-saving
 * changes; listed and controlled through `TriggerRegistry`), the event listeners (on the app's `EventEmitter2` when it
 * imports `EventEmitterModule`, else on a private one that `agent.emit()`
 * feeds) and the hooks; in `beforeApplicationShutdown` it stops intake (no cron
 * tick or event starts a run after that, while runs in flight drain); in
 * `onApplicationShutdown` it takes everything down.
 */
@Injectable()
export class TriggerOrchestrator implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Triggers');
  private readonly crons: CronDefinition[] = [];
  private readonly events: EventDefinition[] = [];
  private readonly hooks: HookDefinition[] = [];
  /** Undoes what lets new runs in: first thing at shutdown, before the drain. */
  private readonly intake: (() => void)[] = [];
  private readonly teardown: (() => void)[] = [];
  private readonly emitter: EventEmitter2;
  /** The emitter made here when the app has none. */
  private readonly ownEmitter?: EventEmitter2;

  constructor(
    private readonly agents: AgentRegistry,
    private readonly executor: TriggerExecutor,
    private readonly registry: TriggerRegistry,
    private readonly cluster: DefinableCluster,
    // The app's own, when it imports EventEmitterModule: one emitter per app. The scheduler is only
    // looked at, for the explorer's warning about @nestjs/schedule decorators without their module.
    @Optional() appEmitter?: EventEmitter2,
    @Optional() private readonly scheduler?: SchedulerRegistry,
  ) {
    this.emitter = appEmitter ?? new EventEmitter2();
    if (!appEmitter) this.ownEmitter = this.emitter;
  }

  /** Whether the app has its own `EventEmitter2` / `SchedulerRegistry` (`EventEmitterModule` / `ScheduleModule` imported). */
  get appModules(): { events: boolean; schedule: boolean } {
    return { events: this.ownEmitter === undefined, schedule: this.scheduler !== undefined };
  }

  /** Schedules a validated cron trigger (mounted at bootstrap). */
  addCron(site: TriggerSite, call: TriggerCall, meta: CronMetadata, jobName: string): void {
    this.crons.push({ site, call, meta, jobName });
  }

  /** Listens for a validated event trigger (mounted at bootstrap). */
  addEvent(site: TriggerSite, call: TriggerCall, meta: OnEventMetadata): void {
    this.events.push({ site, call, meta });
  }

  /** Runs a `@BeforeRequest` / `@AfterResponse` method around runs (mounted at bootstrap). */
  addHook(kind: HookDefinition['kind'], label: string, call: HookDefinition['call'], agent?: string): void {
    this.hooks.push({ kind, label, call, agent });
  }

  onApplicationBootstrap(): void {
    for (const agent of this.agents.all()) {
      this.teardown.push(agent.attachEmitter((name, data) => this.emitter.emit(name, data)));
    }
    for (const hook of this.hooks) this.mountHook(hook);
    for (const definition of this.events) this.mountEvent(definition);
    for (const definition of this.crons) this.mountCron(definition);
    this.registry.startCronJobs();
  }

  /** Stops intake before runs in flight drain: no cron tick and no event starts a run from here on. */
  beforeApplicationShutdown(): void {
    this.registry.stopCronJobs();
    for (const undo of this.intake.splice(0)) undo();
  }

  onApplicationShutdown(): void {
    this.beforeApplicationShutdown();
    for (const undo of this.teardown.splice(0)) undo();
  }

  private mountCron({ site, call, meta, jobName }: CronDefinition): void {
    const source = `cron(${meta.expression})`;
    const skipOverlap = (meta.overlap ?? 'skip') === 'skip';
    let running = 0;
    const run = async (instant: Date) => {
      const event: TriggerEvent = { body: undefined, headers: {}, source, timestamp: instant, raw: undefined };
      await this.executor.invoke(site.label, () => call(event), event, meta.agent);
    };
    const onTick = async (cron: Cron) => {
      if (running > 0 && skipOverlap) {
        this.logger.warn(`${site.label} (${source}): skipped a tick, the previous run is still going (overlap: 'skip').`);
        return;
      }
      running++;
      try {
        if (this.cluster.enabled) await this.runClaimed(site, jobName, source, scheduledInstant(cron), skipOverlap, run);
        else await run(new Date());
      } finally {
        running--;
      }
    };
    const cron = cronSchedule(meta.expression, meta.timezone, onTick);
    const job = new TriggerCronJob(jobName, meta.expression, meta.timezone, cron);
    this.registry.setCronJob(jobName, job);
    this.teardown.push(() => job.dispose());
    if (this.cluster.enabled && this.cluster.config!.missedTicks === 'once') void this.catchUp(site, jobName, source, cron, skipOverlap, run);
  }

  /**
   * On several replicas: runs the tick of `instant` only if this replica is
   * the one that claims `(job, instant)` — and, with `overlap: 'skip'`, only
   * if no replica still runs an earlier tick of the job.
   */
  private async runClaimed(site: TriggerSite, jobName: string, source: string, instant: Date | undefined, skipOverlap: boolean, run: (instant: Date) => Promise<void>): Promise<void> {
    if (!instant) return;
    const cluster = this.cluster;
    try {
      if (!(await cluster.claim(cluster.key('cron', jobName, String(instant.getTime())), TICK_CLAIM_TTL))) return;
      // Remembered for the catch-up of ticks missed while no replica was up (only missedTicks: 'once' reads it).
      if (cluster.config!.missedTicks === 'once') await cluster.redis.set(cluster.key('cron', jobName, 'last'), String(instant.getTime()));
    } catch (error) {
      this.logger.error(`${site.label} (${source}): the tick of ${instant.toISOString()} was not run: Redis could not be reached to claim it (${error instanceof Error ? error.message : String(error)}).`);
      return;
    }
    if (!skipOverlap) return run(instant);
    const lease = cluster.lease(cluster.key('cron', jobName, 'running'));
    if (!(await lease.acquire().catch(() => false))) {
      this.logger.warn(`${site.label} (${source}): skipped the tick of ${instant.toISOString()}, a run of an earlier tick is still going on another replica (overlap: 'skip').`);
      return;
    }
    lease.keep((reason) => this.logger.warn(`${site.label} (${source}): lost the job's overlap lease while running (${reason}).`));
    try {
      await run(instant);
    } finally {
      await lease.release().catch(() => lease.stopKeeping());
    }
  }

  /** `missedTicks: 'once'`: the latest tick missed since the last one any replica ran is run now, once across the replicas. */
  private async catchUp(site: TriggerSite, jobName: string, source: string, cron: Cron, skipOverlap: boolean, run: (instant: Date) => Promise<void>): Promise<void> {
    try {
      const last = Number(await this.cluster.redis.get(this.cluster.key('cron', jobName, 'last')));
      const missed = cron.previousRuns(1, new Date())[0];
      // Never run: nothing was missed (a job's first deploy runs from its next tick).
      if (!last || !missed || missed.getTime() <= last) return;
      this.logger.log(`${site.label} (${source}): catching up the tick of ${missed.toISOString()}, missed while no replica was up (missedTicks: 'once').`);
      await this.runClaimed(site, jobName, source, missed, skipOverlap, run);
    } catch (error) {
      this.logger.error(`${site.label} (${source}): could not check for missed ticks: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private mountEvent({ site, call, meta }: EventDefinition): void {
    const source = `event(${meta.event})`;
    const listener = (data: unknown) => {
      const event: TriggerEvent = { body: data, headers: {}, source, timestamp: new Date(), raw: data };
      // emit() returns at once: the handler and its run happen after it.
      void this.executor.defer(site.label, () => call(event), event, meta.agent);
    };
    this.emitter.on(meta.event, listener);
    this.intake.push(() => this.emitter.off(meta.event, listener));
  }

  private mountHook({ kind, label, call, agent: name }: HookDefinition): void {
    const decorator = kind === 'beforeRequest' ? '@BeforeRequest' : '@AfterResponse';
    const hook = async (arg: RunContext | RunOutput) => {
      try {
        await call(arg);
      } catch (error) {
        this.logger.error(`${decorator} ${label} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    for (const agent of name ? [this.agents.get(name)] : this.agents.all()) {
      this.teardown.push(kind === 'beforeRequest' ? agent.beforeRequest(hook) : agent.afterResponse(hook));
    }
  }
}
