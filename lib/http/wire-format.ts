import type { ApprovalRecord, RunEvent, RunOutput } from '../agent';
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
  /** When `status` is `paused`: the tool calls waiting for a decision (`POST /runs/:id/approvals/:approval_id`). */
  pending_approvals?: WireApproval[];
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
    ...(output.pendingApprovals ? { pending_approvals: output.pendingApprovals.map(toWireApproval) } : {}),
  };
}

const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** Fields every event has; on the wire only `RunStarted` and the terminal events carry them. */
const ID_FIELDS = new Set(['event', 'runId', 'sessionId', 'agentId', 'createdAt']);
/** Wire names of event fields, worked out once per field name. */
const WIRE_KEYS = new Map<string, string>();
const wireKey = (key: string) => {
  let wire = WIRE_KEYS.get(key);
  if (wire === undefined) WIRE_KEYS.set(key, (wire = snake(key)));
  return wire;
};

/**
 * A run event as the SSE stream sends it (the lean wire): `RunStarted` and
 * the terminal events (`RunCompleted`, `RunError`, `RunCancelled`) carry the
 * run's ids (`run_id`, `session_id`, `agent_id`, `created_at`); every other
 * event carries only its own fields, in snake_case — the frame's `event:`
 * line names it and its `id:` orders it. Text streamed as `RunContent` is
 * not sent again: `RunContentCompleted` has no `content`, and the terminal
 * event's `output` none when it is text. Outputs are otherwise in wire form.
 */
export function toWireEvent(event: RunEvent): Record<string, unknown> {
  const full =
    event.event === 'RunStarted' ||
    event.event === 'RunContinued' ||
    event.event === 'RunCompleted' ||
    event.event === 'RunError' ||
    event.event === 'RunCancelled' ||
    event.event === 'RunPaused';
  const wire: Record<string, unknown> = full
    ? { run_id: event.runId, session_id: event.sessionId, agent_id: event.agentId, created_at: event.createdAt }
    : {};
  for (const key in event) {
    if (ID_FIELDS.has(key)) continue;
    const value = (event as unknown as Record<string, unknown>)[key];
    if (key === 'output') wire.output = streamedOutput(value as RunOutput);
    else if (key === 'pendingApprovals' || key === 'decisions') wire[wireKey(key)] = (value as ApprovalRecord[]).map(toWireApproval);
    // The text was streamed delta by delta: the end of the content does not send it again.
    else if (key !== 'content' || event.event !== 'RunContentCompleted') wire[wireKey(key)] = value;
  }
  return wire;
}

/**
 * A run's output at the end of its stream: as `/run` answers it, except a
 * text reply's `content`, which the stream's `RunContent` deltas already
 * carried (their concatenation; `GET /runs/:id` has it whole). Structured
 * (`json`) content is kept: it is the parsed object, not the streamed text.
 */
function streamedOutput(output: RunOutput | null): Partial<WireRunOutput> | null {
  if (!output) return null;
  const wire: Partial<WireRunOutput> = toWireOutput(output);
  if (wire.content_type === 'text') delete wire.content;
  return wire;
}

/** One Server-Sent Event frame; `seq` (the event's number in its run) becomes its `id:`, for `Last-Event-ID`. */
export function sseFrame(event: RunEvent, seq?: number): string {
  // Content deltas are most of a stream's frames: written straight, with no object in between.
  if (event.event === 'RunContent' || event.event === 'ReasoningStep') {
    return `${seq === undefined ? '' : `id:${seq}\n`}event:${event.event}\ndata:{"content":${JSON.stringify(event.content)}}\n\n`;
  }
  return sseData(event.event, toWireEvent(event), seq);
}

/** One Server-Sent Event frame of already wire-shaped data. */
export function sseData(name: string, data: unknown, seq?: number): string {
  // No space after the colons (the SSE format allows one, requires none): 3 bytes of every frame.
  return `${seq === undefined ? '' : `id:${seq}\n`}event:${name}\ndata:${JSON.stringify(data)}\n\n`;
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

/** An approval as the HTTP API sends it (`GET /approvals`, decisions, `RunPaused`'s `pending_approvals`). */
export interface WireApproval {
  approval_id: string;
  run_id: string;
  agent: string;
  session_id: string;
  user_id: string | null;
  tool_name: string;
  tool_call_id: string;
  args: unknown;
  status: ApprovalRecord['status'];
  /** Milliseconds since the epoch. */
  requested_at: number;
  expires_at: number;
  decided_at?: number;
  decided_by?: string;
  reason?: string;
}

/** An approval in snake_case. */
export function toWireApproval(approval: ApprovalRecord): WireApproval {
  return {
    approval_id: approval.approvalId,
    run_id: approval.runId,
    agent: approval.agentName,
    session_id: approval.sessionId,
    user_id: approval.userId,
    tool_name: approval.toolName,
    tool_call_id: approval.toolCallId,
    args: approval.args,
    status: approval.status,
    requested_at: approval.requestedAt,
    expires_at: approval.expiresAt,
    ...(approval.decidedAt !== undefined ? { decided_at: approval.decidedAt } : {}),
    ...(approval.decidedBy !== undefined ? { decided_by: approval.decidedBy } : {}),
    ...(approval.reason !== undefined ? { reason: approval.reason } : {}),
  };
}
