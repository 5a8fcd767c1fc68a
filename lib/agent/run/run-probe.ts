import type { ModelUsage } from '../models/model';

/** A piece of a run a {@link RunProbe} watches. */
export type ProbedStep =
  | { kind: 'model'; step: number; model: string; provider: string; stream: boolean }
  | { kind: 'tool'; name: string; callId: string; args: unknown }
  | { kind: 'memory.recall'; userId: string }
  | { kind: 'memory.update'; userId: string }
  | { kind: 'knowledge'; query: string };

/** How a watched step ended: its error, or what it produced. */
export interface ProbedEnd {
  /** Set when the step failed (for a tool: the error text sent back to the model). */
  error?: unknown;
  /** A model call's usage and cost (`null` when the price is unknown). */
  usage?: ModelUsage & { cost: number | null };
  /** A model call's finish reason(s). */
  finishReasons?: string[];
  /** A model call's reply text, or a tool's result. */
  output?: string;
  /** Memories recalled, memory changes, or knowledge chunks found. */
  count?: number;
}

/** One watched step in progress. */
export interface ProbeScope {
  /** Runs `fn` inside the step (a tracer makes the step's span current, so what `fn` calls nests under it). */
  within<T>(fn: () => T): T;
  /** The step is over. Called once. */
  end(outcome: ProbedEnd): void;
}

/**
 * @internal What a host (`AgentRunner`) watches in a run it hosts: the run
 * loop's stages tell it when a model call, tool call, memory recall or update
 * and knowledge search start and end — for traces and budgets. A run without
 * a probe pays nothing for it.
 */
export interface RunProbe {
  /** Before each model call; throwing (an `AgentError`) ends the run before the model is called. Budgets stop runs here. */
  beforeModelCall?(step: number): void | Promise<void>;
  /** A step starts; `undefined` when this probe does not watch it. */
  begin(step: ProbedStep): ProbeScope | undefined;
}

/** The iterable `open()` makes, opened and pulled inside `scope`, so the work each pull does (a request…) belongs to the step. */
export function iterateWithin<T>(open: () => AsyncIterable<T>, scope: ProbeScope): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const iterator = scope.within(() => open()[Symbol.asyncIterator]());
      return {
        next: () => scope.within(() => iterator.next()),
        return: (value?: unknown) => (iterator.return ? scope.within(() => iterator.return!(value)) : Promise.resolve({ done: true as const, value: undefined as never })),
      };
    },
  };
}
