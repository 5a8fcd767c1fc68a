import { AgentError } from '../agent/errors';
import type { Message } from '../agent/messages';
import type { Model, ModelCapabilities, ModelChunk, ModelRequest, ModelUsage, ResponseFormat, ToolDefinition } from '../agent/models/model';
import { ModelPrice, priceTokens } from '../agent/models/pricing';

/** A scripted tool call of a {@link TestResponse}. */
export interface TestToolCall {
  /** Generated (`call_<n>`) when absent. */
  id?: string;
  name: string;
  /** An object (serialised to JSON) or a raw string, e.g. malformed JSON to test that path. */
  args?: unknown;
}

/**
 * One scripted answer of a {@link TestModel}: a string (the reply text) or
 * an object.
 */
export type TestResponse =
  | string
  | {
      /** The reply text (streamed as `chunks` when given, else as one delta). */
      content?: string;
      /** The reply as streamed deltas; joined when `content` is absent. */
      chunks?: string[];
      /** Reasoning deltas, yielded before the content. */
      reasoning?: string[];
      toolCalls?: TestToolCall[];
      /** Reported usage; default: 10 input tokens and one output token per chunk. */
      usage?: ModelUsage | null;
      /** Thrown instead of answering (after `delayMs`). */
      error?: Error;
      /** Wait this long before answering (ends early, quietly, when the run is aborted). */
      delayMs?: number;
      /** Wait this long between streamed chunks. */
      chunkDelayMs?: number;
    };

/** What a {@link TestModel} recorded of one call. */
export interface TestModelCall {
  messages: Message[];
  tools: ToolDefinition[];
  responseFormat?: ResponseFormat;
  stream: boolean;
}

/** Options of {@link TestModel}. */
export interface TestModelOptions {
  /** Default `test-model`. */
  id?: string;
  /** The answers in call order, or a function that picks one per call. */
  responses?: TestResponse[] | ((call: TestModelCall, index: number) => TestResponse | Promise<TestResponse>);
  /** Default: images, audio and video all accepted. */
  capabilities?: Partial<ModelCapabilities>;
  /** Price for `metrics.cost`; default none (`cost: null`). */
  price?: ModelPrice;
}

/**
 * A scripted {@link Model} for fast, deterministic tests of code built on an
 * agent: it replays text replies, streamed chunks, tool calls, errors and
 * delays, and records every call it received in `calls`.
 *
 * @example
 * const model = new TestModel({ responses: [
 *   { toolCalls: [{ name: 'get_weather', args: { city: 'Paris' } }] },
 *   'It is sunny in Paris.',
 * ] });
 * const agent = new Agent({ model, tools: [getWeather] });
 */
export class TestModel implements Model {
  readonly id: string;
  readonly provider = 'test';
  readonly capabilities: ModelCapabilities;
  /** Every call received, in order (messages as they were sent). */
  readonly calls: TestModelCall[] = [];
  private readonly responses: TestModelOptions['responses'];
  private readonly price?: ModelPrice;

  constructor(options: TestModelOptions = {}) {
    this.id = options.id ?? 'test-model';
    this.responses = options.responses ?? [];
    this.capabilities = { images: true, audio: true, video: true, ...options.capabilities };
    this.price = options.price;
  }

  /** The cost at the configured price, or `null` without one. */
  cost(usage: ModelUsage): number | null {
    return this.price ? priceTokens(this.price, usage.inputTokens, usage.outputTokens) : null;
  }

  /** Replays the next scripted response. */
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    const call: TestModelCall = {
      messages: structuredClone(request.messages),
      tools: request.tools,
      responseFormat: request.responseFormat,
      stream: request.stream,
    };
    const index = this.calls.length;
    this.calls.push(call);
    const scripted = typeof this.responses === 'function' ? await this.responses(call, index) : this.responses?.[index];
    if (scripted === undefined) {
      throw new AgentError('internal', `TestModel has no scripted response for call #${index + 1}; add one to its responses.`);
    }
    const response = typeof scripted === 'string' ? { content: scripted } : scripted;
    if (!(await pause(response.delayMs, request.signal))) return;
    if (response.error) throw response.error;
    for (const delta of response.reasoning ?? []) yield { type: 'reasoning', delta };
    const chunks = response.chunks ?? (response.content ? [response.content] : []);
    for (const [i, delta] of chunks.entries()) {
      if (i > 0 && !(await pause(response.chunkDelayMs, request.signal))) return;
      if (request.signal?.aborted) return;
      yield { type: 'content', delta };
    }
    for (const [i, call] of (response.toolCalls ?? []).entries()) {
      const args = typeof call.args === 'string' ? call.args : JSON.stringify(call.args ?? {});
      yield { type: 'tool_call', id: call.id ?? `call_${index}_${i}`, name: call.name, arguments: args };
    }
    if (response.usage !== null) {
      yield { type: 'usage', usage: response.usage ?? { inputTokens: 10, outputTokens: Math.max(1, chunks.length) } };
    }
    yield { type: 'finish', reason: response.toolCalls?.length ? 'tool_calls' : 'stop' };
  }
}

/** Waits `ms` (if any); resolves `false` when the signal aborted first. */
function pause(ms: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (!ms) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
