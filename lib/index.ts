/**
 * nestjs-definable: an LLM agent as a NestJS service. This entry exports the
 * agent core (framework-agnostic) and the Nest runtime (module, routes,
 * triggers, auth); the test kit is `nestjs-definable/testing`.
 */
// The agent core: its barrel (lib/agent/index.ts) is the explicit list of its public names.
export * from './agent';

// Nest runtime
export {
  AgentAuth,
  AllowlistAuth,
  ApiKeyAuth,
  AuthContext,
  AuthRefusal,
  bearerToken,
  CompositeAuth,
  DefinableAuthGuard,
  headerOf,
  JwtAuth,
  Public,
  verifyAuth,
} from './auth';
export type {
  AllowlistAuthOptions,
  ApiKeyAuthOptions,
  AuthProvider,
  AuthRefusalKind,
  AuthRequest,
  AuthVerdict,
  JwtAlgorithm,
  JwtAuthOptions,
  NamedApiKey,
  OpenApiSecurityScheme,
} from './auth';
export { DefinableModule } from './definable.module';
export {
  AgentRegistry,
  AgentRunner,
  HealthRegistry,
  getAgentToken,
  InjectAgent,
  InMemoryRunStore,
  LiveRun,
  RunIdempotency,
  RunRecorder,
  RunTracker,
  SqliteRunStore,
  DEFINABLE_OPTIONS,
} from './module';
export type {
  DefinableModuleExtras,
  DefinableModuleOptions,
  DefinableServerOptions,
  HealthContributor,
  IdempotencyClaim,
  IdempotencyRecord,
  InMemoryRunStoreOptions,
  RecordedEvent,
  RecordedRunOutput,
  RecordedRunStatus,
  RunChange,
  RunJob,
  RunListener,
  RunnerOptions,
  RunRecord,
  RunRetention,
  RunStore,
  SqliteRunStoreOptions,
  StartedRun,
} from './module';
export { addDefinableSecurity, DefinableExceptionFilter, DefinableHttpError, DefinableOpenApi } from './http';
export type { ErrorBody, RunRequestBody, SecuritySchemeTarget, WireRun, WireRunOutput } from './http';
export {
  AfterResponse,
  AgentCron,
  AgentEvent,
  BeforeRequest,
  Cron,
  OnEvent,
  TriggerEventParam,
  TriggerCronJob,
  TriggerExecutor,
  TriggerOrchestrator,
  TriggerRegistry,
  TriggerResultError,
  Webhook,
  WebhookRawBody,
  WebhookQueue,
  githubSignature,
  hmacSignature,
  slackSignature,
  stripeSignature,
  WebhookSignatureError,
} from './triggers';
export type { AsyncDelivery, CronOptions, HmacSignatureOptions, HookOptions, OnEventOptions, SignedRequest, TriggerInfo, TriggerResult, WebhookOptions, WebhookVerifier } from './triggers';
export { serve } from './runtime';
export type { ServeHandle, ServeOptions, ServeTimeouts } from './runtime';

// Messaging interfaces
export {
  Backoff,
  DiscordInterface,
  getInterfaceClientToken,
  InMemoryDedupStore,
  InterfaceAuthError,
  InterfaceConflictError,
  InterfaceSetupError,
  InterfaceSupervisor,
  MessagingInterface,
  SignalInterface,
  SqliteDedupStore,
  SqliteIdentityResolver,
  splitMessage,
  TelegramInterface,
} from './interfaces';
export type {
  ChatTarget,
  DedupStore,
  InboxEntry,
  DiscordInterfaceOptions,
  IdentityResolver,
  InboundMessage,
  InterfaceHooks,
  InterfaceOptions,
  InterfaceRoute,
  InterfaceRuntime,
  InterfaceState,
  InterfaceStatus,
  PlatformIdentity,
  SignalInterfaceOptions,
  SqliteDedupStoreOptions,
  SqliteIdentityResolverOptions,
  TelegramInterfaceOptions,
} from './interfaces';
