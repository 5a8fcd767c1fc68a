import type { z } from 'zod';
import type { ApprovalStore } from '../approvals/approval-store';
import type { Knowledge, KnowledgeReference } from '../knowledge/knowledge';
import type { AgentLogger } from '../logger';
import type { Memory } from '../memory/memory';
import type { Model, ResponseFormat, ToolDefinition } from '../models/model';
import type { ReadersOptions } from '../readers/file-reader';
import type { AfterResponseHook, BeforeRequestHook } from '../run-options';
import type { SessionStore } from '../sessions/session-store';
import type { Tool } from '../tools/tool';
import type { Toolset } from '../tools/toolset';

/**
 * What the run stages read from their agent: its settings, checked once by
 * the `Agent` constructor, and the few things its runs share. The agent keeps
 * it private, so none of it is public API.
 */
export interface AgentSetup {
  readonly id: string;
  readonly name: string;
  readonly model: Model;
  readonly instructions?: string;
  readonly tools: ReadonlyMap<string, Tool>;
  readonly toolDefinitions: ToolDefinition[];
  /** Toolsets asked for their tools at the start of each run; empty for an agent with static tools only. */
  readonly toolsets: readonly Toolset[];
  /** Where history is kept (replaced by `useSessionStore()`: read it when a run starts). */
  sessionStore: SessionStore;
  readonly historyLimit: number;
  readonly maxSteps: number;
  /** Where runs paused for approval wait (replaced by `useApprovalStore()`: read it when pausing or going on). */
  approvals: ApprovalStore;
  /** Milliseconds an approval waits for a decision before the call is rejected as expired. */
  readonly approvalTtl: number;
  /** `null` when files are refused. */
  readonly readers: Required<ReadersOptions> | null;
  readonly memory?: Memory;
  readonly knowledge?: Knowledge;
  readonly knowledgeMode: 'always' | 'tool';
  /** Replaced by `useLogger()`, even while runs are going on: read it when logging. */
  logger: AgentLogger;
  readonly beforeHooks: BeforeRequestHook[];
  readonly afterHooks: AfterResponseHook[];
  /** References found by `search_knowledge` calls, per run in progress. */
  readonly toolReferences: Map<string, KnowledgeReference[]>;
  /** Memory updates of run() calls still going on in the background. */
  readonly background: Set<Promise<unknown>>;
  /** Response formats already derived from output schemas. */
  readonly responseFormats: WeakMap<z.ZodType, ResponseFormat>;
}
