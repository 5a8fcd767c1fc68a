import { Catch, Controller, Get, HttpCode, Inject, Optional, Post, Req, Res, Type, UseFilters, UseGuards } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AgentRunError } from '../agent/errors';
import type { SessionStore } from '../agent/sessions/session-store';
import type { AuthContext } from '../auth/auth-provider';
import { AUTH_CONTEXT_PROPERTY } from '../auth/auth.constants';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { AgentRegistry } from '../module/agent.registry';
import { AgentRunner, RunnerOptions } from '../module/agent.runner';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import { DEFINABLE_OPTIONS } from '../module/definable.module-definition';
import { DefinableHttpError } from '../module/http-errors';
import type { ErrorBody } from '../module/http-errors';
import {
  CHAT_COMPLETION_DONE,
  CHAT_COMPLETION_STREAM_HEADERS,
  ChatCompletionChunkEncoder,
  chatCompletionHistory,
  chatCompletionTurn,
  parseChatCompletionRequest,
  toChatCompletion,
  toOpenAIError,
} from './chat-completions';
import type { ChatCompletionResponse } from './chat-completions';
import { clientGone, relayRunFrames } from './run-events-writer';
import { callerUserId, syncClientHistory } from './run-request';

export type { OpenAICompatOptions } from './surface-options';

/** The request header naming a session the server keeps (and the response header echoing it). */
const SESSION_ID_HEADER = 'x-session-id';
/** The response header carrying the run's id (follow it with `GET /runs/:id`). */
const RUN_ID_HEADER = 'x-run-id';

/** One entry of `GET /v1/models`: an agent, as OpenAI lists a model. */
export interface OpenAIModel {
  /** The agent's name: what `model` takes. */
  id: string;
  object: 'model';
  /** When the server started, in Unix seconds. */
  created: number;
  owned_by: string;
}

/** The answer of `GET /v1/models`. */
export interface OpenAIModelList {
  object: 'list';
  data: OpenAIModel[];
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const SESSION_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * Answers the errors of the OpenAI-compatible routes in OpenAI's shape,
 * `{ "error": { message, type, code, param } }`, with the module's statuses
 * and codes (auth refusals included), so OpenAI clients raise their own typed
 * errors (`AuthenticationError`, `NotFoundError`, `RateLimitError`…).
 */
@Catch()
export class OpenAICompatExceptionFilter extends DefinableExceptionFilter {
  protected override shape(status: number, body: ErrorBody): unknown {
    return toOpenAIError(status, body);
  }
}

/**
 * A store for the runs of clients that send the whole conversation each time
 * (and name no session): it keeps nothing, so their turns are not stored twice
 * or left behind on the server.
 */
const CLIENT_HELD_HISTORY: SessionStore = {
  getSession: async () => null,
  getMessages: async () => [],
  append: async () => undefined,
  deleteSession: async () => undefined,
  close: async () => undefined,
};

/**
 * The OpenAI-compatible routes: `POST {path}/chat/completions` and
 * `GET {path}/models`, so any OpenAI client (the official SDKs, the AI SDK's
 * OpenAI-compatible provider, LangChain's `ChatOpenAI`, Open WebUI,
 * LibreChat) talks to the module's agents. `model` is the agent's name; the
 * agent's tools run on the server and only the answer is sent.
 *
 * History: the client's earlier messages are the run's history and nothing
 * is stored — unless the request names a session with `X-Session-Id`, which
 * the server then keeps (the earlier messages seed it when it is new, and are
 * otherwise left out: the stored turns, with their tool calls, are the
 * history). `user` runs for that user under the rule of `/run`'s `user_id`.
 * Responses carry `X-Run-Id` (and `X-Session-Id` when one was named).
 */
@UseFilters(OpenAICompatExceptionFilter)
export class OpenAICompatController {
  private readonly bodyLimit: number;
  private readonly created = Math.floor(Date.now() / 1000);
  /** The chat route as recorded in `metadata.trigger` and logs. */
  protected readonly route: string = 'POST /v1/chat/completions';

  constructor(
    private readonly agents: AgentRegistry,
    private readonly runner: AgentRunner,
    private readonly adapterHost: HttpAdapterHost,
    // Visible where the module mounts the routes; an app mounting them itself gets the default body limit.
    @Optional() @Inject(DEFINABLE_OPTIONS) options?: DefinableModuleOptions | null,
  ) {
    this.bodyLimit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  }

  /** `GET {path}/models`: the module's agents as models. */
  protected listModels(): OpenAIModelList {
    return { object: 'list', data: this.agents.names().map((name) => this.modelOf(name)) };
  }

  /** `GET {path}/models/:model`: one agent as a model; 404 `model_not_found` otherwise. */
  protected getModel(name: string): OpenAIModel {
    if (!this.agents.find(name)) throw modelNotFound(name, this.agents.names());
    return this.modelOf(name);
  }

  /** `POST {path}/chat/completions`: runs the agent named by `model` on the last user message. */
  protected async complete(request: any, reply: any): Promise<void> {
    const length = Number(request.headers?.['content-length'] ?? 0);
    if (length > this.bodyLimit) {
      throw new DefinableHttpError(
        413,
        'payload_too_large',
        `The body is ${length} bytes; the limit is ${this.bodyLimit}: send a shorter conversation or smaller files, or (server side) raise bodyLimit in DefinableModule.forRoot().`,
      );
    }
    if (this.runner.isClosing) throw new DefinableHttpError(503, 'shutting_down', 'The server is shutting down; retry against another instance.');
    const body = parseChatCompletionRequest(request.body, request.headers?.['content-type']);
    const agent = this.agents.find(body.model);
    if (!agent) throw modelNotFound(body.model, this.agents.names());
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const userId = callerUserId(principal, body.user, '"user"');
    const last = body.messages.length - 1;
    const turn = chatCompletionTurn(body.messages[last], last);
    const sessionId = sessionHeader(request.headers);
    const earlier = () => chatCompletionHistory(body.messages.slice(0, -1));
    if (sessionId) await syncClientHistory(agent, sessionId, userId ?? null, earlier, false);

    const raw: ServerResponse = reply.raw ?? reply;
    const gone = clientGone(raw);
    const runId = randomUUID();
    const runOptions: RunnerOptions = {
      agent,
      trigger: this.route,
      runId,
      userId,
      signal: gone.signal,
      metadata: { ...body.metadata, ...(principal ? { auth: principal.provider } : {}) },
      traceCarrier: request.headers,
      ...(sessionId ? { sessionId } : { messages: earlier(), sessionStore: CLIENT_HELD_HISTORY }),
      ...(turn.images.length ? { images: turn.images } : {}),
      ...(turn.files.length ? { files: turn.files } : {}),
    };
    const headers: Record<string, string> = { [RUN_ID_HEADER]: runId, ...(sessionId ? { [SESSION_ID_HEADER]: sessionId } : {}) };

    try {
      if (!body.stream) {
        const completion: ChatCompletionResponse = toChatCompletion(await this.runner.run(turn.input, runOptions), agent.name);
        for (const [name, value] of Object.entries(headers)) this.adapterHost.httpAdapter.setHeader(reply, name, value);
        this.adapterHost.httpAdapter.reply(reply, completion, 200);
        return;
      }
      const events = await this.runner.stream(turn.input, runOptions); // refused here (503, 429) before any header is written
      const encoder = new ChatCompletionChunkEncoder(agent.name, body.stream_options?.include_usage === true, this.route);
      await relayRunFrames(reply, raw, events, {
        headers: { ...CHAT_COMPLETION_STREAM_HEADERS, ...headers },
        encoder,
        route: this.route,
        last: () => (encoder.completed ? CHAT_COMPLETION_DONE : undefined),
      });
    } catch (error) {
      // A client that went away gets no answer.
      if (error instanceof AgentRunError && error.code === 'cancelled' && raw.destroyed) return;
      throw error;
    } finally {
      gone.release();
    }
  }

  private modelOf(name: string): OpenAIModel {
    return { id: name, object: 'model', created: this.created, owned_by: 'nestjs-definable' };
  }
}

/**
 * The OpenAI-compatible routes under `path` (default `/v1`) as a controller
 * to mount: see {@link OpenAICompatController}. Protected by the module's
 * auth like `POST /run`; an API key goes as OpenAI clients send theirs
 * (`Authorization: Bearer <key>`, the client's `apiKey`).
 *
 * @example
 * DefinableModule.forRoot({ agent, server: { openai: true } }) // mounts /v1/chat/completions and /v1/models
 * // a client:
 * new OpenAI({ baseURL: 'http://localhost:3000/v1', apiKey: process.env.API_KEY })
 */
export function createOpenAICompatController(path = '/v1'): Type<unknown> {
  const base = `/${path.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  const route = `POST ${base}/chat/completions`;
  @Controller()
  class OpenAICompatRoutes extends OpenAICompatController {
    protected override readonly route = route;

    @Post(`${base}/chat/completions`)
    // The handler answers itself (JSON or a stream); this keeps Nest's default and Swagger from saying 201.
    @HttpCode(200)
    @UseGuards(DefinableAuthGuard)
    chatCompletions(@Req() request: any, @Res() reply: any): Promise<void> {
      return this.complete(request, reply);
    }

    @Get(`${base}/models`)
    @UseGuards(DefinableAuthGuard)
    models(): OpenAIModelList {
      return this.listModels();
    }

    @Get(`${base}/models/:model`)
    @UseGuards(DefinableAuthGuard)
    model(@Req() request: any): OpenAIModel {
      return this.getModel(String(request.params?.model ?? ''));
    }
  }
  return OpenAICompatRoutes;
}

/** The `X-Session-Id` header, checked; undefined when absent. */
function sessionHeader(headers: Record<string, unknown> | undefined): string | undefined {
  const value = headers?.[SESSION_ID_HEADER];
  if (value === undefined || value === '') return undefined;
  const id = Array.isArray(value) ? value[0] : value;
  if (typeof id !== 'string' || !SESSION_ID.test(id)) {
    throw new DefinableHttpError(400, 'invalid_request', `The ${SESSION_ID_HEADER} header must be 1 to 200 visible ASCII characters (no spaces), e.g. a UUID.`);
  }
  return id;
}

function modelNotFound(name: string, names: string[]): DefinableHttpError {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  return new DefinableHttpError(404, 'model_not_found', `The model ${shown} does not exist here: "model" names an agent, one of ${names.map((known) => `"${known}"`).join(', ')} (GET /models lists them).`);
}
