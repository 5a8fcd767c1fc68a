import type { Agent, AgentOptions } from '../agent';
import type { AuthProvider } from '../auth';
import type { IdentityResolver } from '../interfaces/identity/identity-resolver';
import type { PlaygroundOptions } from '../http/playground/playground.controller';
import type { McpServerOptions, OpenAICompatOptions, UiChatOptions } from '../http/surface-options';
import type { MessagingInterface } from '../interfaces/messaging-interface';
import type { ApprovalsOptions } from './approvals/approvals-options';
import type { ClusterConfig } from './cluster/cluster-options';
import type { DefinableStores } from './definable-stores';
import type { RunStore } from './runs/run-store';
import type { QuotaOptions } from './quotas/run-quotas';
import type { MetricsOptions } from './telemetry/run-metrics';
import type { TracingOptions } from './telemetry/tracing-options';

/** Options of `DefinableModule.forRoot()` (and the result of `forRootAsync`'s factory). */
export interface DefinableModuleOptions {
  /** The agent (or the options to build one); injectable as `Agent`. */
  agent?: Agent | AgentOptions;
  /**
   * Several named agents; inject one with `@InjectAgent(name)`, pick one in
   * `/run` with the `agent` field. The first is the default unless `agent` is set.
   */
  agents?: Record<string, Agent | AgentOptions>;
  /** Protects `/run` and every `@Webhook` (`ApiKeyAuth`, `JwtAuth`, `CompositeAuth`, or your own provider). */
  auth?: AuthProvider;
  /** The largest `/run` body accepted, in bytes (413 beyond). Default 1 MiB. */
  bodyLimit?: number;
  /** Development mode: verbose request logs (and Swagger UI with `serve()`). */
  dev?: boolean;
  /**
   * Milliseconds shutdown waits for runs in flight (`/run`, SSE streams and
   * triggers) before cancelling them. Default 10,000.
   */
  shutdownTimeout?: number;
  /** Messaging platforms to run (`TelegramInterface`, `SignalInterface`...), supervised by the module. */
  interfaces?: MessagingInterface[];
  /** Maps platform accounts to one user, shared by every interface (e.g. `SqliteIdentityResolver`). */
  identityResolver?: IdentityResolver;
  /**
   * Where every run is recorded with its events (`GET /runs/:id`, resumable
   * streams, background runs, idempotency keys). Default an `InMemoryRunStore`
   * (works within one process, lost on restart); a `SqliteRunStore` survives
   * crashes and restarts. Closed with the app.
   */
  runStore?: RunStore;
  /**
   * Run the app as one of several replicas sharing Redis (see
   * `redisCluster()`): cron ticks run once across them, one replica polls a
   * bot token at a time, chats are answered by one replica at a time, async
   * webhooks are BullMQ jobs, cancels reach the replica that runs the run.
   * Without it the app is one node (embedded defaults). Nothing in your
   * triggers, decorators or interfaces changes.
   */
  cluster?: ClusterConfig;
  /**
   * Stores every replica shares (see `postgresStores()`): sessions of agents
   * without a `sessionStore`, the run store unless `runStore` is given, the
   * chat inbox of interfaces without a `dedup`, approvals of agents without
   * an `approvals.store`. Closed with the app.
   */
  stores?: DefinableStores;
  /** Idempotency keys (`Idempotency-Key` on `/run` and webhooks): `ttl`, how long a key is kept, in ms. Default 24 hours. */
  idempotency?: { ttl?: number };
  /**
   * OpenTelemetry traces: on by default whenever the app registers an
   * OpenTelemetry SDK (the module depends on `@opentelemetry/api` only);
   * `recordContent` adds message contents to spans.
   */
  tracing?: TracingOptions;
  /**
   * Prometheus metrics on `prom-client` (install it): `true`, or options —
   * registered in the app's default registry unless another is given;
   * `route: true` also serves `GET /metrics`. Default off.
   */
  metrics?: boolean | MetricsOptions;
  /**
   * Quotas and budgets checked before each run and each model call: requests
   * per window, tokens and cost per day — per user, per agent and global
   * (`rate-limiter-flexible`, in memory, or on Redis with `redis`). Over a
   * limit: HTTP 429 `quota_exceeded` with `Retry-After`, a polite chat reply,
   * a run stopped before its next model call. Default none.
   */
  quotas?: QuotaOptions;
  /**
   * Tool approvals (tools with `approval`): `approver`, who may decide
   * besides the run's own user or a trusted principal. Decisions go through
   * `POST /runs/:id/approvals/:approvalId`; `GET /approvals` lists them.
   */
  approvals?: ApprovalsOptions;
  /**
   * The browser playground at `GET /playground` (or `path`): chat with an
   * agent, see its run events. On in dev mode (`dev: true`), off otherwise
   * unless set; never needed in production.
   */
  playground?: boolean | PlaygroundOptions;
  /** Extra fields for `GET /health` (a version, a notice...). */
  health?: Record<string, unknown>;
}

/** The built-in HTTP routes. Static (known before any factory runs), so it sits beside `isGlobal`. */
export interface DefinableServerOptions {
  /** Mount `/run` and `/health`. Default `true`. */
  enabled?: boolean;
  /** Path prefix of the built-in routes, e.g. `'agent'` for `/agent/run`. Default none. */
  prefix?: string;
  /**
   * Serve `GET /metrics` (`true`) or the metrics at another path, outside the
   * prefix — the way to ask for it with `forRootAsync` (`forRoot` also reads
   * `metrics.route`). Metrics must be on (`metrics` in the options). Default off.
   */
  metrics?: boolean | string;
  /** Serve the playground page (`true`, or `{ path }`) — the way to ask for it with `forRootAsync` (`forRoot` also reads `playground`). */
  playground?: boolean | PlaygroundOptions;
  /**
   * The AI SDK UI message stream route `POST /chat` (or `{ path }`), which
   * `useChat` with `DefaultChatTransport` talks to. Default off.
   */
  uiChat?: boolean | UiChatOptions;
  /**
   * The OpenAI-compatible routes `POST /v1/chat/completions` and
   * `GET /v1/models` (or under `{ path }`), which every OpenAI client talks
   * to; `model` names the agent. Default off.
   */
  openai?: boolean | OpenAICompatOptions;
  /**
   * The agents as MCP tools over Streamable HTTP at `POST /mcp` (or `{ path }`),
   * under the module's auth; `agents` gives a tool's description or an
   * `outputSchema` (structured content). Default off.
   */
  mcp?: boolean | McpServerOptions;
}

/** Options given beside the module options to both `forRoot` and `forRootAsync`. */
export interface DefinableModuleExtras {
  /** Register the module globally, so every module of the app sees its providers (webhooks in feature modules need them). Default `true`; with `false`, `@Webhook` controllers must live in modules that import it. */
  isGlobal?: boolean;
  /** The built-in routes. */
  server?: DefinableServerOptions;
}
