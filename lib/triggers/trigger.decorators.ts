import { applyDecorators, createParamDecorator, ExecutionContext, HttpCode, RequestMethod, SetMetadata, UseFilters, UseGuards, UseInterceptors } from '@nestjs/common';
import { RequestMapping } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import type { AuthProvider } from '../auth';
import { DefinableAuthGuard, RouteAuthMeta } from '../auth';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import {
  AfterResponseMeta,
  BeforeRequestMeta,
  CronMeta,
  OnEventMeta,
  TRIGGER_EVENT_PROPERTY,
  WebhookMeta,
  type OnEventMetadata,
  type WebhookMetadata,
} from './trigger.metadata';
import { WebhookInterceptor } from './webhook.interceptor';
import { noteVerifiedWebhook, RAW_BODY_ROUTE_CONFIG } from './webhook-raw-body';
import type { WebhookVerifier } from './webhook-signatures';
import type { TriggerEvent } from './trigger-event';

/** Options of {@link Webhook}. */
export interface WebhookOptions {
  /** HTTP method. Default `'POST'`. */
  method?: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
  /** `false` opens the route; a provider replaces the module's auth for this route. */
  auth?: false | AuthProvider;
  /** Run a named agent instead of the default one. */
  agent?: string;
  /**
   * Media types the request body may have (a body of another type gets 415).
   * Default `['application/json']` (and `+json` types); add e.g.
   * `'application/x-www-form-urlencoded'` for senders such as Slack or Twilio.
   */
  contentTypes?: string[];
  /**
   * The delivery's idempotency key, from the event: e.g.
   * `(event) => event.headers['x-github-delivery']`. A delivery whose key was
   * seen before (within `idempotency.ttl`, from the same caller) is answered
   * from its first run: the handler is not called again and the agent does
   * not run twice. Default: the `Idempotency-Key` header, when sent.
   */
  idempotencyKey?: (event: TriggerEvent) => string | string[] | undefined | null;
  /**
   * Checks the delivery's signature over its exact bytes before the handler
   * runs — `githubSignature`, `stripeSignature`, `slackSignature`,
   * `hmacSignature` or your own {@link WebhookVerifier}; a missing, wrong or
   * stale signature answers 401 `invalid_signature`. On Express the app must
   * be created with `{ rawBody: true }` (bootstrap says so otherwise).
   */
  verify?: WebhookVerifier;
  /**
   * `'sync'` (the default): the handler and the run happen in the request,
   * which answers with the run's output. `'async'`: the request answers
   * `202 { run_id, status: 'queued' }` once the delivery is durably recorded
   * (in the run store), and the handler and the run happen from the queue
   * (`WebhookQueue`) with retries — surviving a crash with a
   * `SqliteRunStore`. An async handler gets the `TriggerEvent` only
   * (`raw` is `null`; credential headers are not stored).
   */
  mode?: 'sync' | 'async';
  /** Async mode: attempts before the run is `failed`. Default 5. */
  maxAttempts?: number;
  /** Async mode: milliseconds before the first retry, doubling each time (at most 5 minutes). Default 1,000. */
  retryDelay?: number;
}

/** Options of {@link Cron}. */
export interface CronOptions {
  /** IANA time zone the expression is read in (DST included). Default: the server's. */
  timezone?: string;
  /** A tick that comes while the previous run is still going is skipped (`'skip'`, the default) or runs too (`'allow'`). */
  overlap?: 'skip' | 'allow';
  /** The job's name in `SchedulerRegistry`. Default `definable:<Class>.<method>`. */
  name?: string;
  /** Run a named agent instead of the default one. */
  agent?: string;
}

/** Options of {@link OnEvent}. */
export interface OnEventOptions {
  /** Run a named agent instead of the default one. */
  agent?: string;
}

/** Options of {@link BeforeRequest} and {@link AfterResponse}. */
export interface HookOptions {
  /** Only around runs of this agent. Default: every agent of the module. */
  agent?: string;
}

const METHODS: Record<string, RequestMethod> = {
  POST: RequestMethod.POST,
  PUT: RequestMethod.PUT,
  PATCH: RequestMethod.PATCH,
  GET: RequestMethod.GET,
  DELETE: RequestMethod.DELETE,
};

/** Injects the {@link TriggerEvent} of a webhook request. `@Webhook` puts it on the first parameter by itself. */
export const TriggerEventParam = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest()?.[TRIGGER_EVENT_PROPERTY],
);

/**
 * Declares a webhook: a real Nest route (guards, pipes, filters and Swagger
 * apply) whose handler receives a {@link TriggerEvent} as its first parameter
 * and returns a {@link TriggerResult}. The response is the run's
 * `{ content, run_id, session_id }`, or `{ "status": "ok" }` when nothing ran;
 * a handler that throws answers 500. Protected by the module's auth unless
 * `auth` says otherwise.
 *
 * @example
 * import { Webhook, type TriggerEvent } from 'nestjs-definable';
 *
 * @Controller('hooks')
 * class GithubHooks {
 *   @Webhook('/github', { auth: false })
 *   onPush(event: TriggerEvent<{ repository: { name: string } }>) { return `Summarize this push to ${event.body.repository.name}`; }
 * }
 */
export function Webhook(path: string, options: WebhookOptions = {}): MethodDecorator {
  if (typeof path !== 'string') throw new TypeError("@Webhook() needs a path, e.g. @Webhook('/github').");
  const method = (options.method ?? 'POST').toUpperCase();
  if (!(method in METHODS)) throw new TypeError(`@Webhook('${path}'): method must be one of ${Object.keys(METHODS).join(', ')}.`);
  const metadata: WebhookMetadata = {
    path,
    method,
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.contentTypes ? { contentTypes: options.contentTypes.map((type) => type.toLowerCase()) } : {}),
    ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    ...(options.verify ? { verify: checkVerifier(options.verify, path) } : {}),
    ...asyncOptions(options, path),
  };
  const decorators: MethodDecorator[] = [
    RequestMapping({ path, method: METHODS[method] }),
    HttpCode(200),
    WebhookMeta(metadata),
    UseFilters(DefinableExceptionFilter),
    UseGuards(DefinableAuthGuard),
    UseInterceptors(WebhookInterceptor),
    eventOnFirstParameter,
  ];
  if (options.auth !== undefined) decorators.push(RouteAuthMeta(options.auth));
  if (options.verify) {
    // Fastify: marks the route for WebhookRawBody's copy of the body (Nest passes this config to the route).
    decorators.push(SetMetadata(FASTIFY_ROUTE_CONFIG, { [RAW_BODY_ROUTE_CONFIG]: true }));
    noteVerifiedWebhook();
  }
  return applyDecorators(...decorators);
}

/** `@nestjs/platform-fastify`'s route config metadata key (`@RouteConfig`), without importing the optional platform. */
const FASTIFY_ROUTE_CONFIG = '__fastify_route_config__';

function asyncOptions(options: WebhookOptions, path: string): Pick<WebhookMetadata, 'mode' | 'maxAttempts' | 'retryDelay'> {
  if (options.mode === undefined || options.mode === 'sync') return {};
  if (options.mode !== 'async') throw new TypeError(`@Webhook('${path}'): mode must be 'sync' or 'async', got ${JSON.stringify(options.mode)}.`);
  const maxAttempts = options.maxAttempts ?? 5;
  const retryDelay = options.retryDelay ?? 1000;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`@Webhook('${path}'): maxAttempts must be a whole number of at least 1, got ${maxAttempts}.`);
  if (!(retryDelay >= 0)) throw new RangeError(`@Webhook('${path}'): retryDelay must be a number of milliseconds, got ${retryDelay}.`);
  return { mode: 'async', maxAttempts, retryDelay };
}

function checkVerifier(verifier: WebhookVerifier, path: string): WebhookVerifier {
  if (typeof verifier?.verify !== 'function') {
    throw new TypeError(`@Webhook('${path}'): verify must be a verifier such as githubSignature({ secret }), stripeSignature({ secret }) or hmacSignature({ header, secret }).`);
  }
  return verifier;
}

/** Puts the TriggerEvent on parameter 0 unless the handler decorated that parameter itself. */
const eventOnFirstParameter: MethodDecorator = (target, key) => {
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, target.constructor, key) ?? {};
  const taken = Object.keys(args).some((entry) => entry.endsWith(':0'));
  if (!taken) TriggerEventParam()(target, key, 0);
};

/**
 * Runs the method on a schedule and the agent with what it returns. Five
 * fields (minute precision) or six (seconds first); `timezone` is honoured,
 * daylight-saving changes included. The job appears in `SchedulerRegistry`.
 * An invalid expression or time zone fails bootstrap.
 *
 * @example
 * @Cron('0 9 * * *', { timezone: 'Europe/Paris' })
 * morning() { return "Give me today's summary."; }
 */
export function Cron(expression: string, options: CronOptions = {}): MethodDecorator {
  return CronMeta({ expression, ...options });
}

/**
 * Runs the method when the event is emitted, through `agent.emit(name, data)`
 * or `EventEmitter2.emit(name, data)`, and the agent with what it returns.
 * Stack it to listen to several events with one method.
 *
 * @example
 * @OnEvent('order.created')
 * @OnEvent('order.updated')
 * onOrder(event: TriggerEvent<{ id: string }>) { return `Check order ${event.body.id}.`; }
 */
export function OnEvent(event: string, options: OnEventOptions = {}): MethodDecorator {
  if (typeof event !== 'string' || event === '') throw new TypeError("@OnEvent() needs an event name, e.g. @OnEvent('user_signup').");
  return (target, key, descriptor) => {
    // Decorators apply bottom-up: prepend, so the list reads in source order.
    const stacked: OnEventMetadata[] = Reflect.getMetadata(OnEventMeta.KEY, descriptor.value as object) ?? [];
    OnEventMeta([{ event, ...options }, ...stacked])(target, key, descriptor);
  };
}

/**
 * {@link Cron} under a name that cannot be confused with `@nestjs/schedule`'s
 * `@Cron` in an editor's auto-import (theirs drops the return value, so the
 * agent would never run).
 */
export const AgentCron: typeof Cron = Cron;

/**
 * {@link OnEvent} under a name that cannot be confused with
 * `@nestjs/event-emitter`'s `@OnEvent` in an editor's auto-import.
 */
export const AgentEvent: typeof OnEvent = OnEvent;

/** Runs the method (with the `RunContext`) before every agent run, from any entry point. Never fatal. */
export function BeforeRequest(options: HookOptions = {}): MethodDecorator {
  return BeforeRequestMeta({ ...options });
}

/** Runs the method (with the `RunOutput`) after every agent run, from any entry point, whatever its status. Never fatal. */
export function AfterResponse(options: HookOptions = {}): MethodDecorator {
  return AfterResponseMeta({ ...options });
}
