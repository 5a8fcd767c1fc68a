import { Injectable } from '@nestjs/common';
import type { TriggerCronJob } from './trigger-cron-job';

/** A discovered trigger: what it is and where it lives. */
export interface TriggerInfo {
  kind: 'webhook' | 'cron' | 'event';
  /** `'POST /hooks/github'` (the controller and route path, before any global prefix), `'cron(0 9 * * *)'`, `'event(user_signup)'`. */
  source: string;
  className: string;
  methodName: string;
  /** The named agent it runs, if not the default. */
  agent?: string;
  /** Cron: the job's name (see `TriggerRegistry.cronJob`). */
  jobName?: string;
  /** Cron: the time zone. */
  timezone?: string;
}

/**
 * The triggers found at module init, and the runtime handle on them: list
 * them, and stop or start the cron jobs (mounted at bootstrap).
 */
@Injectable()
export class TriggerRegistry {
  private readonly triggers: TriggerInfo[] = [];
  private readonly jobs = new Map<string, TriggerCronJob>();

  /** Records a trigger (called by the explorer). */
  add(info: TriggerInfo, job?: TriggerCronJob): void {
    this.triggers.push(info);
    if (job && info.jobName) this.jobs.set(info.jobName, job);
  }

  /** Records the job of a cron trigger (called by the orchestrator when it mounts it at bootstrap). */
  setCronJob(name: string, job: TriggerCronJob): void {
    this.jobs.set(name, job);
  }

  /** Whether a cron trigger of this name is recorded. */
  hasCron(name: string): boolean {
    return this.triggers.some((trigger) => trigger.kind === 'cron' && trigger.jobName === name);
  }

  /** Every trigger, or those of one kind. */
  list(kind?: TriggerInfo['kind']): TriggerInfo[] {
    return kind ? this.triggers.filter((trigger) => trigger.kind === kind) : [...this.triggers];
  }

  /** A cron job by name (from bootstrap on). */
  cronJob(name: string): TriggerCronJob | undefined {
    return this.jobs.get(name);
  }

  /** Starts every cron job. */
  startCronJobs(): void {
    for (const job of this.jobs.values()) job.start();
  }

  /** Stops every cron job (no new ticks; runs in flight go on). */
  stopCronJobs(): void {
    for (const job of this.jobs.values()) job.stop();
  }
}
