import type { RunEvent, RunOutput } from '../agent';

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

/** A run output as the HTTP API sends it. */
export function toWireOutput(output: RunOutput): WireRunOutput {
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

/** One Server-Sent Event frame. */
export function sseFrame(event: RunEvent): string {
  return sseData(event.event, toWireEvent(event));
}

/** One Server-Sent Event frame of already wire-shaped data. */
export function sseData(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
