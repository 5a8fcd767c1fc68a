import { Injectable } from '@nestjs/common';
import type { CronJob } from 'cron';

/** A discovered trigger: what it is and where it lives. */
export interface TriggerInfo {
  kind: 'webhook' | 'cron' | 'event';
  /** `'POST /hooks/github'` (the controller and route path, before any global prefix), `'cron(0 9 * * *)'`, `'event(user_signup)'`. */
  source: string;
  className: string;
  methodName: string;
  /** The named agent it runs, if not the default. */
  agent?: string;
  /** Cron: the job's name in `SchedulerRegistry`. */
  jobName?: string;
  /** Cron: the time zone. */
  timezone?: string;
}

/**
 * The triggers found at bootstrap, and the runtime handle on them: list them,
 * and stop or start the cron jobs.
 */
@Injectable()
export class TriggerRegistry {
  private readonly triggers: TriggerInfo[] = [];
  private readonly jobs = new Map<string, CronJob>();

  /** Records a trigger (called by the explorer). */
  add(info: TriggerInfo, job?: CronJob): void {
    this.triggers.push(info);
    if (job && info.jobName) this.jobs.set(info.jobName, job);
  }

  /** Every trigger, or those of one kind. */
  list(kind?: TriggerInfo['kind']): TriggerInfo[] {
    return kind ? this.triggers.filter((trigger) => trigger.kind === kind) : [...this.triggers];
  }

  /** A cron job by name. */
  cronJob(name: string): CronJob | undefined {
    return this.jobs.get(name);
  }

  /** Starts every cron job. */
  startCronJobs(): void {
    for (const job of this.jobs.values()) job.start();
  }

  /** Stops every cron job (no new ticks; runs in flight go on). */
  stopCronJobs(): void {
    for (const job of this.jobs.values()) void job.stop();
  }
}
