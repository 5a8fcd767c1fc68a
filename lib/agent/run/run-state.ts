import { randomUUID } from 'node:crypto';
import type { PausedRun, PausedRunState } from '../approvals/approval-store';
import type { AgentError } from '../errors';
import type { KnowledgeReference } from '../knowledge/knowledge';
import type { Message } from '../messages';
import type { ModelUsage, ResponseFormat, ToolDefinition } from '../models/model';
import type { RunOptions } from '../run-options';
import type { OutputAudio, RunOutput, RunStatus, ToolCallRecord } from '../run-output';
import type { SessionStore } from '../sessions/session-store';
import type { Tool } from '../tools/tool';
import type { AgentSetup } from './agent-setup';
import type { RunProbe } from './run-probe';
import { NEW_SESSION, type MaybeNewSession } from './new-session';

/**
 * Everything one run knows, from its ids to what the model has produced so
 * far. The stages fill it in; {@link RunState.output} turns it into the
 * run's {@link RunOutput} at any point, finished or not.
 */
export class RunState {
  readonly startedAt: number;
  readonly runId: string;
  readonly sessionId: string;
  /** Whether the session id was made for this run (nothing is stored under it yet). */
  readonly newSession: boolean;
  readonly userId: string | null;
  readonly metadata: Record<string, unknown>;
  /**
   * The caller's signal. No controller of our own: the model request is cancelled by this signal,
   * or by closing its iterator when the consumer leaves early; tools get a controller per round.
   */
  readonly signal?: AbortSignal;
  /** Where the run's history is read and its new turn stored. */
  readonly store: SessionStore;

  /** The run's tools: the agent's own, plus its toolsets' as they stood when the run began. */
  tools: ReadonlyMap<string, Tool>;
  /** What the model is told of {@link RunState.tools}. */
  toolDefinitions: ToolDefinition[];
  /** The history sent to the model and the new turn (no system message). */
  messages: Message[] = [];
  /** Where the new turn starts in {@link RunState.messages}. */
  newTurnStart = 0;
  /** The system message (instructions, memories, knowledge), or none. */
  system: Message[] = [];
  responseFormat?: ResponseFormat;
  /** The text of the current model step: the reply, once the last step is done. */
  content = '';
  reasoning = '';
  readonly usage: ModelUsage = { inputTokens: 0, outputTokens: 0 };
  reasoningTokens: number | null = null;
  /** Whether any model call reported usage (without it, the cost is unknown). */
  usageReported = false;
  firstTokenAt: number | null = null;
  /** Whether the `afterResponse` hooks have seen this run's end (they see it once, whichever way it ends). */
  ended = false;
  /** Whether the run paused for approvals (its stream ended with `RunPaused`). */
  paused = false;
  readonly references: KnowledgeReference[] = [];
  readonly toolCalls: ToolCallRecord[] = [];
  readonly audio: OutputAudio[] = [];

  constructor(
    private readonly setup: AgentSetup,
    /** The run's input, as the caller gave it (checked by the context stage). */
    readonly input: string,
    readonly options: RunOptions,
    /** What the host watches of this run (traces, budgets); none outside a host. */
    readonly probe?: RunProbe,
    /** Milliseconds the run had taken before this process went on with it (a paused run's continuation). */
    elapsedMs = 0,
  ) {
    this.startedAt = performance.now() - elapsedMs;
    this.runId = options.runId ?? randomUUID();
    this.sessionId = options.sessionId ?? randomUUID();
    this.newSession = options.sessionId === undefined || (options as MaybeNewSession)[NEW_SESSION] === true;
    this.userId = options.userId ?? null;
    this.metadata = options.metadata ?? {};
    this.signal = options.signal;
    this.store = options.sessionStore ?? setup.sessionStore;
    this.tools = setup.tools;
    this.toolDefinitions = setup.toolDefinitions;
  }

  /** The agent's id. */
  get agentId(): string {
    return this.setup.id;
  }

  /**
   * The run a paused one was, to go on with: its ids, input and metadata, the
   * conversation and figures as they stood when it paused. `options` brings
   * what cannot be stored (the signal, a timeout, an output schema).
   */
  static resume(setup: AgentSetup, paused: PausedRun, options: RunOptions, probe?: RunProbe): RunState {
    const { state } = paused;
    const run = new RunState(
      setup,
      state.input,
      { ...options, runId: paused.runId, sessionId: paused.sessionId, userId: paused.userId ?? undefined, metadata: state.metadata },
      probe,
      state.elapsedMs,
    );
    run.messages = state.messages;
    run.newTurnStart = state.newTurnStart;
    run.system = state.system;
    run.reasoning = state.reasoning;
    Object.assign(run.usage, state.usage);
    run.reasoningTokens = state.reasoningTokens;
    run.usageReported = state.usageReported;
    run.toolCalls.push(...state.toolCalls);
    run.references.push(...state.references);
    return run;
  }

  /** What a paused run keeps to go on with (see {@link RunState.resume}), `step` being the model steps so far. */
  pausedState(round: PausedRunState['round'], step: number): PausedRunState {
    return {
      input: this.input,
      metadata: this.metadata,
      messages: this.messages,
      newTurnStart: this.newTurnStart,
      system: this.system,
      steps: step,
      reasoning: this.reasoning,
      usage: { ...this.usage },
      reasoningTokens: this.reasoningTokens,
      usageReported: this.usageReported,
      toolCalls: this.toolCalls,
      references: this.references,
      elapsedMs: performance.now() - this.startedAt,
      round,
    };
  }

  /** The run's output as it stands, with `value` as its content. */
  output(status: RunStatus, value: unknown, error?: AgentError): RunOutput {
    const { setup, usage, startedAt, firstTokenAt } = this;
    return {
      content: value,
      reasoningContent: this.reasoning === '' ? null : this.reasoning,
      references: this.references,
      contentType: this.options.outputSchema && status === 'completed' ? 'json' : 'text',
      runId: this.runId,
      sessionId: this.sessionId,
      userId: this.userId,
      agentId: setup.id,
      agentName: setup.name,
      model: setup.model.id,
      status,
      metrics: {
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        totalTokens: usage.inputTokens + usage.outputTokens,
        reasoningTokens: this.reasoningTokens,
        cost: this.usageReported ? setup.model.cost(usage) : null,
        duration: (performance.now() - startedAt) / 1000,
        timeToFirstToken: firstTokenAt === null ? null : (firstTokenAt - startedAt) / 1000,
      },
      messages: this.messages,
      toolCalls: this.toolCalls,
      images: [],
      audio: this.audio,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
      metadata: this.metadata,
    };
  }
}
