import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted tool call of a {@link FakeReply}. */
export interface FakeToolCall {
  /** Generated when absent. */
  id?: string;
  name: string;
  /** An object (serialised) or a raw string (e.g. malformed JSON). */
  arguments: unknown;
}

/**
 * What the fake server answers to one chat completion request. Whether it
 * streams follows the request's `stream` flag.
 */
export interface FakeReply {
  /** The reply text. When streaming it is split into `chunks` (default: word by word). */
  content?: string;
  /** The streamed pieces of the reply (joined for a non-streaming answer). */
  chunks?: string[];
  /** Reasoning deltas (`reasoning_content`), streamed before the content. */
  reasoning?: string[];
  toolCalls?: FakeToolCall[];
  /** Usage to report; default: counted from the request and reply words. `null` reports none. */
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  finishReason?: string;
  /** Answer with this HTTP status and an OpenAI-style error body instead of a completion. */
  status?: number;
  /** The error body's message (with `status`, or mid-stream with `failAfterChunks`). */
  errorMessage?: string;
  /** Seconds for a `retry-after` header (with `status: 429`). */
  retryAfter?: number;
  /** Wait this long before answering (the request's connection may be closed meanwhile). */
  delayMs?: number;
  /** Wait this long between streamed frames (the first content chunk comes without delay). */
  chunkDelayMs?: number;
  /** Streaming: send an error frame after this many content chunks, then end. */
  failAfterChunks?: number;
  /** Streaming: destroy the connection after this many content chunks. */
  dropAfterChunks?: number;
  /**
   * Send the headers and this many content chunks (streaming) or half the JSON
   * body (not streaming), then nothing more, keeping the connection open: an
   * upstream that stalls mid-answer.
   */
  stallAfterChunks?: number;
  /** Streaming: end the response cleanly after this many content chunks, with no `finish_reason` and no `[DONE]`. */
  endAfterChunks?: number;
  /** Streaming: send a `data:` line that is not JSON after this many content chunks. */
  malformedAfterChunks?: number;
  /** Answer with exactly this (e.g. an HTML page, or a JSON body to a streaming request), whatever the request asked. */
  raw?: { status?: number; contentType: string; body: string };
}

/** A request the fake server received. */
export interface FakeRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body (`undefined` when there was none). */
  body: any;
  /** Settles when the exchange ends: `'completed'` when the answer was sent, `'aborted'` when the client went away first. */
  settled: Promise<'completed' | 'aborted'>;
}

/** Options of {@link startFakeOpenAI}. */
export interface FakeOpenAIOptions {
  /** Port on 127.0.0.1; default: a free one. */
  port?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** The answer when no scripted reply is queued. Default: echoes the last user message. */
  defaultReply?: (body: any) => FakeReply;
}

/** A running fake OpenAI-compatible server (see {@link startFakeOpenAI}). */
export interface FakeOpenAIServer {
  /** The `baseURL` to give the `openai` client or `OpenAIChat`: `http://127.0.0.1:<port>/v1`. */
  readonly baseURL: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: FakeRequest[];
  /** Queues replies; each chat completion request takes the next one. */
  enqueue(...replies: FakeReply[]): void;
  /** Forgets recorded requests and queued replies. */
  reset(): void;
  /** Stops the server, ending open connections. */
  close(): Promise<void>;
}

/**
 * The default answer: echoes the last user message, so a run needs no script.
 * A request for structured output (`response_format: json_schema`) gets the
 * smallest object its schema allows (empty arrays and strings, zeros, the
 * first enum value), so it parses.
 */
export function echoReply(body: any): FakeReply {
  const schema = body?.response_format?.type === 'json_schema' ? body.response_format.json_schema?.schema : undefined;
  if (schema) return { content: JSON.stringify(minimalInstance(schema)) };
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const last = [...messages].reverse().find((message) => message?.role === 'user');
  const content = typeof last?.content === 'string'
    ? last.content
    : Array.isArray(last?.content)
      ? last.content.filter((part: any) => part?.type === 'text').map((part: any) => part.text).join(' ')
      : '';
  return { content: `You said: ${content}` };
}

/**
 * Starts a fake OpenAI-compatible server on 127.0.0.1 implementing
 * `POST /v1/chat/completions` (non-streaming and streaming, with usage chunks,
 * streamed tool-call deltas and reasoning deltas), `POST /v1/embeddings`
 * (deterministic bag-of-words vectors) and `GET /v1/models`, with
 * injected failures (HTTP status, mid-stream error, dropped connection, delay).
 *
 * @example
 * const fake = await startFakeOpenAI();
 * fake.enqueue({ content: 'Paris.' });
 * const model = new OpenAIChat({ id: 'gpt-4o', apiKey: 'test', baseURL: fake.baseURL, maxRetries: 0 });
 */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAIServer> {
  const queue: FakeReply[] = [];
  const requests: FakeRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const defaultReply = options.defaultReply ?? echoReply;

  const wait = (ms: number | undefined, res: ServerResponse) =>
    new Promise<boolean>((resolve) => {
      if (!ms) return resolve(!res.destroyed);
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(!res.destroyed);
      }, ms);
      timers.add(timer);
    });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: any;
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return sendError(res, 400, 'Request body is not valid JSON.');
      }
      let settle!: (value: 'completed' | 'aborted') => void;
      const settled = new Promise<'completed' | 'aborted'>((resolve) => (settle = resolve));
      res.on('close', () => settle(res.writableFinished ? 'completed' : 'aborted'));
      const path = (req.url ?? '/').split('?')[0];
      requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body, settled });
      handle(req.method ?? 'GET', path, req, res, body).catch(() => res.destroy());
    });
  });

  async function handle(method: string, path: string, req: IncomingMessage, res: ServerResponse, body: any): Promise<void> {
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    const route = path.replace(/^\/v1/, '');
    if (method === 'GET' && route === '/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'fake' }] });
    }
    if (method === 'POST' && route === '/embeddings') return embeddings(res, body);
    if (method !== 'POST' || route !== '/chat/completions') {
      return sendError(res, 404, `Unknown route ${method} ${path}.`);
    }
    if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
      return sendError(res, 400, "The request needs 'model' and 'messages'.");
    }
    const reply = queue.shift() ?? defaultReply(body);
    if (!(await wait(reply.delayMs, res))) return;
    if (reply.status) {
      if (reply.retryAfter !== undefined) res.setHeader('retry-after', String(reply.retryAfter));
      return sendError(res, reply.status, reply.errorMessage ?? `Injected failure (HTTP ${reply.status}).`);
    }
    if (reply.raw) {
      res.writeHead(reply.raw.status ?? 200, { 'content-type': reply.raw.contentType });
      return void res.end(reply.raw.body);
    }
    if (body.stream === true) return stream(res, body, reply);
    return complete(res, body, reply);
  }

  function complete(res: ServerResponse, body: any, reply: FakeReply): void {
    if (reply.stallAfterChunks !== undefined) {
      // Headers and half a body, then silence: the client's body read must time out on its own.
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.write('{"id":"chatcmpl-stalled","object":"chat.completion","choices":[{"index":0,');
    }
    const content = reply.content ?? reply.chunks?.join('') ?? '';
    const toolCalls = toolCallsOf(reply);
    const message: Record<string, unknown> = { role: 'assistant', content: toolCalls.length && !content ? null : content };
    if (reply.reasoning?.length) message.reasoning_content = reply.reasoning.join('');
    if (toolCalls.length) message.tool_calls = toolCalls.map(({ id, name, args }) => ({ id, type: 'function', function: { name, arguments: args } }));
    sendJson(res, 200, {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: reply.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop') }],
      ...(reply.usage === null ? {} : { usage: usageOf(body, reply, content) }),
    });
  }

  async function stream(res: ServerResponse, body: any, reply: FakeReply): Promise<void> {
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const frame = (delta: Record<string, unknown>, finish: string | null = null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = async (data: unknown, pause = true): Promise<boolean> => {
      if (pause && !(await wait(reply.chunkDelayMs, res))) return false;
      if (res.destroyed) return false;
      res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
      return true;
    };
    if (!(await send(frame({ role: 'assistant', content: '' }), false))) return;
    for (const piece of reply.reasoning ?? []) {
      if (!(await send(frame({ reasoning_content: piece })))) return;
    }
    const content = reply.content ?? reply.chunks?.join('') ?? '';
    const pieces = reply.chunks ?? splitWords(content);
    for (const [i, piece] of pieces.entries()) {
      if (reply.failAfterChunks === i) {
        await send({ error: { message: reply.errorMessage ?? 'Injected mid-stream failure.', type: 'server_error', code: null } });
        res.end();
        return;
      }
      if (reply.dropAfterChunks === i) {
        res.destroy();
        return;
      }
      if (reply.stallAfterChunks === i) return; // silence, connection open
      if (reply.endAfterChunks === i) return void res.end();
      if (reply.malformedAfterChunks === i) {
        await send('{"id": "chatcmpl-broken", "choices": [{"delta": {"content": "unterminated');
        return void res.end();
      }
      if (!(await send(frame({ content: piece }), i > 0))) return;
    }
    // Tool calls: a head frame per call, then their argument fragments interleaved, as parallel calls arrive.
    const calls = toolCallsOf(reply);
    for (const [index, call] of calls.entries()) {
      const head = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
      if (!(await send(frame({ tool_calls: [head] })))) return;
    }
    const fragments = calls.map((call) => splitInTwo(call.args));
    for (let part = 0; part < 2; part++) {
      for (const [index, pair] of fragments.entries()) {
        if (pair[part] === '') continue;
        if (!(await send(frame({ tool_calls: [{ index, function: { arguments: pair[part] } }] })))) return;
      }
    }
    if (!(await send(frame({}, reply.finishReason ?? (calls.length ? 'tool_calls' : 'stop'))))) return;
    if (body.stream_options?.include_usage && reply.usage !== null) {
      if (!(await send({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: usageOf(body, reply, content) }))) return;
    }
    await send('[DONE]', false);
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    reset: () => {
      queue.length = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function minimalInstance(schema: any): unknown {
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((key: string) => [key, minimalInstance(schema.properties?.[key])]));
    case 'array':
      return [];
    case 'string':
      return '';
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return schema.anyOf ? minimalInstance(schema.anyOf[0]) : null;
  }
}

/**
 * `POST /v1/embeddings`: deterministic bag-of-words vectors (each word of three
 * letters or more hashed into `dimensions` buckets, default 64), so texts that
 * share words are close — enough for retrieval tests.
 */
function embeddings(res: ServerResponse, body: any): void {
  const inputs: unknown[] = typeof body?.input === 'string' ? [body.input] : Array.isArray(body?.input) ? body.input : [];
  if (typeof body?.model !== 'string' || inputs.length === 0 || inputs.some((input) => typeof input !== 'string')) {
    return sendError(res, 400, "The request needs 'model' and 'input' (a string or an array of strings).");
  }
  const dimensions = Number(body.dimensions ?? 64);
  const data = (inputs as string[]).map((input, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(input, dimensions) }));
  const tokens = (inputs as string[]).reduce((sum, input) => sum + countWords(input), 0);
  sendJson(res, 200, { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

/** The fake server's embedding of a text (exported for tests that build vectors themselves). */
export function fakeEmbedding(text: string, dimensions = 64): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []) {
    let hash = 2166136261;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 16777619);
    vector[(hash >>> 0) % dimensions] += 1;
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0)) || 1;
  return vector.map((value) => value / norm);
}

function toolCallsOf(reply: FakeReply): { id: string; name: string; args: string }[] {
  return (reply.toolCalls ?? []).map((call, i) => ({
    id: call.id ?? `call_${i}_${randomUUID().slice(0, 8)}`,
    name: call.name,
    args: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
  }));
}

function usageOf(body: any, reply: FakeReply, content: string) {
  const reasoning = reply.reasoning?.length ? { completion_tokens_details: { reasoning_tokens: countWords(reply.reasoning.join('')) } } : {};
  if (reply.usage) return { ...reply.usage, total_tokens: reply.usage.prompt_tokens + reply.usage.completion_tokens, ...reasoning };
  const prompt = countWords(JSON.stringify(body.messages ?? []));
  const completion = Math.max(1, countWords(content));
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, ...reasoning };
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** Splits text into word-sized deltas that keep their spaces (joined, they give the text back). */
function splitWords(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function splitInTwo(text: string): [string, string] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)];
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  const data = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: ServerResponse, status: number, message: string, type = 'server_error', code: string | null = null): void {
  sendJson(res, status, { error: { message, type, param: null, code } });
}
