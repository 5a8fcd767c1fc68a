import type { RunEvent, RunOutput } from '../agent';
import type { RunRecord } from '../module/runs/run-store';

/** `/run`'s JSON answer (and the `RunCompleted` event's data): the output in snake_case. */
export interface WireRunOutput {
  content: unknown;
  content_type: 'text' | 'json';
  reasoning_content: string | null;
  run_id: string;
  session_id: string;
  user_id: string | null;
  agent: string;
  status: string;
  model: string;
  metrics: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
    reasoning_tokens: number | null;
    cost: number | null;
    duration: number;
    time_to_first_token: number | null;
  };
  tool_calls: { id: string; name: string; args: unknown; result?: string; error?: string }[];
  references: { id: string; score: number; source?: string; text: string }[];
  error?: { code: string; message: string; request_id?: string };
}

/** A run output as the HTTP API sends it (`messages` are never sent). */
export function toWireOutput(output: Omit<RunOutput, 'messages'>): WireRunOutput {
  const { metrics } = output;
  return {
    content: output.content,
    content_type: output.contentType,
    reasoning_content: output.reasoningContent,
    run_id: output.runId,
    session_id: output.sessionId,
    user_id: output.userId,
    agent: output.agentName,
    status: output.status,
    model: output.model,
    metrics: {
      input_tokens: metrics.inputTokens,
      output_tokens: metrics.outputTokens,
      total_tokens: metrics.totalTokens,
      reasoning_tokens: metrics.reasoningTokens,
      cost: metrics.cost,
      duration: metrics.duration,
      time_to_first_token: metrics.timeToFirstToken,
    },
    tool_calls: output.toolCalls.map(({ id, name, args, result, error }) => ({ id, name, args, result, error })),
    references: output.references,
    ...(output.error ? { error: output.error } : {}),
  };
}

const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** A run event as the SSE stream sends it: snake_case fields, the output in wire form. */
export function toWireEvent(event: RunEvent): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    wire[snake(key)] = key === 'output' ? toWireOutput(value as RunOutput) : value;
  }
  return wire;
}

/** One Server-Sent Event frame; `seq` (the event's number in its run) becomes its `id:`, for `Last-Event-ID`. */
export function sseFrame(event: RunEvent, seq?: number): string {
  return sseData(event.event, toWireEvent(event), seq);
}

/** One Server-Sent Event frame of already wire-shaped data. */
export function sseData(name: string, data: unknown, seq?: number): string {
  return `${seq === undefined ? '' : `id: ${seq}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** `GET /runs/:id`'s answer: a recorded run in snake_case, with its output once it ended. */
export interface WireRun {
  run_id: string;
  status: RunRecord['status'];
  agent: string;
  user_id: string | null;
  session_id: string;
  trigger: string;
  background: boolean;
  /** Milliseconds since the epoch. */
  created_at: number;
  ended_at: number | null;
  /** Sequence number of its last event so far (resume `GET /runs/:id/events` after it with `Last-Event-ID`). */
  last_event_id: number;
  output: WireRunOutput | null;
  error: { code: string; message: string; request_id?: string } | null;
  /** Queued work (async webhooks): attempts started, and the most allowed. */
  attempts?: number;
  max_attempts?: number;
}

/** A run record as the HTTP API sends it. */
export function toWireRun(record: RunRecord): WireRun {
  return {
    run_id: record.runId,
    status: record.status,
    agent: record.agent,
    user_id: record.userId,
    session_id: record.sessionId,
    trigger: record.trigger,
    background: record.background,
    created_at: record.createdAt,
    ended_at: record.endedAt,
    last_event_id: record.lastSeq,
    output: record.output ? toWireOutput(record.output) : null,
    error: record.error,
    ...(record.job ? { attempts: record.job.attempts, max_attempts: record.job.maxAttempts } : {}),
  };
}
