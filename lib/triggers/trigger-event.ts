import type { RunOptions } from '../agent';
export type { TriggerEvent } from '../agent';

/**
 * What a trigger handler returns: a string runs the agent with it as input;
 * an object runs it with `input` plus its other fields as run options (and
 * `agent` to pick a named agent); `null`/`undefined` runs nothing.
 */
export type TriggerResult = string | (RunOptions & { input: string; agent?: string }) | null | undefined | void;
