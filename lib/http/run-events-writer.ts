import { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { RunErrorEvent, RunEvent } from '../agent';
import { isTerminalEvent } from '../agent/run-events';
import { DefinableHttpError, publicError } from '../module/http-errors';
import { redactSecrets } from '../module/redact';
import type { RunRecorder } from '../module/runs/run-recorder';
import { hasEnded } from '../module/runs/run-store';
import type { RunRecord } from '../module/runs/run-store';
import { sseData, sseFrame, toWireEvent, toWireRun, WireRun, WireRunOutput } from './wire-format';

/** How often a run another process is running is read again from the store. */
const STORE_POLL_MS = 500;

const logger = new Logger('Definable:HTTP');

/** The SSE headers of every run stream. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/**
 * An event's SSE frame as callers may see it: a provider's own error text in
 * a `RunError` goes to the log, under the request id the frame carries.
 */
export function publicFrame(event: RunEvent, seq: number | undefined, route: string): string {
  if (event.event !== 'RunError') return sseFrame(event, seq);
  const { info, detail } = publicError(event.error.code, event.error.message);
  if (!detail) return sseFrame(event, seq);
  logger.warn(`${route} failed [${info.request_id}] ${info.code}: ${detail}`);
  const wire = toWireEvent(event as RunErrorEvent);
  wire.error = info;
  (wire.output as WireRunOutput).error = info;
  return sseData(event.event, wire, seq);
}

/** A run record as callers may see it: a provider's error text replaced as in {@link publicFrame}. */
export function publicRun(record: RunRecord, route: string): WireRun {
  const wire = toWireRun(record);
  if (!record.error) return wire;
  const { info, detail } = publicError(record.error.code, record.error.message);
  if (!detail) return wire;
  logger.warn(`${route} [${info.request_id}] ${info.code}: ${detail}`);
  wire.error = info;
  if (wire.output) wire.output.error = info;
  return wire;
}

/**
 * Writes a run's events with `seq` after `afterSeq` to an open SSE response —
 * the recorded ones, then the live ones as they come — until the run ends or
 * the client leaves. A run live in this process is followed from memory; one
 * another process runs is read from the store. A run that ended without a
 * terminal event (interrupted, or its stream left) gets a closing `RunError`
 * frame without an id.
 */
export async function writeRunEvents(raw: ServerResponse, recorder: RunRecorder, runId: string, afterSeq: number, route: string): Promise<void> {
  let last: RunEvent | undefined;
  const write = (event: RunEvent, seq: number) => {
    last = event;
    raw.write(publicFrame(event, seq, route));
  };
  let record: RunRecord | null;
  const live = recorder.find(runId);
  if (live) {
    // A paused run's continuation: the events before it are in the store.
    if (afterSeq < live.firstSeq) for (const recorded of await recorder.store.events(runId, afterSeq)) if (recorded.seq <= live.firstSeq) write(recorded.event, recorded.seq);
    await new Promise<void>((resolve) => {
      for (const recorded of live.eventsAfter(afterSeq)) write(recorded.event, recorded.seq);
      if (live.isOver) return resolve();
      const stop = live.listen({
        event: (recorded) => write(recorded.event, recorded.seq),
        end: () => {
          raw.off('close', left);
          resolve();
        },
      });
      const left = () => {
        stop();
        resolve();
      };
      raw.once('close', left);
    });
    record = live.isOver ? { ...live.record } : null;
    last = live.events.at(-1)?.event ?? last;
  } else {
    let seq = afterSeq;
    for (;;) {
      record = await recorder.get(runId);
      if (!record || raw.destroyed) return;
      for (const recorded of await recorder.store.events(runId, seq)) {
        write(recorded.event, recorded.seq);
        seq = recorded.seq;
      }
      if (hasEnded(record.status)) break;
      await new Promise((resolve) => setTimeout(resolve, STORE_POLL_MS));
    }
    // The client may have had every event already: was the run's last one its end?
    if (!last && record.lastSeq > 0) last = (await recorder.store.events(runId, record.lastSeq - 1))[0]?.event;
  }
  if (record && hasEnded(record.status) && !isTerminal(last) && !raw.destroyed) {
    raw.write(sseData('RunError', { run_id: record.runId, session_id: record.sessionId, status: record.status, error: publicRun(record, route).error }));
  }
}

function isTerminal(event: RunEvent | undefined): boolean {
  return isTerminalEvent(event?.event);
}

/** The `Last-Event-ID` a reconnecting client sends (0 without one); 400 for one that is not a sequence number. */
export function lastEventId(headers: Record<string, unknown> | undefined): number {
  const header = headers?.['last-event-id'];
  if (header === undefined || header === '') return 0;
  const value = String(Array.isArray(header) ? header[0] : header).trim();
  if (!/^\d{1,15}$/.test(value)) {
    throw new DefinableHttpError(400, 'invalid_request', 'Last-Event-ID must be the id of an event of this run (a whole number), as the stream sent it.');
  }
  return Number(value);
}

/** @internal A protocol's encoding of run events as stream frames (the AI SDK's UI stream, Chat Completions chunks). */
export interface FrameEncoder {
  /** The frames of one event ('' for an event the protocol has no part for). */
  encode(event: RunEvent): string;
  /** The frames that end a stream whose run broke off without a terminal event ('' once the run ended). */
  fail(message: string): string;
}

/**
 * @internal A signal aborted when the client goes away before the response
 * ended (a run answering it is cancelled); `release` stops watching.
 */
export function clientGone(raw: ServerResponse): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!raw.writableEnded) controller.abort('The client disconnected.');
  };
  raw.once('close', onClose);
  return { signal: controller.signal, release: () => raw.removeListener('close', onClose) };
}

/**
 * @internal Answers with a run's events in a protocol's frames: takes the
 * response over (`headers`, status 200), writes each event's frames until the
 * run ends or the client leaves, closes a run that broke off with the
 * encoder's failure frames (logging why), and ends the response with `last()`.
 */
export async function relayRunFrames(
  reply: any,
  raw: ServerResponse,
  events: AsyncIterable<RunEvent>,
  stream: { headers: Record<string, string>; encoder: FrameEncoder; route: string; last: () => string | undefined },
): Promise<void> {
  const { encoder, route } = stream;
  if (typeof reply.hijack === 'function') reply.hijack();
  raw.writeHead(200, stream.headers);
  raw.flushHeaders();
  const write = (frames: string) => {
    if (frames && !raw.destroyed) raw.write(frames);
  };
  try {
    for await (const event of events) {
      if (raw.destroyed) break;
      write(encoder.encode(event));
    }
    write(encoder.fail('The run ended without a result.'));
  } catch (error) {
    logger.error(`${route} stream failed: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
    write(encoder.fail('Internal error; the server log has the details.'));
  } finally {
    if (!raw.destroyed) raw.end(stream.last());
  }
}
