import type { RunEvent, RunEventBase } from '../run-events';

type WithoutBase<E> = E extends RunEventBase ? Omit<E, keyof RunEventBase> : never;

/** A stage of the run loop: an async generator that yields its events and returns its result. */
export type Stage<T = void> = AsyncGenerator<RunEvent, T, undefined>;

/** A run event without the fields {@link EventSink.event} stamps on it. */
export type RunEventBody = WithoutBase<RunEvent>;

/**
 * The one place a run's events are made.
 *
 * stream() gets an active sink: a stage builds each event here and yields it,
 * and the conductor hands it on with `yield*`. Events are pulled, not queued,
 * so the consumer's pace still drives the model stream and a consumer that
 * leaves early still closes it at once.
 *
 * run() gets an inactive sink: stages test `active` before building a
 * progress event, so run() builds only its terminal event.
 */
export class EventSink {
  constructor(
    /** Whether progress events are wanted (stream()), or only the terminal one (run()). */
    readonly active: boolean,
    private readonly runId: string,
    private readonly sessionId: string,
    private readonly agentId: string,
  ) {}

  /** The event `body` stamped with the run's ids and the time. */
  event(body: RunEventBody): RunEvent {
    // One literal with the body spread last: several times cheaper in V8 than spreading a base
    // object first and adding the event's fields after it, for the same property order.
    return { runId: this.runId, sessionId: this.sessionId, agentId: this.agentId, createdAt: Date.now(), ...body } as RunEvent;
  }
}
