export { Agent } from './agent';
export type { AgentApprovalOptions, AgentEmitter, AgentOptions, DecideResult, ResumeOptions } from './agent';
export { ApprovalError, InMemoryApprovalStore } from './approvals/approval-store';
export type { ApprovalFilter, ApprovalStore, PausedRun, PausedRunState } from './approvals/approval-store';
export type { ApprovalDecision, ApprovalRecord, ApprovalStatus } from './approvals/approval';
export type { AfterResponseHook, BeforeRequestHook, RunContext, RunOptions } from './run-options';
export { AgentError, AgentRunError, ModelError, SessionOwnershipError } from './errors';
export type { AgentErrorCode } from './error-codes';
export type { AgentLogger } from './logger';
export type { AudioInput, ImageInput, RunMedia, VideoInput } from './media';
export { OpenAIEmbedder } from './knowledge/embedder';
export type { Embedder, OpenAIEmbedderOptions } from './knowledge/embedder';
export { chunkText, Knowledge } from './knowledge/knowledge';
export type { ChunkerOptions, KnowledgeDocument, KnowledgeOptions, KnowledgeReference } from './knowledge/knowledge';
export { InMemoryVectorStore, SqliteVectorStore } from './knowledge/vector-store';
export type { SqliteVectorStoreOptions, VectorMatch, VectorRecord, VectorSearchOptions, VectorStore } from './knowledge/vector-store';
export { Memory } from './memory/memory';
export type { MemoryChange, MemoryOptions } from './memory/memory';
export { InMemoryMemoryStore, SqliteMemoryStore } from './memory/memory-store';
export type { InMemoryMemoryStoreOptions, MemoryRecord, MemoryStore, SqliteMemoryStoreOptions } from './memory/memory-store';
export { PostgresMemoryStore } from './memory/postgres-memory-store';
export type { PostgresMemoryStoreOptions } from './memory/postgres-memory-store';
export { BUILTIN_READERS, docxReader, htmlReader, pdfReader, textReader } from './readers/builtin-readers';
export type { FileInput, FileReader, LoadedFile, ReadersOptions } from './readers/file-reader';
export { messageText } from './messages';
export type { AudioPart, ContentPart, ImagePart, Message, TextPart, ToolCallRequest, VideoPart } from './messages';
export type {
  Model,
  ModelCapabilities,
  ModelChunk,
  ModelRequest,
  ModelUsage,
  ResponseFormat,
  ToolDefinition,
} from './models/model';
export { OpenAIChat } from './models/openai-chat';
export type { OpenAIChatOptions } from './models/openai-chat';
export { findModelPrice, OPENAI_PRICING } from './models/pricing';
export type { ModelPrice } from './models/pricing';
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
  RunContinuedEvent,
  RunPausedEvent,
  ToolApprovalRequestedEvent,
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
} from './run-events';
export type {
  OutputAudio,
  OutputImage,
  RunErrorInfo,
  RunMetrics,
  RunOutput,
  RunStatus,
  ToolCallRecord,
} from './run-output';
export { InMemorySessionStore } from './sessions/in-memory-session-store';
export type { InMemorySessionStoreOptions } from './sessions/in-memory-session-store';
export { windowHistory } from './sessions/session-store';
export type { SessionInfo, SessionScope, SessionStore } from './sessions/session-store';
export { SqliteSessionStore } from './sessions/sqlite-session-store';
export type { SqliteSessionStoreOptions } from './sessions/sqlite-session-store';
export { PostgresSessionStore } from './sessions/postgres-session-store';
export type { PostgresSessionStoreOptions } from './sessions/postgres-session-store';
export type { PostgresPool } from './sessions/postgres-pool';
export { SqliteApprovalStore } from './approvals/sqlite-approval-store';
export type { SqliteApprovalStoreOptions } from './approvals/sqlite-approval-store';
export { PostgresApprovalStore } from './approvals/postgres-approval-store';
export type { PostgresApprovalStoreOptions } from './approvals/postgres-approval-store';
export { defineTool } from './tools/tool';
export type { Tool, ToolConfig, ToolContext } from './tools/tool';
export type { Toolset } from './tools/toolset';
export { mcpTools } from './tools/mcp-tools';
export type { McpHttpToolsOptions, McpStdioToolsOptions, McpToolsCommonOptions, McpToolsOptions } from './tools/mcp-tools';
export type { AgentTrigger, AgentTriggerEntry, AgentTriggerHandler, TriggerEvent } from './triggers';
