import { Controller, HttpCode, Inject, Optional, Post, Req, Res, Type, UseFilters, UseGuards } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { ImageInput } from '../agent/media';
import type { ContentPart, Message, ToolCallRequest } from '../agent/messages';
import type { FileInput } from '../agent/readers/file-reader';
import type { AuthContext } from '../auth/auth-provider';
import { AUTH_CONTEXT_PROPERTY } from '../auth/auth.constants';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { AgentRegistry } from '../module/agent.registry';
import { AgentRunner, RunnerOptions } from '../module/agent.runner';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import { DEFINABLE_OPTIONS } from '../module/definable.module-definition';
import { assertContentType, DefinableHttpError } from '../module/http-errors';
import { clientGone, relayRunFrames } from './run-events-writer';
import { callerUserId, requestedAgent, syncClientHistory } from './run-request';
import { UI_MESSAGE_STREAM_HEADERS, UI_STREAM_DONE, UiMessageStreamEncoder } from './ui-message-stream';

export type { UiChatOptions } from './surface-options';

/** One message of a {@link UiChatRequestBody}: the AI SDK's `UIMessage`. */
export interface UiChatMessage {
  id?: string;
  role: 'system' | 'user' | 'assistant';
  /** `text` and `file` parts from the user; text, reasoning and tool parts from the assistant. */
  parts: { type: string; [field: string]: unknown }[];
  metadata?: unknown;
}

/**
 * The body of `POST /chat`: what the AI SDK's `useChat` (its
 * `DefaultChatTransport`) sends, plus optional fields of this server, set
 * with the transport's `body` option.
 */
export interface UiChatRequestBody {
  /** The chat's id: the session the run continues. */
  id: string;
  /** The chat so far; the last one is the user's new message. */
  messages: UiChatMessage[];
  /** `'submit-message'` (default) or `'regenerate-message'`. */
  trigger?: 'submit-message' | 'regenerate-message';
  /** With `submit-message`: the user message being edited; with `regenerate-message`: the answer regenerated. */
  messageId?: string;
  /** A named agent of the module (default: the default agent). */
  agent?: string;
  /** Run for this user (the same rule as `POST /run`'s `user_id`). */
  user_id?: string;
  /** Free-form data handed to hooks and tools. */
  metadata?: Record<string, unknown>;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const ROLES: readonly string[] = ['system', 'user', 'assistant'];
const TRIGGERS: readonly string[] = ['submit-message', 'regenerate-message'];
const IMAGE_TYPES: readonly string[] = ['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp'];
/** Fields of `/run` under names this route spells differently. */
const MISNAMED: Record<string, string> = {
  userId: '"userId": send "user_id".',
  session_id: '"session_id": the chat\'s "id" is the session id.',
  sessionId: '"sessionId": the chat\'s "id" is the session id.',
  input: '"input": the new message is the last of "messages".',
};

/**
 * `POST {path}` for the Vercel AI SDK's `useChat`: takes the body its
 * `DefaultChatTransport` sends and answers with the AI SDK's UI message
 * stream (protocol `v1`: `x-vercel-ai-ui-message-stream: v1`, SSE
 * `data: <part>` frames, `data: [DONE]`), so `useChat({ transport: new
 * DefaultChatTransport({ api: '/chat' }) })` works as against a Next.js route.
 *
 * The chat's `id` is the run's session, and the session store holds the
 * history, as for every other entry point: the model sees the stored turns
 * with their exact tool calls and results, whatever the client kept of them
 * (a UI message drops what the UI does not show). The earlier `messages` are
 * used only when the server has no session for the chat yet (a chat begun
 * elsewhere, or a store that lost it), which they seed, and when the client
 * rewrote the chat (`regenerate-message`, or `submit-message` with the
 * `messageId` of an edited message), where they replace the stored session,
 * so the new answer follows the chat the user sees rather than one with the
 * discarded answer still in it.
 *
 * Only the last message runs: a user message of `text` parts and `file`
 * parts as data URLs (images go to the model as images, other files through
 * the agent's readers; http(s) URLs only for images). Body fields `agent`,
 * `user_id` (as in `POST /run`) and `metadata` are optional. Errors before
 * the stream are JSON `{ error }` answers with their status; a run's failure
 * is an `error` part. The run is cancelled when the client disconnects (the
 * chat's stop button).
 *
 * @example
 * DefinableModule.forRoot({ agent, chat: true }) // POST /chat
 * // in the browser:
 * useChat({ transport: new DefaultChatTransport({ api: '/chat', body: { agent: 'support' } }) })
 */
@UseFilters(DefinableExceptionFilter)
export class UiChatController {
  private readonly bodyLimit: number;
  /** The route as recorded in `metadata.trigger` and logs. */
  protected readonly route: string = 'POST /chat';

  constructor(
    private readonly agents: AgentRegistry,
    private readonly runner: AgentRunner,
    // Visible where the module mounts the route; an app mounting it itself gets the default limit.
    @Optional() @Inject(DEFINABLE_OPTIONS) options?: DefinableModuleOptions | null,
  ) {
    this.bodyLimit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  }

  /** Runs the chat's new message and streams the answer as UI message stream parts. */
  protected async handle(request: any, reply: any): Promise<void> {
    const length = Number(request.headers?.['content-length'] ?? 0);
    if (length > this.bodyLimit) {
      throw new DefinableHttpError(
        413,
        'payload_too_large',
        `The body is ${length} bytes; the limit is ${this.bodyLimit}: send smaller files, or (server side) raise bodyLimit in DefinableModule.forRoot().`,
      );
    }
    if (this.runner.isClosing) throw new DefinableHttpError(503, 'shutting_down', 'The server is shutting down; retry against another instance.');
    const body = parseUiChatRequest(request.body, request.headers?.['content-type'], this.route);
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const userId = callerUserId(principal, body.user_id);
    const agent = requestedAgent(this.agents, body.agent);
    const last = body.messages.length - 1;
    const turn = userTurn(body.messages[last], last);
    const rewritten = body.trigger === 'regenerate-message' || body.messageId !== undefined;
    await syncClientHistory(agent, body.id, userId ?? null, () => toHistory(body.messages.slice(0, -1)), rewritten);

    const raw: ServerResponse = reply.raw ?? reply;
    const gone = clientGone(raw);
    const runOptions: RunnerOptions = {
      agent,
      trigger: this.route,
      sessionId: body.id,
      userId,
      signal: gone.signal,
      metadata: { ...body.metadata, ...(principal ? { auth: principal.provider } : {}) },
      traceCarrier: request.headers,
      ...(turn.images.length ? { images: turn.images } : {}),
      ...(turn.files.length ? { files: turn.files } : {}),
    };
    try {
      const events = await this.runner.stream(turn.input, runOptions); // refused here (503, 429) before any header is written
      const encoder = new UiMessageStreamEncoder(this.route);
      await relayRunFrames(reply, raw, events, { headers: UI_MESSAGE_STREAM_HEADERS, encoder, route: this.route, last: () => UI_STREAM_DONE });
    } finally {
      gone.release();
    }
  }
}

/** A validated {@link UiChatRequestBody}. */
interface ParsedUiChatRequest extends UiChatRequestBody {
  trigger: 'submit-message' | 'regenerate-message';
}

/**
 * `POST {path}` (default `/chat`) for the AI SDK's `useChat`, as a
 * controller to mount: see {@link UiChatController}. Protected by the
 * module's auth like `POST /run` (send the key with the transport's
 * `headers`).
 */
export function createUiChatController(path: string): Type<unknown> {
  const route = `POST ${path.startsWith('/') ? path : `/${path}`}`;
  @Controller()
  class UiChatRoutes extends UiChatController {
    protected override readonly route = route;

    @Post(path)
    // The handler answers itself (a stream); this keeps Nest's default and Swagger from saying 201.
    @HttpCode(200)
    @UseGuards(DefinableAuthGuard)
    chat(@Req() request: any, @Res() reply: any): Promise<void> {
      return this.handle(request, reply);
    }
  }
  return UiChatRoutes;
}

/** Validates the body `useChat` sends; 415 for a non-JSON `Content-Type`, 400 naming the field otherwise. */
function parseUiChatRequest(body: unknown, contentType: unknown, route: string): ParsedUiChatRequest {
  assertContentType(contentType, ['application/json'], route, 'send the JSON body useChat sends ({ "id", "messages", "trigger" })');
  if (!isObject(body)) {
    throw invalid('The body must be the JSON object useChat sends: { "id": <chat id>, "messages": [...], "trigger": "submit-message" }.');
  }
  for (const field of Object.keys(MISNAMED)) {
    if (Object.hasOwn(body, field)) throw invalid(`Unknown field ${MISNAMED[field]}`);
  }
  if (typeof body.id !== 'string' || body.id === '') {
    throw invalid(`"id" (the chat id, which is the session id) is required and must be a non-empty string${body.id === undefined ? '' : `, got ${kind(body.id)}`}.`);
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw invalid(`"messages" must be a non-empty array of UI messages ({ id, role, parts }), got ${kind(body.messages)}.`);
  }
  const messages = body.messages.map((message, index) => parseMessage(message, index));
  const trigger = body.trigger ?? 'submit-message';
  if (typeof trigger !== 'string' || !TRIGGERS.includes(trigger)) {
    throw invalid(`"trigger" must be "submit-message" or "regenerate-message", got ${typeof trigger === 'string' ? JSON.stringify(trigger.slice(0, 40)) : kind(trigger)}.`);
  }
  for (const field of ['agent', 'user_id'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && (typeof value !== 'string' || value === '')) {
      throw invalid(`"${field}" must be a non-empty string, got ${kind(value)}.`);
    }
  }
  if (body.messageId !== undefined && body.messageId !== null && typeof body.messageId !== 'string') {
    throw invalid(`"messageId" must be a string, got ${kind(body.messageId)}.`);
  }
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) {
    throw invalid(`"metadata" must be an object, got ${kind(body.metadata)}.`);
  }
  if (messages[messages.length - 1].role !== 'user') {
    throw invalid(
      'The last message must be the user\'s new message: this server runs its tools itself, so client-side tool results and tool approvals are not taken.',
    );
  }
  return {
    id: body.id,
    messages,
    trigger: trigger as ParsedUiChatRequest['trigger'],
    messageId: (body.messageId as string | null) ?? undefined,
    agent: (body.agent as string | null) ?? undefined,
    user_id: (body.user_id as string | null) ?? undefined,
    metadata: (body.metadata as Record<string, unknown> | null) ?? undefined,
  };
}

function parseMessage(message: unknown, index: number): UiChatMessage {
  if (!isObject(message) || typeof message.role !== 'string' || !ROLES.includes(message.role) || !Array.isArray(message.parts)) {
    throw invalid(`messages[${index}] must be a UI message { id, role: "user" | "assistant" | "system", parts: [...] }.`);
  }
  message.parts.forEach((part, at) => {
    if (!isObject(part) || typeof part.type !== 'string') throw invalid(`messages[${index}].parts[${at}] must be an object with a "type".`);
  });
  return message as unknown as UiChatMessage;
}

/** The new user message as a run's input: its text, images and files. */
function userTurn(message: UiChatMessage, index: number): { input: string; images: ImageInput[]; files: FileInput[] } {
  const texts: string[] = [];
  const images: ImageInput[] = [];
  const files: FileInput[] = [];
  message.parts.forEach((part, at) => {
    const where = `messages[${index}].parts[${at}]`;
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw invalid(`${where}.text must be a string.`);
      texts.push(part.text);
    } else if (part.type === 'file') {
      const file = fileOf(part, where);
      if (file.image) images.push({ url: file.url });
      else files.push({ name: file.name ?? `attachment-${files.length + 1}`, content: file.data!, mimeType: file.mediaType });
    }
    // Other parts (data-*, step-start) carry nothing for the model.
  });
  const input = texts.join('\n');
  if (input.trim() === '' && !images.length && !files.length) throw invalid(`messages[${index}] (the new message) has no text and no files.`);
  return { input, images, files };
}

/** A `file` part checked: an image (data or http(s) URL) or another file's bytes (data URL). */
function fileOf(part: Record<string, unknown>, where: string): { image: boolean; url: string; mediaType: string; name?: string; data?: Buffer } {
  const { url, mediaType, filename } = part;
  if (typeof url !== 'string' || typeof mediaType !== 'string' || mediaType === '') {
    throw invalid(`${where} must be a file part { type: "file", mediaType, url } with string fields.`);
  }
  const media = mediaType.toLowerCase().split(';')[0].trim();
  const name = typeof filename === 'string' && filename !== '' ? filename : undefined;
  const label = name ? ` ("${name.slice(0, 80)}")` : '';
  if (media.startsWith('image/')) {
    if (!IMAGE_TYPES.includes(media)) throw invalid(`${where}${label} is an image of type ${media.slice(0, 60)}; send png, jpeg, gif or webp.`);
    if (/^https?:\/\//i.test(url) || /^data:image\/[a-z0-9.+-]+;base64,/i.test(url)) return { image: true, url, mediaType: media, name };
    throw invalid(`${where}${label}: an image must be a base64 data URL or an http(s) URL.`);
  }
  const data = decodeDataUrl(url);
  if (!data) {
    throw invalid(
      `${where}${label}: files other than images must be sent as data URLs (useChat's sendMessage({ files }) does so for a FileList); the server does not download URLs.`,
    );
  }
  return { image: false, url, mediaType: media, name, data };
}

/** The bytes of a `data:` URL (base64 or percent-encoded), or undefined for anything else. */
function decodeDataUrl(url: string): Buffer | undefined {
  const match = /^data:([^,]*),(.*)$/is.exec(url);
  if (!match) return undefined;
  if (/;base64$/i.test(match[1])) return Buffer.from(match[2], 'base64');
  try {
    return Buffer.from(decodeURIComponent(match[2]), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * UI messages as the agent's history: user text (and images), assistant
 * text with its tool calls and their results, one assistant message per
 * step. System messages are left out (the agent's instructions are the
 * system prompt), and so are tool calls that never got a result.
 */
function toHistory(messages: UiChatMessage[]): Message[] {
  const history: Message[] = [];
  for (const message of messages) {
    if (message.role === 'user') {
      const user = userHistoryMessage(message);
      if (user) history.push(user);
    } else if (message.role === 'assistant') {
      history.push(...assistantHistoryMessages(message));
    }
  }
  return history;
}

function userHistoryMessage(message: UiChatMessage): Message | undefined {
  const texts: string[] = [];
  const images: ContentPart[] = [];
  for (const part of message.parts) {
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'file' && typeof part.url === 'string' && typeof part.mediaType === 'string') {
      const media = part.mediaType.toLowerCase();
      if (media.startsWith('image/') && (/^https?:\/\//i.test(part.url) || /^data:image\/[a-z0-9.+-]+;base64,/i.test(part.url))) {
        images.push({ type: 'image', url: part.url });
      } else {
        // An earlier file's content was read into that turn's prompt; only its mention stays.
        texts.push(`[attached file${typeof part.filename === 'string' ? ` ${part.filename}` : ''} (${media})]`);
      }
    }
  }
  const text = texts.join('\n');
  if (!images.length) return text.trim() === '' ? undefined : { role: 'user', content: text };
  return { role: 'user', content: [{ type: 'text', text }, ...images] };
}

function assistantHistoryMessages(message: UiChatMessage): Message[] {
  const out: Message[] = [];
  let text: string[] = [];
  let calls: { call: ToolCallRequest; result: string }[] = [];
  const flush = () => {
    const content = text.join('');
    if (content !== '' || calls.length) {
      out.push({ role: 'assistant', content: content === '' ? null : content, ...(calls.length ? { toolCalls: calls.map((entry) => entry.call) } : {}) });
      for (const { call, result } of calls) out.push({ role: 'tool', toolCallId: call.id, name: call.name, content: result });
    }
    text = [];
    calls = [];
  };
  for (const part of message.parts) {
    if (part.type === 'step-start') flush();
    else if (part.type === 'text' && typeof part.text === 'string') {
      // Text after a step's tool calls answers their results: the next step.
      if (calls.length) flush();
      text.push(part.text);
    } else if ((part.type.startsWith('tool-') || part.type === 'dynamic-tool') && typeof part.toolCallId === 'string') {
      const name = part.type === 'dynamic-tool' ? String(part.toolName ?? '') : part.type.slice('tool-'.length);
      const result =
        part.state === 'output-available' ? stringify(part.output) : part.state === 'output-error' ? String(part.errorText ?? 'The tool failed.') : undefined;
      if (name && result !== undefined) calls.push({ call: { id: part.toolCallId, name, arguments: stringify(part.input ?? {}) }, result });
    }
  }
  flush();
  return out;
}

function stringify(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): DefinableHttpError {
  return new DefinableHttpError(400, 'invalid_request', message);
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
