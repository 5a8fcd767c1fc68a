import type { RunTracker } from '../module/run.tracker';

/** What {@link waitForRuns} needs of an app: a Nest app, a `TestingModule` or any application context. */
export interface AppContext {
  get<T>(token: abstract new (...args: never[]) => T, options?: { strict?: boolean }): T;
}

/**
 * Resolves once the app has no agent run in flight and no trigger handler on
 * its way to one: the cron tick you just advanced fake timers to, the event
 * you just emitted, and every run they started. It uses no timers, so it works
 * under Jest's or node:test's fake timers.
 *
 * @example
 * jest.useFakeTimers({ now: new Date('2026-01-05T08:59:59Z') });
 * jest.advanceTimersByTime(1_000);   // the 09:00 @Cron fires
 * await waitForRuns(app);            // its handler and the agent run are done
 */
export async function waitForRuns(app: AppContext): Promise<void> {
  // Loaded here so the rest of the test kit stays free of Nest.
  const { RunTracker: tracker } = require('../module/run.tracker') as { RunTracker: new (...args: never[]) => RunTracker };
  let runs: RunTracker;
  try {
    runs = app.get(tracker, { strict: false });
  } catch {
    throw new Error('waitForRuns(app): this app has no DefinableModule; pass the app (or TestingModule) that imports DefinableModule.forRoot().');
  }
  await runs.settled();
}
