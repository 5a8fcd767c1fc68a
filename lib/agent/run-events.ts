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

/** The run completed; `output` is the full {@link RunOutput}. */
export interface RunCompletedEvent extends RunEventBase {
  event: 'RunCompleted';
  output: RunOutput;
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
 * Event names reserved for knowledge retrieval, memory and file reading; no
 * run emits them yet.
 */
export type ReservedRunEventName =
  | 'KnowledgeRetrievalStarted'
  | 'KnowledgeRetrievalCompleted'
  | 'MemoryRecallStarted'
  | 'MemoryRecallCompleted'
  | 'MemoryUpdateStarted'
  | 'MemoryUpdateCompleted'
  | 'FileReadStarted'
  | 'FileReadCompleted';

/** A reserved event (see {@link ReservedRunEventName}). */
export interface ReservedRunEvent extends RunEventBase {
  event: ReservedRunEventName;
  [key: string]: unknown;
}

/**
 * Everything `agent.stream()` yields: a discriminated union on `event`.
 * A stream always ends with exactly one of `RunCompleted`, `RunError` or `RunCancelled`.
 */
export type RunEvent =
  | RunStartedEvent
  | RunContentEvent
  | RunContentCompletedEvent
  | ToolCallStartedEvent
  | ToolCallCompletedEvent
  | ToolCallErrorEvent
  | ReasoningStepEvent
  | RunCompletedEvent
  | RunErrorEvent
  | RunCancelledEvent
  | ReservedRunEvent;

/** The name of a run event. */
export type RunEventName = RunEvent['event'];
