/**
 * What a trigger handler receives (from `@Webhook`, `@Cron`, `@OnEvent` or
 * `agent.on()`). Type the body you expect — `event: TriggerEvent<GithubPush>`;
 * it is `unknown` otherwise. The body is the sender's JSON, not validated
 * against that type: check what you rely on.
 */
export interface TriggerEvent<TBody = unknown> {
  /** The webhook's JSON body, or the emitted event's data; `undefined` for cron. */
  body: TBody;
  /** The webhook request's headers (lower-cased); empty for cron and events. */
  headers: Record<string, string | string[] | undefined>;
  /** Where it came from: `'POST /hooks/github'`, `'cron(0 9 * * *)'`, `'event(user_signup)'`. */
  source: string;
  timestamp: Date;
  /** The platform request (webhooks), or the raw event payload. */
  raw: unknown;
}

/**
 * A trigger declared with `agent.on()`; the runtime (`DefinableModule`,
 * `serve()`) mounts it like the matching decorator.
 */
export type AgentTrigger =
  | {
      /** A webhook route path, e.g. `'/github'`. */
      webhook: string;
      method?: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
      /** `false` opens the route; an auth provider replaces the module's. */
      auth?: false | { readonly name: string; authenticate(request: never): unknown };
      /**
       * The delivery's idempotency key, e.g. `(event) => event.headers['x-github-delivery']`: a
       * delivery with a key seen before is answered from its first run. Default: the
       * `Idempotency-Key` header.
       */
      idempotencyKey?: (event: TriggerEvent) => string | string[] | undefined | null;
      /** Checks the delivery's signature over its raw body (`githubSignature({ secret })`…; see `@Webhook`). */
      verify?: { readonly name: string; verify(request: { rawBody: Buffer; headers: Record<string, string | string[] | undefined> }, now?: number): void };
      /** `'async'`: answer 202 once the delivery is recorded and handle it from the durable queue (see `@Webhook`). */
      mode?: 'sync' | 'async';
      maxAttempts?: number;
      retryDelay?: number;
    }
  | { /** A cron expression (5 or 6 fields). */ cron: string; timezone?: string; overlap?: 'skip' | 'allow' }
  | { /** An event name, emitted with `agent.emit()` or `EventEmitter2`. */ event: string };

/** A handler of `agent.on()`: returns what a decorated trigger method returns (a string, `{ input, ... }` or null). */
export type AgentTriggerHandler<TBody = unknown> = (event: TriggerEvent<TBody>) => unknown;

/** A trigger and its handler, as `agent.triggers` lists them. */
export interface AgentTriggerEntry {
  trigger: AgentTrigger;
  handler: AgentTriggerHandler;
}

/** Checks a trigger of `agent.on()`: exactly one of `webhook`, `cron`, `event`. */
export function validateTrigger(trigger: AgentTrigger, handler: AgentTriggerHandler): void {
  const kinds = ['webhook', 'cron', 'event'].filter((key) => typeof (trigger as Record<string, unknown>)?.[key] === 'string');
  if (kinds.length !== 1) {
    throw new TypeError(
      "agent.on() needs exactly one of { webhook: '/path' }, { cron: '0 9 * * *' } or { event: 'name' } as its first argument.",
    );
  }
  if (typeof handler !== 'function') throw new TypeError('agent.on() needs a handler function as its second argument.');
}
