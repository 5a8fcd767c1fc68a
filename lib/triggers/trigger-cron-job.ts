import { Cron } from 'croner';

/**
 * A cron trigger's job, from `TriggerRegistry.cronJob(name)`: its schedule,
 * and start / stop. Schedules follow Vixie cron in the job's time zone across
 * daylight-saving changes: a job at a fixed local time runs once a day — once
 * in a repeated hour, and right after the gap when its time is skipped — and
 * interval jobs (`0 *\/2 * * *`, `*\/20 * * * *`) stay on their local grid.
 */
export class TriggerCronJob {
  /** @internal Made by the orchestrator when it mounts the trigger. */
  constructor(
    /** The job's name (`definable:<Class>.<method>` unless `@Cron` names it). */
    readonly name: string,
    /** The cron expression, 5 fields or 6 (seconds first). */
    readonly expression: string,
    /** The IANA time zone it is read in; `undefined`: the server's. */
    readonly timezone: string | undefined,
    private readonly cron: Cron,
  ) {}

  /** Starts (or resumes) ticking. */
  start(): void {
    this.cron.resume();
  }

  /** Stops ticking; runs in flight go on. `start()` resumes. */
  stop(): void {
    this.cron.pause();
  }

  /** Whether it ticks. */
  get isRunning(): boolean {
    return this.cron.isRunning();
  }

  /** The next time it fires (whether or not it is running), or `null` if never. */
  nextRun(from?: Date): Date | null {
    return this.cron.nextRun(from);
  }

  /** The next `count` times it fires after `from` (default: now). */
  nextRuns(count: number, from?: Date): Date[] {
    return this.cron.nextRuns(count, from);
  }

  /** @internal Stops it for good (at shutdown). */
  dispose(): void {
    this.cron.stop();
  }
}

/**
 * The scheduled instant a tick fired for: the latest time of the schedule at
 * or before now (a timer fires a few ms after it).
 */
export function scheduledInstant(cron: Cron, now = Date.now()): Date | undefined {
  return cron.previousRuns(1, new Date(now + 1))[0];
}

/**
 * A paused croner schedule for a validated expression (`onTick` runs at each
 * time). Throws croner's error for an invalid expression.
 */
export function cronSchedule(expression: string, timezone: string | undefined, onTick?: (cron: Cron) => unknown): Cron {
  // domAndDow false (croner's default): day-of-month OR day-of-week, as Vixie cron reads them.
  return onTick ? new Cron(expression, { timezone, paused: true }, (self: Cron) => void onTick(self)) : new Cron(expression, { timezone, paused: true });
}
