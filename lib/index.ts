/**
 * nestjs-definable: an LLM agent as a NestJS service. This entry exports the
 * agent core (framework-agnostic) and the Nest runtime (module, routes,
 * triggers, auth); the test kit is `nestjs-definable/testing`.
 */
export { Agent } from './agent/agent';
export type { AfterResponseHook, AgentEmitter, AgentOptions, BeforeRequestHook, RunContext, RunOptions } from './agent/agent';
export { AgentError, AgentRunError, ModelError, SessionOwnershipError } from './agent/errors';
export type { AgentErrorCode } from './agent/errors';
export type { AgentLogger } from './agent/logger';
export type { AudioInput, ImageInput, RunMedia, VideoInput } from './agent/media';
export { OpenAIEmbedder } from './agent/knowledge/embedder';
export type { Embedder, OpenAIEmbedderOptions } from './agent/knowledge/embedder';
export { chunkText, Knowledge } from './agent/knowledge/knowledge';
export type { ChunkerOptions, KnowledgeDocument, KnowledgeOptions, KnowledgeReference } from './agent/knowledge/knowledge';
export { InMemoryVectorStore, SqliteVectorStore } from './agent/knowledge/vector-store';
export type { SqliteVectorStoreOptions, VectorMatch, VectorRecord, VectorSearchOptions, VectorStore } from './agent/knowledge/vector-store';
export { Memory } from './agent/memory/memory';
export type { MemoryChange, MemoryOptions } from './agent/memory/memory';
export { InMemoryMemoryStore, SqliteMemoryStore } from './agent/memory/memory-store';
export type { MemoryRecord, MemoryStore, SqliteMemoryStoreOptions } from './agent/memory/memory-store';
export { BUILTIN_READERS, docxReader, htmlReader, pdfReader, textReader } from './agent/readers/builtin-readers';
export type { FileInput, FileReader, LoadedFile, ReadersOptions } from './agent/readers/file-reader';
export { messageText } from './agent/messages';
export type { AudioPart, ContentPart, ImagePart, Message, TextPart, ToolCallRequest, VideoPart } from './agent/messages';
export type {
  Model,
  ModelCapabilities,
  ModelChunk,
  ModelRequest,
  ModelUsage,
  ResponseFormat,
  ToolDefinition,
} from './agent/models/model';
export { OpenAIChat } from './agent/models/openai-chat';
export type { OpenAIChatOptions } from './agent/models/openai-chat';
export { findModelPrice, OPENAI_PRICING } from './agent/models/pricing';
export type { ModelPrice } from './agent/models/pricing';
export type {
  FileReadCompletedEvent,
  FileReadStartedEvent,
  KnowledgeRetrievalCompletedEvent,
  KnowledgeRetrievalStartedEvent,
  MemoryRecallCompletedEvent,
  MemoryRecallStartedEvent,
  MemoryUpdateCompletedEvent,
  MemoryUpdateStartedEvent,
  ReasoningStepEvent,
  RunCancelledEvent,
  RunCompletedEvent,
  RunContentCompletedEvent,
  RunContentEvent,
  RunErrorEvent,
  RunEvent,
  RunEventBase,
  RunEventName,
  RunStartedEvent,
  ToolCallCompletedEvent,
  ToolCallErrorEvent,
  ToolCallStartedEvent,
} from './agent/run-events';
export type {
  OutputAudio,
  OutputImage,
  RunErrorInfo,
  RunMetrics,
  RunOutput,
  RunStatus,
  ToolCallRecord,
} from './agent/run-output';
export { InMemorySessionStore } from './agent/sessions/in-memory-session-store';
export type { InMemorySessionStoreOptions } from './agent/sessions/in-memory-session-store';
export { windowHistory } from './agent/sessions/session-store';
export type { SessionInfo, SessionStore } from './agent/sessions/session-store';
export { SqliteSessionStore } from './agent/sessions/sqlite-session-store';
export type { SqliteSessionStoreOptions } from './agent/sessions/sqlite-session-store';
export { defineTool } from './agent/tools/tool';
export type { AgentTrigger, AgentTriggerEntry, AgentTriggerHandler, TriggerEvent } from './agent/triggers';
export type { Tool, ToolConfig, ToolContext } from './agent/tools/tool';

// Nest runtime
export {
  AllowlistAuth,
  ApiKeyAuth,
  AuthContext,
  CompositeAuth,
  DefinableAuthGuard,
  JwtAuth,
  Public,
} from './auth';
export type { AllowlistAuthOptions, ApiKeyAuthOptions, AuthProvider, AuthRequest, JwtAuthOptions, NamedApiKey } from './auth';
export { AgentRegistry, DefinableModule, getAgentToken, InjectAgent, RunTracker, DEFINABLE_OPTIONS } from './module';
export type { DefinableModuleExtras, DefinableModuleOptions, DefinableServerOptions } from './module';
export { DefinableExceptionFilter, DefinableHttpError } from './http';
export type { ErrorBody, RunRequestBody, WireRunOutput } from './http';
export {
  AfterResponse,
  BeforeRequest,
  Cron,
  OnEvent,
  TriggerEventParam,
  TriggerExecutor,
  TriggerRegistry,
  TriggerResultError,
  Webhook,
} from './triggers';
export type { CronOptions, HookOptions, OnEventOptions, TriggerInfo, TriggerResult, WebhookOptions } from './triggers';
export { serve } from './runtime';
export type { ServeHandle, ServeOptions } from './runtime';

// Messaging interfaces
export {
  Backoff,
  DiscordInterface,
  InMemoryDedupStore,
  InterfaceAuthError,
  InterfaceConflictError,
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
