import { createParser } from 'eventsource-parser';
import OpenAI from 'openai';
import type {
  ChatCompletionContentPart,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { AgentErrorCode, ModelError } from '../errors';
import type { ContentPart, Message } from '../messages';
import type { Model, ModelCapabilities, ModelChunk, ModelRequest, ModelUsage } from './model';
import { IdleWatch } from './idle-watch';
import { findModelPrice, ModelPrice, priceTokens } from './pricing';
import { truncate } from '../run/truncate';

/** Options of {@link OpenAIChat}. */
export interface OpenAIChatOptions {
  /** The model id, e.g. `gpt-4o`, or the name a compatible server knows (`llama3.1`). */
  id: string;
  /** Defaults to `OPENAI_API_KEY`. Not needed for a local server reached through `baseURL`. */
  apiKey?: string;
  /** An OpenAI-compatible endpoint (Ollama, vLLM, LM Studio, OpenRouter); defaults to `OPENAI_BASE_URL`, then OpenAI. */
  baseURL?: string;
  temperature?: number;
  /** Upper bound of generated tokens per model call. */
  maxTokens?: number;
  /** Milliseconds to wait for the answer to begin (its headers; the SDK's default is 10 minutes). */
  timeout?: number;
  /**
   * Milliseconds the answer may go silent once it has begun — between streamed
   * chunks, or while a JSON body arrives — before the call is abandoned with
   * `model_timeout`. `timeout` stops counting when the headers arrive, so
   * without this an upstream that stalls mid-answer hangs the run. Default
   * 60,000; 0 turns it off.
   */
  idleTimeout?: number;
  /** Retries on 408/409/429/5xx and connection errors, with backoff (the SDK's default is 2). */
  maxRetries?: number;
  /** Extra fields merged into every request body (provider-specific parameters). */
  extraBody?: Record<string, unknown>;
  /**
   * Price per 1M tokens for `metrics.cost`. Defaults to the built-in table for
   * OpenAI model ids; `null` reports no cost.
   */
  pricing?: ModelPrice | null;
  /** Use this client instead of creating one (e.g. a client provided through Nest DI). */
  client?: OpenAI;
}

const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1';
const DEFAULT_IDLE_TIMEOUT = 60_000;

/**
 * A chat model on the official `openai` package (Chat Completions), for OpenAI
 * and every OpenAI-compatible server.
 *
 * @example
 * new OpenAIChat({ id: 'gpt-4o' });
 * new OpenAIChat({ id: 'llama3.1', baseURL: 'http://localhost:11434/v1' });
 */
export class OpenAIChat implements Model {
  readonly id: string;
  readonly provider = 'openai';
  readonly capabilities: ModelCapabilities = { images: true, audio: true, video: false };
  private client?: OpenAI;
  private readonly price: ModelPrice | null;

  constructor(private readonly options: OpenAIChatOptions) {
    if (!options || typeof options.id !== 'string' || options.id.trim() === '') {
      throw new TypeError("OpenAIChat needs a model id, e.g. new OpenAIChat({ id: 'gpt-4o' }).");
    }
    this.id = options.id;
    this.client = options.client;
    this.price = options.pricing === undefined ? findModelPrice(options.id) : options.pricing;
  }

  /** The cost in USD of a usage at this model's price, or `null` when the price is unknown. */
  cost(usage: ModelUsage): number | null {
    return this.price ? priceTokens(this.price, usage.inputTokens, usage.outputTokens) : null;
  }

  /** Calls the Chat Completions endpoint and yields its chunks. */
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    const client = this.getClient();
    const params = this.buildParams(request);
    const watch = new IdleWatch(this.options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT, request.signal);
    try {
      if (request.stream) {
        // The raw response: its events are read (and folded) a network read at a time, under the idle watch.
        const response = await client.chat.completions
          .create({ ...params, stream: true, stream_options: { include_usage: true } } as ChatCompletionCreateParamsStreaming, { signal: watch.signal })
          .asResponse();
        watch.start();
        yield* this.readStream(response, watch, request.signal);
      } else {
        // The raw response, so the body is read under the idle watch (the SDK's timeout ends at the headers).
        const response = await client.chat.completions
          .create({ ...params, stream: false } as ChatCompletionCreateParamsNonStreaming, { signal: watch.signal })
          .asResponse();
        watch.start();
        yield* this.readCompletion(await this.readBody(response, watch));
      }
    } catch (error) {
      if (watch.expired) {
        throw new ModelError(
          'model_timeout',
          `The model ${this.id} went silent for ${this.options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT} ms in the middle of its answer; raise OpenAIChat's idleTimeout or check the provider.`,
        );
      }
      if (request.signal?.aborted) return;
      throw toModelError(error, this.id);
    } finally {
      watch.stop();
    }
  }

  /** Reads a JSON completion body, each piece resetting the idle watch. */
  private async readBody(response: Response, watch: IdleWatch): Promise<OpenAI.Chat.Completions.ChatCompletion> {
    const pieces: Uint8Array[] = [];
    const reader = response.body?.getReader();
    if (reader) {
      const cancel = () => void reader.cancel().catch(() => undefined);
      watch.signal.addEventListener('abort', cancel, { once: true });
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          watch.touch();
          pieces.push(value);
        }
      } finally {
        watch.signal.removeEventListener('abort', cancel);
      }
    }
    if (watch.signal.aborted) throw watch.signal.reason;
    const text = Buffer.concat(pieces).toString('utf8');
    try {
      return JSON.parse(text) as OpenAI.Chat.Completions.ChatCompletion;
    } catch {
      const type = response.headers.get('content-type') ?? 'no content type';
      throw new ModelError('model_bad_response', `The model ${this.id} answered with a body that is not JSON (${type}): ${truncate(text, 120)}`);
    }
  }

  /**
   * Reads a streamed answer from the raw response, a network read at a time:
   * the Server-Sent Events of a read are parsed in one synchronous pass
   * (`eventsource-parser`), then its chunks are yielded one by one. The SDK's
   * own stream reader puts three async iterators between the socket and each
   * chunk; a relay of hundreds of chunks feels every one of them. Its rules
   * are kept: a `data` with an `error` (or an `error` event) is the
   * provider's `APIError`, `[DONE]` ends the answer.
   */
  private async *readStream(response: Response, watch: IdleWatch, signal: AbortSignal | undefined): AsyncIterable<ModelChunk> {
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let finish: string | null = null;
    let chunks = 0;
    let choices = 0;
    let done = false;
    let failure: unknown;
    const parsed: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    const parser = createParser({
      onEvent: (event) => {
        if (done || failure) return;
        if (event.data.startsWith('[DONE]')) {
          done = true;
          return;
        }
        let data: any;
        try {
          data = JSON.parse(event.data);
        } catch (error) {
          failure = new ModelError('model_bad_response', `The model ${this.id} streamed a chunk that is not JSON: ${errorText(error)}`, { cause: error });
          return;
        }
        if (event.event === 'error' || data?.error) {
          failure = new OpenAI.APIError(undefined, data?.error ?? data, data?.message ?? undefined, response.headers);
          return;
        }
        parsed.push(data);
      },
    });
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    let finished = false;
    try {
      // Read to the body's end, as the SDK's reader does (events after [DONE] are ignored): the connection is then reused.
      while (reader) {
        const read = await reader.read();
        if (read.done) break;
        watch.touch();
        parser.feed(decoder.decode(read.value, { stream: true }));
        // The read's chunks, one by one, then its failure (a provider's error event follows what it streamed before it).
        for (const chunk of parsed) {
          chunks++;
          if (chunk.usage) yield { type: 'usage', usage: usageOf(chunk.usage) };
          // The usage chunk of `include_usage` has `choices: []`.
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          choices++;
          const delta = choice.delta ?? {};
          const reasoning = reasoningOf(delta);
          if (reasoning) yield { type: 'reasoning', delta: reasoning };
          if (typeof delta.content === 'string' && delta.content !== '') yield { type: 'content', delta: delta.content };
          for (const part of delta.tool_calls ?? []) {
            const call = calls.get(part.index) ?? { id: '', name: '', arguments: '' };
            if (part.id) call.id = part.id;
            if (part.function?.name) call.name += part.function.name;
            if (part.function?.arguments) call.arguments += part.function.arguments;
            calls.set(part.index, call);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        parsed.length = 0;
        if (failure) throw failure;
      }
      finished = true;
    } catch (error) {
      if (watch.signal.aborted || error instanceof ModelError || (error instanceof OpenAI.APIError && !(error instanceof OpenAI.APIConnectionError))) throw error;
      if (chunks > 0) {
        throw new ModelError('model_stream_interrupted', `The model ${this.id}'s stream broke off after ${chunks} chunks: ${errorText(error)}`, { cause: error });
      }
      throw error;
    } finally {
      // Left early (the run ended or was cancelled): close the upstream request.
      if (reader && !finished) void reader.cancel().catch(() => undefined);
    }
    // Aborting the request ends the answer: report nothing half-done.
    if (watch.signal.aborted) {
      if (watch.expired) throw watch.signal.reason;
      return;
    }
    if (signal?.aborted) return;
    // An answer counts only once the provider says it is complete; anything else is an error, never a short success.
    if (!finish) {
      if (choices === 0) {
        throw new ModelError(
          'model_bad_response',
          chunks === 0
            ? `The model ${this.id} answered a streaming request with no stream (not Server-Sent Events, or empty).`
            : `The model ${this.id} streamed ${chunks} chunks without any choice.`,
        );
      }
      throw new ModelError('model_stream_interrupted', `The model ${this.id}'s stream ended after ${chunks} chunks without a finish_reason: the answer is incomplete.`);
    }
    for (const [index, call] of [...calls.entries()].sort((a, b) => a[0] - b[0])) {
      yield { type: 'tool_call', id: call.id || `call_${index}`, name: call.name, arguments: call.arguments };
    }
    yield { type: 'finish', reason: finish };
  }

  private *readCompletion(completion: OpenAI.Chat.Completions.ChatCompletion): Iterable<ModelChunk> {
    const choice = completion.choices?.[0];
    if (!choice) {
      throw new ModelError('model_bad_response', `The model ${this.id} answered with no choices.`);
    }
    const message = choice.message;
    const reasoning = reasoningOf(message);
    if (reasoning) yield { type: 'reasoning', delta: reasoning };
    if (typeof message.content === 'string' && message.content !== '') yield { type: 'content', delta: message.content };
    if (message.audio) {
      yield { type: 'audio', data: message.audio.data, transcript: message.audio.transcript };
    }
    for (const call of message.tool_calls ?? []) {
      if (call.type !== 'function') continue;
      yield { type: 'tool_call', id: call.id, name: call.function.name, arguments: call.function.arguments };
    }
    if (completion.usage) yield { type: 'usage', usage: usageOf(completion.usage) };
    if (choice.finish_reason) yield { type: 'finish', reason: choice.finish_reason };
  }

  private buildParams(request: ModelRequest): Omit<ChatCompletionCreateParamsNonStreaming, 'stream'> {
    const { temperature, maxTokens, extraBody } = this.options;
    const params: Record<string, unknown> = {
      ...extraBody,
      model: this.id,
      messages: request.messages.map(toOpenAIMessage),
    };
    if (temperature !== undefined) params.temperature = temperature;
    if (maxTokens !== undefined) {
      // OpenAI's reasoning models reject `max_tokens`; compatible servers widely know only `max_tokens`.
      params[this.isOpenAI() ? 'max_completion_tokens' : 'max_tokens'] = maxTokens;
    }
    if (request.tools.length > 0) {
      params.tools = request.tools.map(
        (tool): ChatCompletionTool => ({
          type: 'function',
          function: { name: tool.name, description: tool.description, parameters: tool.parameters },
        }),
      );
    }
    if (request.responseFormat) {
      params.response_format = {
        type: 'json_schema',
        json_schema: {
          name: request.responseFormat.name,
          schema: request.responseFormat.schema,
          strict: request.responseFormat.strict,
        },
      };
    }
    return params as unknown as Omit<ChatCompletionCreateParamsNonStreaming, 'stream'>;
  }

  private baseURL(): string | undefined {
    return this.options.baseURL ?? (process.env.OPENAI_BASE_URL || undefined);
  }

  private isOpenAI(): boolean {
    const base = this.client ? this.client.baseURL : this.baseURL();
    return !base || base.replace(/\/+$/, '') === OPENAI_DEFAULT_BASE;
  }

  private getClient(): OpenAI {
    if (this.client) return this.client;
    const baseURL = this.baseURL();
    let apiKey = this.options.apiKey ?? (process.env.OPENAI_API_KEY || undefined);
    if (!apiKey) {
      if (!baseURL) {
        throw new ModelError(
          'model_auth',
          `No OpenAI API key for model ${this.id}: set OPENAI_API_KEY or pass { apiKey } to OpenAIChat (a local OpenAI-compatible server needs only { baseURL }).`,
        );
      }
      // Local compatible servers (Ollama, vLLM, LM Studio) accept any key.
      apiKey = 'not-needed';
    }
    this.client = new OpenAI({
      apiKey,
      baseURL,
      timeout: this.options.timeout,
      maxRetries: this.options.maxRetries,
    });
    return this.client;
  }
}

function usageOf(usage: OpenAI.Completions.CompletionUsage): ModelUsage {
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    inputTokens: usage.prompt_tokens ?? 0,
    outputTokens: usage.completion_tokens ?? 0,
    ...(typeof reasoning === 'number' ? { reasoningTokens: reasoning } : {}),
  };
}

/** Compatible servers name the reasoning delta differently (vLLM/DeepSeek: `reasoning_content`; Ollama/OpenRouter: `reasoning`). */
function reasoningOf(delta: object): string | undefined {
  const value = (delta as { reasoning_content?: unknown; reasoning?: unknown }).reasoning_content ??
    (delta as { reasoning?: unknown }).reasoning;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function toOpenAIPart(part: ContentPart): ChatCompletionContentPart {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image_url', image_url: { url: part.url, ...(part.detail ? { detail: part.detail } : {}) } };
    case 'audio':
      return { type: 'input_audio', input_audio: { data: part.data, format: part.format } };
    case 'video':
      // capabilities.video is false: the agent refuses videos before calling this model.
      throw new ModelError('unsupported_media', 'Chat Completions does not take video input.');
  }
}

function toOpenAIMessage(message: Message): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
      return { role: 'system', content: message.content };
    case 'user':
      return {
        role: 'user',
        content: typeof message.content === 'string' ? message.content : message.content.map(toOpenAIPart),
      };
    case 'assistant':
      return {
        role: 'assistant',
        content: message.content,
        ...(message.toolCalls?.length
          ? {
              tool_calls: message.toolCalls.map((call) => ({
                id: call.id,
                type: 'function' as const,
                function: { name: call.name, arguments: call.arguments },
              })),
            }
          : {}),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  }
}

/** Maps the SDK's errors to {@link ModelError}s with a code and a message that says what to do. */
function toModelError(error: unknown, modelId: string): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new ModelError('model_timeout', `The model ${modelId} did not answer in time; raise OpenAIChat's timeout or check the provider.`, { cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new ModelError('model_connection', `Could not reach the model provider for ${modelId}: ${error.message}. Check baseURL and the network.`, { cause: error });
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    const detail = providerMessage(error);
    let code: AgentErrorCode;
    let hint: string;
    if (status === undefined) {
      code = 'model_stream_error';
      hint = 'the provider reported an error in the middle of its answer';
    } else if (status === 401 || status === 403) {
      code = 'model_auth';
      hint = 'check the API key (OPENAI_API_KEY or { apiKey })';
    } else if (status === 429) {
      code = 'model_rate_limit';
      hint = 'rate limited after the retries; slow down or raise maxRetries';
    } else if (status >= 500) {
      code = 'model_unavailable';
      hint = 'the provider failed after the retries; try again later';
    } else {
      code = 'model_bad_request';
      hint = status === 404 ? `check that the model id "${modelId}" exists on this provider` : 'the provider rejected the request';
    }
    return new ModelError(code, `Model ${modelId} failed${status ? ` (HTTP ${status})` : ''}: ${hint}. Provider said: ${detail}`, {
      cause: error,
      status,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ModelError('model_stream_error', `The model ${modelId}'s answer broke off: ${message}`, { cause: error });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function providerMessage(error: InstanceType<typeof OpenAI.APIError>): string {
  const body = error.error as { message?: unknown } | undefined;
  if (body && typeof body.message === 'string') return body.message;
  return error.message;
}
