import type { RunOptions } from '../agent';

/** What a trigger handler receives. */
export interface TriggerEvent<TBody = any> {
  /** The webhook's JSON body, or the emitted event's data; `undefined` for cron. */
  body: TBody;
  /** The webhook request's headers (lower-cased); empty for cron and events. */
  headers: Record<string, string | string[] | undefined>;
  /** Where it came from: `'POST /hooks/github'`, `'cron(0 9 * * *)'`, `'event(user_signup)'`. */
  source: string;
  timestamp: Date;
  /** The platform request (webhooks), or the raw event payload. */
  raw: unknown;
}

/**
 * What a trigger handler returns: a string runs the agent with it as input;
 * an object runs it with `input` plus its other fields as run options (and
 * `agent` to pick a named agent); `null`/`undefined` runs nothing.
 */
export type TriggerResult = string | (RunOptions & { input: string; agent?: string }) | null | undefined | void;
