import type { Message } from '../messages';

/** A tool as a model sees it: a name, a description and a JSON Schema for its arguments. */
export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema (an object schema) of the arguments. */
  parameters: Record<string, unknown>;
}

/** A request for structured output: the reply must be JSON matching `schema`. */
export interface ResponseFormat {
  name: string;
  schema: Record<string, unknown>;
  /** Whether the provider should enforce the schema exactly (OpenAI strict mode). */
  strict: boolean;
}

/** One call to a model. */
export interface ModelRequest {
  messages: Message[];
  tools: ToolDefinition[];
  responseFormat?: ResponseFormat;
  /** `true` to stream deltas as they are produced; `false` for one answer. */
  stream: boolean;
  /** The run's cancellation signal, when the caller gave one: abort the provider request when it fires. */
  signal?: AbortSignal;
}

/** Token usage reported by a provider for one call. */
export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
  /** Of the output tokens, those spent reasoning (when the provider reports it). */
  reasoningTokens?: number;
}

/**
 * What a model yields for one call, in order. A non-streaming call yields the
 * same chunks as a streaming one, just all at once.
 */
export type ModelChunk =
  | { type: 'content'; delta: string }
  | { type: 'reasoning'; delta: string }
  /** A complete tool call (streamed fragments are reassembled by the model). */
  | { type: 'tool_call'; id: string; name: string; arguments: string }
  | { type: 'usage'; usage: ModelUsage }
  | { type: 'audio'; data: string; format?: string; transcript?: string }
  | { type: 'finish'; reason: string };

/** Media a model accepts as input. */
export interface ModelCapabilities {
  images: boolean;
  audio: boolean;
  video: boolean;
}

/**
 * A chat model provider. Implement it to add a provider; {@link OpenAIChat}
 * is the built-in one and `TestModel` (from `nestjs-definable/testing`) the
 * scripted one.
 *
 * `invoke` must throw {@link ModelError} (or any {@link AgentError}) for
 * provider failures, end quietly when `request.signal` aborts, cancel the
 * provider request when its iterator is closed early (`return()`: the
 * consumer left the stream), and never leave a promise rejection unhandled.
 */
export interface Model {
  /** The model id sent to the provider, e.g. `gpt-4o`. */
  readonly id: string;
  /** A short provider name for logs, e.g. `openai`. */
  readonly provider: string;
  /** Which input media the model accepts. */
  readonly capabilities: ModelCapabilities;
  /** Calls the model. */
  invoke(request: ModelRequest): AsyncIterable<ModelChunk>;
  /** The cost in USD of the given usage, or `null` when the price is unknown. */
  cost(usage: ModelUsage): number | null;
}
