import type { ApprovalRecord } from './approvals/approval';
import type { AgentErrorCode } from './error-codes';
import type { Message } from './messages';

/** Token, cost and timing figures of one run. */
export interface RunMetrics {
  /** Prompt tokens over every model call of the run. */
  inputTokens: number;
  /** Completion tokens over every model call of the run. */
  outputTokens: number;
  /** `inputTokens + outputTokens`. */
  totalTokens: number;
  /** Of the output tokens, those a reasoning model spent thinking; `null` when the provider does not say. */
  reasoningTokens: number | null;
  /** Cost in USD, or `null` when the model's price (or its usage report) is unknown. */
  cost: number | null;
  /** Wall-clock duration of the run, in seconds. */
  duration: number;
  /** Seconds from the run's start to the first content (or reasoning) delta; `null` if none came. */
  timeToFirstToken: number | null;
}

/** A tool call made during a run, with its outcome. */
export interface ToolCallRecord {
  id: string;
  name: string;
  /** The parsed arguments (as validated by the tool's schema when that succeeded). */
  args: unknown;
  /** The result sent back to the model (a string; objects are JSON-serialised). */
  result?: string;
  /** The error text sent back to the model when the call failed. */
  error?: string;
  /** Seconds the tool took. */
  duration: number;
}

/** An image produced by the model. */
export interface OutputImage {
  url?: string;
  /** Base64-encoded image bytes. */
  data?: string;
  mimeType?: string;
}

/** Audio produced by the model. */
export interface OutputAudio {
  /** Base64-encoded audio bytes. */
  data: string;
  format?: string;
  transcript?: string;
}

/** How a run ended. */
export type RunStatus = 'completed' | 'error' | 'cancelled' | 'paused';

/** The error a run ended with. */
export interface RunErrorInfo {
  code: AgentErrorCode;
  message: string;
}

/**
 * The result of one run: what `agent.run()` resolves to and what the
 * `RunCompleted` event carries.
 */
export interface RunOutput<T = unknown> {
  /** The reply: text, or the parsed object when `outputSchema` was given. */
  content: T;
  /** The reasoning a thinking model streamed (all `ReasoningStep` deltas), or `null`. */
  reasoningContent: string | null;
  /** The knowledge chunks the run used (retrieved before the call, or by `search_knowledge`). */
  references: { id: string; score: number; source?: string; text: string }[];
  contentType: 'text' | 'json';
  runId: string;
  sessionId: string;
  userId: string | null;
  agentId: string;
  agentName: string;
  /** The model id that produced the reply. */
  model: string;
  status: RunStatus;
  metrics: RunMetrics;
  /** The full history as sent to the model, plus the new turn (system message excluded). */
  messages: Message[];
  toolCalls: ToolCallRecord[];
  /** Images produced by the model (empty for text-only models). */
  images: OutputImage[];
  /** Audio produced by the model (empty for text-only models). */
  audio: OutputAudio[];
  /** Set when `status` is `'error'` or `'cancelled'`. */
  error?: RunErrorInfo;
  /** Set when `status` is `'paused'`: the tool calls waiting for a person's decision. */
  pendingApprovals?: ApprovalRecord[];
  /** The `metadata` passed to the run. */
  metadata: Record<string, unknown>;
}
