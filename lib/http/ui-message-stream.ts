import { Logger } from '@nestjs/common';
import type { RunEvent } from '../agent/run-events';
import type { RunMetrics } from '../agent/run-output';
import { publicError } from '../module/http-errors';
import { SSE_HEADERS } from './run-events-writer';

/**
 * The response headers of a UI message stream: Server-Sent Events plus
 * `x-vercel-ai-ui-message-stream: v1`, which the AI SDK's `useChat` expects
 * from a custom backend.
 */
export const UI_MESSAGE_STREAM_HEADERS = {
  ...SSE_HEADERS,
  'x-vercel-ai-ui-message-stream': 'v1',
} as const;

/**
 * The `metadata` of the assistant messages `POST /chat` streams (the AI SDK's
 * message metadata): set by the `start` part, completed by the last one.
 * Type `useChat` with it: `useChat<UIMessage<UiChatMessageMetadata>>()`.
 */
export interface UiChatMessageMetadata {
  /** The run that produced the message (follow it with `GET /runs/:id`); also the message's `id`. */
  runId: string;
  /** The session the run continued: the chat's `id`. */
  sessionId: string;
  /** The agent that answered. */
  agent?: string;
  /** The model that answered. */
  model?: string;
  /** How the run ended, once it did. */
  status?: 'completed' | 'error' | 'cancelled' | 'paused';
  /** When paused: the tool calls waiting for a person's decision (`POST /runs/:id/approvals/:approvalId`). */
  pendingApprovals?: { approvalId: string; toolName: string; toolCallId: string; args: unknown; expiresAt: number }[];
  /** Tokens, cost and timings of the run, once it completed. */
  metrics?: RunMetrics;
  /** Why the run failed (`requestId`: search the server log for it). */
  error?: { code: string; message: string; requestId?: string };
}

/**
 * One part of the UI message stream protocol (version `v1`) as this server
 * writes it: the subset of the AI SDK's `UIMessageChunk` a run produces.
 */
export type UiMessageChunk =
  | { type: 'start'; messageId?: string; messageMetadata?: UiChatMessageMetadata }
  | { type: 'start-step' }
  | { type: 'finish-step' }
  | { type: 'text-start' | 'text-end' | 'reasoning-start' | 'reasoning-end'; id: string }
  | { type: 'text-delta' | 'reasoning-delta'; id: string; delta: string }
  | { type: 'tool-input-available'; toolCallId: string; toolName: string; input: unknown }
  | { type: 'tool-output-available'; toolCallId: string; output: unknown }
  | { type: 'tool-output-error'; toolCallId: string; errorText: string }
  | { type: 'message-metadata'; messageMetadata: Partial<UiChatMessageMetadata> }
  | { type: 'finish'; finishReason?: 'stop' | 'error' | 'other'; messageMetadata?: Partial<UiChatMessageMetadata> }
  | { type: 'abort'; reason?: string }
  | { type: 'error'; errorText: string };

/** One SSE frame of the protocol: `data: <json>` and a blank line. */
export function uiChunkFrame(chunk: UiMessageChunk): string {
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** The frame that ends every UI message stream. */
export const UI_STREAM_DONE = 'data: [DONE]\n\n';

const logger = new Logger('Definable:HTTP');

/**
 * @internal Turns a run's events into UI message stream frames: one assistant
 * message per run (`start` … `finish`), one step per model call
 * (`start-step` … `finish-step`, a step's tool results inside it as the AI
 * SDK's own server puts them), text and reasoning as start/delta/end blocks,
 * tool calls as `tool-input-available` then `tool-output-available` /
 * `tool-output-error`; a failed run ends with `error`, a cancelled one with
 * `abort`. Memory, knowledge and file events have no part in the protocol
 * and are left out.
 */
export class UiMessageStreamEncoder {
  private started = false;
  private stepOpen = false;
  /** A tool of the open step has returned: what the model says next is the next step. */
  private stepHasResults = false;
  private block: { kind: 'text' | 'reasoning'; id: string } | undefined;
  private blocks = 0;
  private textSeen = false;
  private ended = false;

  /** `route`: where a provider's failure is logged from (e.g. `POST /chat`). */
  constructor(private readonly route: string) {}

  /** Whether the run's last event has been encoded. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** The frames of one run event (an empty string for events the protocol has no part for). */
  encode(event: RunEvent): string {
    const chunks: UiMessageChunk[] = [];
    switch (event.event) {
      case 'RunStarted':
        this.start(chunks, event.runId, { runId: event.runId, sessionId: event.sessionId, agent: event.agentName, model: event.model });
        break;
      case 'RunContent':
        if (event.content === '') break;
        this.startPart(chunks, event);
        this.textSeen = true;
        chunks.push({ type: 'text-delta', id: this.openBlock(chunks, 'text'), delta: event.content });
        break;
      case 'ReasoningStep':
        if (event.content === '') break;
        this.startPart(chunks, event);
        chunks.push({ type: 'reasoning-delta', id: this.openBlock(chunks, 'reasoning'), delta: event.content });
        break;
      case 'RunContentCompleted':
        // A reply that came whole rather than in deltas still shows.
        if (!this.textSeen && event.content !== '') {
          this.startPart(chunks, event);
          this.textSeen = true;
          chunks.push({ type: 'text-delta', id: this.openBlock(chunks, 'text'), delta: event.content });
        }
        break;
      case 'ToolCallStarted':
        this.startPart(chunks, event);
        this.closeBlock(chunks);
        chunks.push({ type: 'tool-input-available', toolCallId: event.toolCallId, toolName: event.toolName, input: event.args ?? {} });
        break;
      case 'ToolCallCompleted':
        this.startPart(chunks, event, false);
        this.stepHasResults = true;
        chunks.push({ type: 'tool-output-available', toolCallId: event.toolCallId, output: toolOutput(event.result) });
        break;
      case 'ToolCallError':
        this.startPart(chunks, event, false);
        this.stepHasResults = true;
        chunks.push({ type: 'tool-output-error', toolCallId: event.toolCallId, errorText: event.error });
        break;
      case 'RunCompleted': {
        this.settle(chunks, event);
        const { output } = event;
        chunks.push({
          type: 'finish',
          finishReason: 'stop',
          messageMetadata: { runId: output.runId, sessionId: output.sessionId, status: 'completed', metrics: output.metrics },
        });
        break;
      }
      case 'RunError': {
        this.settle(chunks, event);
        const { info, detail } = publicError(event.error.code, event.error.message);
        if (detail) logger.warn(`${this.route} failed [${info.request_id}] ${info.code}: ${detail}`);
        const error = { code: info.code, message: info.message, ...(info.request_id ? { requestId: info.request_id } : {}) };
        chunks.push({ type: 'message-metadata', messageMetadata: { runId: event.runId, sessionId: event.sessionId, status: 'error', error } });
        chunks.push({ type: 'error', errorText: info.request_id ? `${info.message} (request id ${info.request_id})` : info.message });
        break;
      }
      case 'RunPaused': {
        this.settle(chunks, event);
        const pendingApprovals = event.pendingApprovals.map(({ approvalId, toolName, toolCallId, args, expiresAt }) => ({ approvalId, toolName, toolCallId, args, expiresAt }));
        chunks.push({ type: 'finish', finishReason: 'other', messageMetadata: { runId: event.runId, sessionId: event.sessionId, status: 'paused', pendingApprovals } });
        break;
      }
      case 'RunCancelled':
        this.settle(chunks, event);
        chunks.push({ type: 'message-metadata', messageMetadata: { runId: event.runId, sessionId: event.sessionId, status: 'cancelled' } });
        chunks.push({ type: 'abort', reason: event.reason });
        break;
      default:
        break;
    }
    return chunks.map(uiChunkFrame).join('');
  }

  /**
   * The frames that end a stream whose run broke off without a terminal
   * event (the server failed under it): `error`, unless the run had ended.
   */
  fail(errorText: string): string {
    if (this.ended) return '';
    const chunks: UiMessageChunk[] = [];
    this.closeBlock(chunks);
    this.closeStep(chunks);
    this.ended = true;
    chunks.push({ type: 'error', errorText });
    return chunks.map(uiChunkFrame).join('');
  }

  private start(chunks: UiMessageChunk[], messageId: string | undefined, messageMetadata?: UiChatMessageMetadata): void {
    if (this.started) return;
    this.started = true;
    chunks.push({ type: 'start', ...(messageId ? { messageId } : {}), ...(messageMetadata ? { messageMetadata } : {}) });
  }

  /**
   * Before a part of a model step: the message started, and the step open —
   * a new one when the open step's tools have returned (`nextStep`), since
   * the agent then called the model again.
   */
  private startPart(chunks: UiMessageChunk[], event: RunEvent, nextStep = true): void {
    this.start(chunks, event.runId, { runId: event.runId, sessionId: event.sessionId });
    if (this.stepOpen && this.stepHasResults && nextStep) {
      this.closeBlock(chunks);
      this.closeStep(chunks);
    }
    if (!this.stepOpen) {
      chunks.push({ type: 'start-step' });
      this.stepOpen = true;
      this.stepHasResults = false;
    }
  }

  private settle(chunks: UiMessageChunk[], event: RunEvent): void {
    this.start(chunks, event.runId, { runId: event.runId, sessionId: event.sessionId });
    this.closeBlock(chunks);
    this.closeStep(chunks);
    this.ended = true;
  }

  /** The id of the open block of this kind, opening it (and closing another kind's) if needed. */
  private openBlock(chunks: UiMessageChunk[], kind: 'text' | 'reasoning'): string {
    if (this.block?.kind === kind) return this.block.id;
    this.closeBlock(chunks);
    const id = `${kind}-${++this.blocks}`;
    chunks.push({ type: kind === 'text' ? 'text-start' : 'reasoning-start', id });
    this.block = { kind, id };
    return id;
  }

  private closeBlock(chunks: UiMessageChunk[]): void {
    if (!this.block) return;
    chunks.push({ type: this.block.kind === 'text' ? 'text-end' : 'reasoning-end', id: this.block.id });
    this.block = undefined;
  }

  private closeStep(chunks: UiMessageChunk[]): void {
    if (!this.stepOpen) return;
    chunks.push({ type: 'finish-step' });
    this.stepOpen = false;
    this.stepHasResults = false;
  }
}

/**
 * A tool's result as the UI shows it: the object or array a tool returned
 * (the run carries it serialised to JSON) as that value again; any other
 * result as its text.
 */
function toolOutput(result: string): unknown {
  const first = result.trimStart()[0];
  if (first !== '{' && first !== '[') return result;
  try {
    return JSON.parse(result);
  } catch {
    return result;
  }
}
