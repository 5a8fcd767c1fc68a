import type { ApprovalRecord } from './approvals/approval';
import type { RunErrorInfo, RunOutput } from './run-output';

/** Fields every run event carries. */
export interface RunEventBase {
  runId: string;
  sessionId: string;
  agentId: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** The run has started; no model call has been made yet. */
export interface RunStartedEvent extends RunEventBase {
  event: 'RunStarted';
  agentName: string;
  model: string;
  userId: string | null;
}

/** A text delta of the reply. */
export interface RunContentEvent extends RunEventBase {
  event: 'RunContent';
  content: string;
}

/** The reply's content is complete (`content` holds all of it as text). */
export interface RunContentCompletedEvent extends RunEventBase {
  event: 'RunContentCompleted';
  content: string;
}

/** A tool call is about to run. */
export interface ToolCallStartedEvent extends RunEventBase {
  event: 'ToolCallStarted';
  toolName: string;
  toolCallId: string;
  args: unknown;
}

/** A tool call returned; `result` is what goes back to the model. */
export interface ToolCallCompletedEvent extends RunEventBase {
  event: 'ToolCallCompleted';
  toolName: string;
  toolCallId: string;
  result: string;
}

/** A tool call failed (bad arguments, unknown tool, or the tool threw); the error text goes back to the model. */
export interface ToolCallErrorEvent extends RunEventBase {
  event: 'ToolCallError';
  toolName: string;
  toolCallId: string;
  error: string;
}

/** A reasoning delta from a thinking model. */
export interface ReasoningStepEvent extends RunEventBase {
  event: 'ReasoningStep';
  content: string;
}

/**
 * The run completed; `output` is the full {@link RunOutput} (its `content` is
 * typed by the run's `outputSchema`, text without one).
 */
export interface RunCompletedEvent<T = unknown> extends RunEventBase {
  event: 'RunCompleted';
  output: RunOutput<T>;
}

/** The run failed; this is the last event. `output` holds what was produced so far. */
export interface RunErrorEvent extends RunEventBase {
  event: 'RunError';
  error: RunErrorInfo;
  output: RunOutput;
}

/** The run was cancelled through its `signal`; this is the last event. */
export interface RunCancelledEvent extends RunEventBase {
  event: 'RunCancelled';
  reason: string;
  output: RunOutput;
}

/**
 * A tool call needs a person's approval before it runs (its tool has
 * `approval`): the run pauses after this round. Decide it with
 * `agent.decide(runId, approvalId, …)` (or `POST /runs/:id/approvals/:approvalId`).
 */
export interface ToolApprovalRequestedEvent extends RunEventBase {
  event: 'ToolApprovalRequested';
  approvalId: string;
  toolName: string;
  toolCallId: string;
  args: unknown;
  /** Milliseconds since the epoch; undecided by then, the call is rejected as `expired`. */
  expiresAt: number;
}

/**
 * The run paused for approvals; this is the last event of its stream until
 * the decisions are taken. `output` has `status: 'paused'` and the
 * `pendingApprovals`.
 */
export interface RunPausedEvent extends RunEventBase {
  event: 'RunPaused';
  pendingApprovals: ApprovalRecord[];
  output: RunOutput;
}

/** A paused run goes on, its approvals decided (`decisions`): the first event of its continuation. */
export interface RunContinuedEvent extends RunEventBase {
  event: 'RunContinued';
  decisions: ApprovalRecord[];
}

/** A file of the run is being read. */
export interface FileReadStartedEvent extends RunEventBase {
  event: 'FileReadStarted';
  name: string;
  /** The reader used (`'text'`, `'html'`, `'pdf'`, `'docx'`...). */
  type: string;
}

/** A file was read; `characters` of text go into the prompt. */
export interface FileReadCompletedEvent extends RunEventBase {
  event: 'FileReadCompleted';
  name: string;
  type: string;
  characters: number;
}

/** The user's memories are being recalled. */
export interface MemoryRecallStartedEvent extends RunEventBase {
  event: 'MemoryRecallStarted';
  userId: string;
}

/** The memories added to the run's context. */
export interface MemoryRecallCompletedEvent extends RunEventBase {
  event: 'MemoryRecallCompleted';
  userId: string;
  memories: { id: string; text: string }[];
}

/** Durable facts are being extracted from the new turn. */
export interface MemoryUpdateStartedEvent extends RunEventBase {
  event: 'MemoryUpdateStarted';
  userId: string;
}

/** The memory changes made after the run (an error, if the update failed; the run still completes). */
export interface MemoryUpdateCompletedEvent extends RunEventBase {
  event: 'MemoryUpdateCompleted';
  userId: string;
  changes: { op: 'add' | 'update' | 'delete'; id: string; text?: string }[];
  error?: string;
}

/** Knowledge is being searched for the input. */
export interface KnowledgeRetrievalStartedEvent extends RunEventBase {
  event: 'KnowledgeRetrievalStarted';
  query: string;
}

/** The chunks added to the run's context. */
export interface KnowledgeRetrievalCompletedEvent extends RunEventBase {
  event: 'KnowledgeRetrievalCompleted';
  query: string;
  references: { id: string; score: number; source?: string; text: string }[];
}

/**
 * Everything `agent.stream()` yields: a discriminated union on `event`.
 * A stream always ends with exactly one of `RunCompleted`, `RunError`,
 * `RunCancelled` or (a tool call waiting for approval) `RunPaused`. `T` is the type of `RunCompleted`'s `output.content`.
 */
export type RunEvent<T = unknown> =
  | RunStartedEvent
  | RunContentEvent
  | RunContentCompletedEvent
  | ToolCallStartedEvent
  | ToolCallCompletedEvent
  | ToolCallErrorEvent
  | ReasoningStepEvent
  | RunCompletedEvent<T>
  | RunErrorEvent
  | RunCancelledEvent
  | ToolApprovalRequestedEvent
  | RunPausedEvent
  | RunContinuedEvent
  | FileReadStartedEvent
  | FileReadCompletedEvent
  | MemoryRecallStartedEvent
  | MemoryRecallCompletedEvent
  | MemoryUpdateStartedEvent
  | MemoryUpdateCompletedEvent
  | KnowledgeRetrievalStartedEvent
  | KnowledgeRetrievalCompletedEvent;

/** The name of a run event. */
export type RunEventName = RunEvent['event'];

/**
 * @internal The events that end a run's stream (each carries its output): `RunCompleted`, `RunError`,
 * `RunCancelled`, and `RunPaused` (the run goes on in a continuation once its approvals are decided).
 */
const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['RunCompleted', 'RunError', 'RunCancelled', 'RunPaused']);

/** @internal Whether an event (by its name) ends its run. */
export function isTerminalEvent(name: string | undefined): boolean {
  return name !== undefined && TERMINAL_EVENTS.has(name);
}
