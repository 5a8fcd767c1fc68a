/**
 * @internal Set by a host (the Nest runner) on a run's options when it made
 * the run's `sessionId` itself, for this run: nothing can be stored under it
 * yet, so no history is read — one session store round trip less per run.
 */
export const NEW_SESSION = Symbol('definable.newSession');

/** @internal Run options that may carry {@link NEW_SESSION}. */
export type MaybeNewSession = { [NEW_SESSION]?: boolean };
