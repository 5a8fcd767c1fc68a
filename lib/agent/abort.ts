/** The reason recorded when a run is cancelled without a reason of its own. */
export const DEFAULT_CANCEL_REASON = 'The run was cancelled.';

/** Describes an abort signal's reason as text. */
export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  if (typeof reason === 'string' && reason) return reason;
  return DEFAULT_CANCEL_REASON;
}

/**
 * A promise that rejects when `signal` aborts, to race work against
 * cancellation. Call `dispose` when done so the listener does not leak.
 */
export function whenAborted(signal: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let dispose = () => {};
  const promise = new Promise<never>((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  // A race that has already been decided must not leave an unhandled rejection behind.
  promise.catch(() => {});
  return { promise, dispose };
}

/** Throws the signal's reason if it has aborted (the run loop turns that into `RunCancelled`). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/**
 * A controller that `outer` aborts too (with its reason). `unlink()` detaches
 * it once the work is over, so a long-lived outer signal (a receive loop's, a
 * request's) collects no listeners.
 */
export function linkedController(outer: AbortSignal | undefined): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  if (!outer) return { controller, unlink: () => {} };
  if (outer.aborted) {
    controller.abort(outer.reason);
    return { controller, unlink: () => {} };
  }
  const forward = () => controller.abort(outer.reason);
  outer.addEventListener('abort', forward, { once: true });
  return { controller, unlink: () => outer.removeEventListener('abort', forward) };
}
