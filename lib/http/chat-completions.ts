import { Logger } from '@nestjs/common';
import type { ImageInput } from '../agent/media';
import type { ContentPart, Message, ToolCallRequest } from '../agent/messages';
import type { FileInput } from '../agent/readers/file-reader';
import type { RunEvent } from '../agent/run-events';
import type { RunMetrics, RunOutput } from '../agent/run-output';
import { pausedNote } from '../module/approvals/approval-text';
import { assertContentType, DefinableHttpError, publicError } from '../module/http-errors';
import type { ErrorBody } from '../module/http-errors';
import { SSE_HEADERS } from './run-events-writer';

/** One message of a {@link ChatCompletionRequestBody}, as OpenAI's Chat Completions API takes it. */
export interface ChatCompletionMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  /** Text, or content parts: `text`, `image_url` and (user messages) `file` with `file_data` as a data URL. */
  content?: string | { type: string; [field: string]: unknown }[] | null;
  /** An assistant message's tool calls (history only: the agent's own tools run on the server). */
  tool_calls?: { id: string; type?: 'function'; function: { name: string; arguments: string } }[];
  /** A tool message's call id. */
  tool_call_id?: string;
  name?: string;
}

/**
 * The body of `POST /v1/chat/completions`: what every OpenAI client sends.
 * `model` names the agent; the last message is the user's new one and runs,
 * the earlier ones are its history. Sampling parameters (`temperature`,
 * `max_tokens`…) are the agent's model's and are ignored here.
 */
export interface ChatCompletionRequestBody {
  /** The agent's name, as `GET /v1/models` lists them. */
  model: string;
  messages: ChatCompletionMessage[];
  /** Answer with `chat.completion.chunk` Server-Sent Events. */
  stream?: boolean;
  /** With `stream`: `include_usage` adds a last chunk with the run's token usage. */
  stream_options?: { include_usage?: boolean } | null;
  /** The run's user (the same rule as `POST /run`'s `user_id`). */
  user?: string;
  /** Free-form string pairs handed to hooks and tools as the run's metadata. */
  metadata?: Record<string, string> | null;
  /** Only `1`. */
  n?: number | null;
}

/** The answer of a non-streaming `POST /v1/chat/completions`: OpenAI's `chat.completion` object. */
export interface ChatCompletionResponse {
  /** `chatcmpl-` and the run's id. */
  id: string;
  object: 'chat.completion';
  created: number;
  /** The agent's name. */
  model: string;
  system_fingerprint: null;
  choices: {
    index: 0;
    message: { role: 'assistant'; content: string; refusal: null; annotations: []; reasoning_content?: string };
    logprobs: null;
    finish_reason: 'stop';
  }[];
  usage: ChatCompletionUsage;
}

/** Token usage as OpenAI reports it. */
export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details?: { reasoning_tokens: number };
}

/** An error answer in OpenAI's shape, which its clients turn into their typed errors. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    /** `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, `rate_limit_error`, `server_error`… */
    type: string;
    /** This module's error code (`quota_exceeded`, `model_not_found`, `session_forbidden`…). */
    code: string;
    param: string | null;
    /** On failures whose details stay in the server log: search it for the id. */
    request_id?: string;
  };
}

const ROLES: readonly string[] = ['system', 'developer', 'user', 'assistant', 'tool'];
const IMAGE_DATA_URL = /^data:image\/(png|jpe?g|gif|webp);base64,/i;

/**
 * Validates a Chat Completions body: 415 for a non-JSON `Content-Type`, 400
 * naming the field otherwise. Client-side tools are refused (the agent's tools
 * run on the server); unknown fields and sampling parameters pass.
 */
export function parseChatCompletionRequest(body: unknown, contentType: unknown): ChatCompletionRequestBody {
  assertContentType(contentType, ['application/json'], 'POST /chat/completions', 'send the JSON body of OpenAI\'s Chat Completions API');
  if (!isObject(body)) throw invalid('The body must be a JSON object: { "model": <agent name>, "messages": [...] }.');
  if (typeof body.model !== 'string' || body.model === '') {
    throw invalid(`"model" is required: the name of an agent (GET /models lists them)${body.model === undefined ? '' : `, got ${kind(body.model)}`}.`, 'model');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw invalid(`"messages" must be a non-empty array, got ${kind(body.messages)}.`, 'messages');
  body.messages.forEach((message, index) => {
    if (!isObject(message) || typeof message.role !== 'string' || !ROLES.includes(message.role)) {
      throw invalid(`messages[${index}] must be { role: "system" | "developer" | "user" | "assistant" | "tool", content }.`, `messages[${index}]`);
    }
  });
  const last = body.messages[body.messages.length - 1] as ChatCompletionMessage;
  if (last.role !== 'user') {
    throw invalid(
      `The last message must be the user's new message, got role "${last.role}": this server runs the agent's tools itself, so it takes no tool results from the client.`,
      'messages',
    );
  }
  for (const field of ['tools', 'functions'] as const) {
    const value = body[field];
    if (Array.isArray(value) ? value.length > 0 : value !== undefined && value !== null) {
      throw invalid(`"${field}": client-side tools are not supported; the agent calls its own tools on the server and answers with the result.`, field);
    }
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw invalid(`"n" must be 1: an agent gives one answer per run.`, 'n');
  const format = body.response_format;
  if (format !== undefined && format !== null && !(isObject(format) && format.type === 'text')) {
    throw invalid('"response_format": only { "type": "text" } is taken here; for structured output run the agent with an outputSchema through POST /run.', 'response_format');
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw invalid(`"stream" must be true or false, got ${kind(body.stream)}.`, 'stream');
  const options = body.stream_options;
  if (options !== undefined && options !== null && (!isObject(options) || (options.include_usage !== undefined && typeof options.include_usage !== 'boolean'))) {
    throw invalid('"stream_options" must be { "include_usage": true | false }.', 'stream_options');
  }
  if (body.user !== undefined && body.user !== null && (typeof body.user !== 'string' || body.user === '')) throw invalid(`"user" must be a non-empty string, got ${kind(body.user)}.`, 'user');
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) throw invalid(`"metadata" must be an object, got ${kind(body.metadata)}.`, 'metadata');
  return {
    model: body.model,
    messages: body.messages as ChatCompletionMessage[],
    stream: (body.stream as boolean | null) ?? undefined,
    stream_options: (options as ChatCompletionRequestBody['stream_options']) ?? undefined,
    user: (body.user as string | null) ?? undefined,
    metadata: (body.metadata as Record<string, string> | null) ?? undefined,
  };
}

/** The new user message as a run's input: its text, images and files. */
export function chatCompletionTurn(message: ChatCompletionMessage, index: number): { input: string; images: ImageInput[]; files: FileInput[] } {
  const where = `messages[${index}]`;
  if (typeof message.content === 'string') {
    if (message.content.trim() === '') throw invalid(`${where} (the new message) is empty.`, where);
    return { input: message.content, images: [], files: [] };
  }
  if (!Array.isArray(message.content)) throw invalid(`${where}.content must be a string or an array of content parts.`, `${where}.content`);
  const texts: string[] = [];
  const images: ImageInput[] = [];
  const files: FileInput[] = [];
  message.content.forEach((part, at) => {
    const path = `${where}.content[${at}]`;
    if (!isObject(part)) throw invalid(`${path} must be a content part object.`, path);
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'image_url') images.push({ url: imageUrl(part, path) });
    else if (part.type === 'file') files.push(fileOf(part, path, files.length));
    else throw invalid(`${path}: parts of type ${JSON.stringify(String(part.type).slice(0, 40))} are not taken; send text, image_url or file parts.`, path);
  });
  const input = texts.join('\n');
  if (input.trim() === '' && !images.length && !files.length) throw invalid(`${where} (the new message) has no text and no files.`, where);
  return { input, images, files };
}

/**
 * The client's earlier messages as the agent's history: system and developer
 * messages, user text and images, assistant text with its tool calls, and the
 * tool results that answer them. Files sent earlier stay as a mention (their
 * content was read into that turn's prompt).
 */
export function chatCompletionHistory(messages: ChatCompletionMessage[]): Message[] {
  const history: Message[] = [];
  messages.forEach((message, index) => {
    const text = textOf(message.content);
    switch (message.role) {
      case 'system':
      case 'developer':
        if (text.trim() !== '') history.push({ role: 'system', content: text });
        break;
      case 'user': {
        const images = Array.isArray(message.content)
          ? message.content.filter((part) => isObject(part) && part.type === 'image_url').map((part): ContentPart => ({ type: 'image', url: imageUrl(part, `messages[${index}]`) }))
          : [];
        const mentions = Array.isArray(message.content)
          ? message.content.filter((part) => isObject(part) && part.type === 'file').map((part) => `[attached file${fileName(part) ? ` ${fileName(part)}` : ''}]`)
          : [];
        const content = [text, ...mentions].filter((line) => line !== '').join('\n');
        if (images.length) history.push({ role: 'user', content: [{ type: 'text', text: content }, ...images] });
        else if (content.trim() !== '') history.push({ role: 'user', content });
        break;
      }
      case 'assistant': {
        const calls: ToolCallRequest[] = (message.tool_calls ?? []).map((call, at) => {
          if (!isObject(call) || typeof call.id !== 'string' || !isObject(call.function) || typeof call.function.name !== 'string') {
            throw invalid(`messages[${index}].tool_calls[${at}] must be { id, type: "function", function: { name, arguments } }.`, `messages[${index}].tool_calls[${at}]`);
          }
          return { id: call.id, name: call.function.name, arguments: typeof call.function.arguments === 'string' ? call.function.arguments : '{}' };
        });
        if (text !== '' || calls.length) history.push({ role: 'assistant', content: text === '' ? null : text, ...(calls.length ? { toolCalls: calls } : {}) });
        break;
      }
      case 'tool':
        if (typeof message.tool_call_id !== 'string') throw invalid(`messages[${index}] (a tool message) needs its "tool_call_id".`, `messages[${index}].tool_call_id`);
        history.push({ role: 'tool', toolCallId: message.tool_call_id, ...(message.name ? { name: message.name } : {}), content: text });
        break;
    }
  });
  return withAnsweredCalls(history);
}

/** Usage in OpenAI's shape, from a run's metrics. */
export function chatCompletionUsage(metrics: RunMetrics | undefined): ChatCompletionUsage {
  const input = metrics?.inputTokens ?? 0;
  const output = metrics?.outputTokens ?? 0;
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    ...(metrics?.reasoningTokens != null ? { completion_tokens_details: { reasoning_tokens: metrics.reasoningTokens } } : {}),
  };
}

/** A completed run as a `chat.completion` object; `model` is the agent's name. */
export function toChatCompletion(output: RunOutput, model: string): ChatCompletionResponse {
  const text = typeof output.content === 'string' ? output.content : JSON.stringify(output.content);
  // A paused run says so, and how to go on: the client has no other way to learn it.
  const content = output.pendingApprovals?.length ? [text, pausedNote(output.runId, output.pendingApprovals)].filter(Boolean).join('\n\n') : text;
  return {
    id: completionId(output.runId),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, annotations: [], ...(output.reasoningContent ? { reasoning_content: output.reasoningContent } : {}) },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: chatCompletionUsage(output.metrics),
  };
}

/** The completion id of a run: `chatcmpl-` and its run id. */
export function completionId(runId: string): string {
  return `chatcmpl-${runId}`;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** The module's error body in OpenAI's shape (`type` from the status, our `code` kept). */
export function toOpenAIError(status: number, body: ErrorBody): OpenAIErrorBody {
  const { code, message, request_id: requestId } = body.error;
  const param = (body.error as { param?: unknown }).param;
  return {
    error: {
      message,
      type: ERROR_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
      code,
      param: typeof param === 'string' ? param : null,
      ...(requestId ? { request_id: requestId } : {}),
    },
  };
}

/** The response headers of a streamed completion. */
export const CHAT_COMPLETION_STREAM_HEADERS = SSE_HEADERS;

/** The frame that ends a streamed completion. */
export const CHAT_COMPLETION_DONE = 'data: [DONE]\n\n';

const logger = new Logger('Definable:HTTP');

/**
 * @internal Turns a run's events into `chat.completion.chunk` frames, as
 * OpenAI streams them: a first chunk with the assistant role, one chunk per
 * content delta (reasoning as `reasoning_content`, which compatible clients
 * read; text the model says after its tools returned starts a new paragraph,
 * since the whole run is one message), a last chunk with `finish_reason: "stop"`, with `include_usage` a
 * usage chunk with no choices, then `[DONE]`. Tool calls stay on the server.
 * A failed run ends the stream with an `error` frame, which OpenAI's clients
 * raise as an `APIError`. The JSON around each delta is built once.
 */
export class ChatCompletionChunkEncoder {
  private head = '';
  private tail = '';
  private created = 0;
  private id = '';
  private contentSeen = false;
  private toolsReturned = false;
  private ended = false;

  constructor(
    private readonly model: string,
    private readonly includeUsage: boolean,
    private readonly route: string,
  ) {}

  /** The frames of one run event (an empty string for events Chat Completions has no part for). */
  encode(event: RunEvent): string {
    switch (event.event) {
      case 'RunStarted':
        return this.start(event.runId);
      case 'RunContent': {
        if (event.content === '') return '';
        // What the model says after its tools returned is a new paragraph of the one message.
        const content = this.toolsReturned && this.contentSeen ? `\n\n${event.content}` : event.content;
        this.toolsReturned = false;
        this.contentSeen = true;
        return `${this.start(event.runId)}${this.head}{"content":${JSON.stringify(content)}}${this.tail}`;
      }
      case 'ToolCallCompleted':
      case 'ToolCallError':
        this.toolsReturned = true;
        return '';
      case 'ReasoningStep':
        if (event.content === '') return '';
        return `${this.start(event.runId)}${this.head}{"reasoning_content":${JSON.stringify(event.content)}}${this.tail}`;
      case 'RunContentCompleted':
        // A reply that came whole rather than in deltas still shows.
        if (this.contentSeen || event.content === '') return '';
        this.contentSeen = true;
        return `${this.start(event.runId)}${this.head}{"content":${JSON.stringify(event.content)}}${this.tail}`;
      case 'RunPaused': {
        const note = `${this.contentSeen ? '\n\n' : ''}${pausedNote(event.runId, event.pendingApprovals)}`;
        this.contentSeen = true;
        const frames = `${this.start(event.runId)}${this.head}{"content":${JSON.stringify(note)}}${this.tail}`;
        return frames + this.finishFrames(event.output);
      }
      case 'RunCompleted':
        return `${this.start(event.runId)}${this.finishFrames(event.output)}`;
      case 'RunError': {
        const { info, detail } = publicError(event.error.code, event.error.message);
        if (detail) logger.warn(`${this.route} failed [${info.request_id}] ${info.code}: ${detail}`);
        return this.error(502, { error: info });
      }
      case 'RunCancelled':
        return this.error(499, { error: { code: 'cancelled', message: `The run was cancelled: ${event.reason ?? 'no reason given'}.` } });
      default:
        return '';
    }
  }

  /** The last chunk (`finish_reason: "stop"`) and, with `include_usage`, the usage chunk. */
  private finishFrames(output: RunOutput): string {
    this.ended = true;
    const last = { ...this.chunkBase(), choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], ...(this.includeUsage ? { usage: null } : {}) };
    const usage = this.includeUsage ? frame({ ...this.chunkBase(), choices: [], usage: chatCompletionUsage(output.metrics) }) : '';
    return `${frame(last)}${usage}`;
  }

  /** The frame that ends a stream whose run broke off without a terminal event (the server failed under it). */
  fail(message: string): string {
    return this.error(500, { error: { code: 'internal', message } });
  }

  /** Whether the stream ended well (then `[DONE]` follows). */
  get completed(): boolean {
    return this.ended;
  }

  private error(status: number, body: ErrorBody): string {
    if (this.ended) return '';
    this.ended = true;
    return frame(toOpenAIError(status, body));
  }

  /** The first chunk (the assistant role), once; it also fixes the id and the JSON around every delta. */
  private start(runId: string): string {
    if (this.id !== '') return '';
    this.id = completionId(runId);
    this.created = Math.floor(Date.now() / 1000);
    const base = JSON.stringify(this.chunkBase());
    this.head = `data: ${base.slice(0, -1)},"choices":[{"index":0,"delta":`;
    this.tail = `,"logprobs":null,"finish_reason":null}]${this.includeUsage ? ',"usage":null' : ''}}\n\n`;
    return `${this.head}{"role":"assistant","content":""}${this.tail}`;
  }

  private chunkBase(): { id: string; object: 'chat.completion.chunk'; created: number; model: string; system_fingerprint: null } {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, system_fingerprint: null };
  }
}

function frame(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/** Drops assistant tool calls that no tool message answers (and tool messages answering none): models refuse either. */
function withAnsweredCalls(history: Message[]): Message[] {
  const answered = new Set(history.filter((message) => message.role === 'tool').map((message) => (message as { toolCallId: string }).toolCallId));
  const called = new Set<string>();
  const out: Message[] = [];
  for (const message of history) {
    if (message.role === 'assistant' && message.toolCalls) {
      const calls = message.toolCalls.filter((call) => answered.has(call.id));
      for (const call of calls) called.add(call.id);
      if (calls.length === 0 && message.content === null) continue;
      out.push({ role: 'assistant', content: message.content, ...(calls.length ? { toolCalls: calls } : {}) });
    } else if (message.role === 'tool') {
      if (called.has(message.toolCallId)) out.push(message);
    } else {
      out.push(message);
    }
  }
  return out;
}

function textOf(content: ChatCompletionMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((part) => isObject(part) && (part.type === 'text' || part.type === 'refusal'))
    .map((part) => String(part.text ?? part.refusal ?? ''))
    .join('\n');
}

function imageUrl(part: Record<string, unknown>, where: string): string {
  const image = part.image_url;
  const url = typeof image === 'string' ? image : isObject(image) ? image.url : undefined;
  if (typeof url !== 'string' || !(/^https?:\/\//i.test(url) || IMAGE_DATA_URL.test(url))) {
    throw invalid(`${where}: an image_url part needs { "url" } as an http(s) URL or a base64 data URL of a png, jpeg, gif or webp image.`, where);
  }
  return url;
}

function fileName(part: Record<string, unknown>): string | undefined {
  const file = isObject(part.file) ? part.file : undefined;
  return typeof file?.filename === 'string' && file.filename !== '' ? file.filename : undefined;
}

function fileOf(part: Record<string, unknown>, where: string, index: number): FileInput {
  const file = isObject(part.file) ? part.file : undefined;
  const match = typeof file?.file_data === 'string' ? /^data:([^;,]+);base64,(.*)$/is.exec(file.file_data) : null;
  if (!match) {
    throw invalid(`${where}: a file part needs { "file": { "file_data": "data:<type>;base64,<bytes>", "filename" } }; uploaded file ids are not taken.`, where);
  }
  return { name: fileName(part) ?? `attachment-${index + 1}`, content: Buffer.from(match[2], 'base64'), mimeType: match[1].toLowerCase() };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A 400 whose body names the offending field as OpenAI's `param`. */
function invalid(message: string, param?: string): DefinableHttpError {
  const error = new DefinableHttpError(400, 'invalid_request', message);
  if (param) ((error.getResponse() as ErrorBody).error as { param?: string }).param = param;
  return error;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
