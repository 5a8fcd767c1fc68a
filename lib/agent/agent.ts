import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { AgentError, AgentRunError } from './errors';
import type { Knowledge, KnowledgeReference } from './knowledge/knowledge';
import { searchKnowledgeTool } from './knowledge/knowledge-tool';
import { AgentLogger, StderrLogger } from './logger';
import type { Memory } from './memory/memory';
import type { Model } from './models/model';
import { BUILTIN_READERS } from './readers/builtin-readers';
import type { ReadersOptions } from './readers/file-reader';
import type { RunEvent } from './run-events';
import type { AfterResponseHook, BeforeRequestHook, RunOptions } from './run-options';
import type { RunOutput } from './run-output';
import type { AgentSetup } from './run/agent-setup';
import { prepareContext } from './run/context';
import { EventSink } from './run/event-sink';
import { ApprovalDecision, ApprovalError, ApprovalRecord, ApprovalStore, InMemoryApprovalStore, PausedRun } from './approvals/approval-store';
import { IdleWatch } from './models/idle-watch';
import { abandonRun, completeRun, failRun, pauseRun } from './run/finish';
import { maxStepsExceeded, modelStep } from './run/model-step';
import type { RunProbe } from './run/run-probe';
import { RunState } from './run/run-state';
import { finishRound, toolRound } from './run/tool-round';
import { resolveTools } from './run/resolve-tools';
import type { Stage } from './run/event-sink';
import { InMemorySessionStore } from './sessions/in-memory-session-store';
import type { SessionStore } from './sessions/session-store';
import { Tool, toolDefinitions } from './tools/tool';
import { isToolset, Toolset } from './tools/toolset';
import { AgentTrigger, AgentTriggerEntry, AgentTriggerHandler, validateTrigger } from './triggers';

/** @internal The key of {@link Agent}'s loop as a host drives it (see `AgentRunner`). */
export const RUN_HOSTED = Symbol('definable.runHosted');
/** @internal The key of {@link Agent}'s continuation of a paused run as a host drives it (see `AgentRunner`). */
export const RESUME_HOSTED = Symbol('definable.resumeHosted');

const DEFAULT_APPROVAL_TTL = 24 * 60 * 60 * 1000;

/** Options of {@link Agent}'s approvals: where paused runs wait, and for how long. */
export interface AgentApprovalOptions {
  /** Where runs paused for approval wait. Default: an {@link InMemoryApprovalStore} (`DefinableModule` uses its SQLite run store's file when it has one). */
  store?: ApprovalStore;
  /** Milliseconds an approval waits for a decision; after it the call is rejected as `expired`. Default 24 hours. */
  ttl?: number;
}

/** What {@link Agent.resume} and {@link Agent.resumeStream} take: what a paused run cannot keep. */
export type ResumeOptions<S extends z.ZodType = z.ZodType> = Pick<RunOptions<S>, 'signal' | 'timeout' | 'outputSchema'>;

/** What {@link Agent.decide} answers: the approval as recorded, and whether the run can now go on. */
export interface DecideResult {
  approval: ApprovalRecord;
  /** Every approval of the run's paused round is decided: `resume()` goes on with it. */
  ready: boolean;
}

/** Options of {@link Agent}. */
export interface AgentOptions {
  /** A readable name for logs and outputs. Default `'agent'`. */
  name?: string;
  /** A stable id; generated when absent. */
  id?: string;
  /** The model that answers, e.g. `new OpenAIChat({ id: 'gpt-4o' })`. */
  model: Model;
  /** The system message of every run. */
  instructions?: string;
  /**
   * Tools the model may call (see `defineTool`), and toolsets whose tools are
   * known at run time (`mcpTools(...)`: a remote MCP server's tools), asked
   * for their tools at the start of each run. Names must be unique across all.
   */
  tools?: (Tool | Toolset)[];
  /** Where conversation history lives. Default: a bounded {@link InMemorySessionStore}. */
  sessionStore?: SessionStore;
  /** Stored messages sent with each run (tool calls are never split from their results). Default 50; 0 sends none. */
  historyLimit?: number;
  /** Most model calls in one run (each tool round trip is one more). Default 10. */
  maxSteps?: number;
  /** Where failing hooks are reported. Default: stderr. Nest's `Logger` fits. */
  logger?: AgentLogger;
  /** User-scoped long-term memory (runs with a `userId` recall and update it). */
  memory?: Memory;
  /** Documents the agent can draw on. */
  knowledge?: Knowledge;
  /** `'always'` (default): search the knowledge for each input before the model call; `'tool'`: give the model a `search_knowledge` tool. */
  knowledgeMode?: 'always' | 'tool';
  /** How `files` are read into the prompt: `true` (the default: every built-in reader), `false` (files refused), or readers and limits. */
  readers?: boolean | ReadersOptions;
  /** Where runs paused for tool approvals wait, and how long a decision may take (see `defineTool`'s `approval`). */
  approvals?: AgentApprovalOptions;
}

/** Receives what {@link Agent.emit} emits. */
export type AgentEmitter = (name: string, data: unknown) => void;

const DEFAULT_HISTORY_LIMIT = 50;
const DEFAULT_MAX_STEPS = 10;

/**
 * An LLM agent: a model, instructions, tools and a session store, with one
 * run loop. `stream()` yields typed {@link RunEvent}s; `run()` consumes the
 * same loop and resolves to the final {@link RunOutput}.
 *
 * @example
 * const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }), instructions: 'Be brief.' });
 * const out = await agent.run('What is the capital of France?');
 */
export class Agent {
  /** The agent's id (given or generated). */
  readonly id: string;
  /** The agent's name. */
  readonly name: string;
  /** The model the agent calls. */
  readonly model: Model;
  /** The agent's memory, if any. */
  readonly memory?: Memory;
  /** The agent's knowledge, if any. */
  readonly knowledge?: Knowledge;
  /** What the run stages read: settings, logger, hooks, shared run state. */
  private readonly setup: AgentSetup;
  private defaultLogger: boolean;
  private defaultApprovals: boolean;
  private defaultSessions: boolean;
  private readonly emitters = new Set<AgentEmitter>();
  private readonly declaredTriggers: AgentTriggerEntry[] = [];

  constructor(options: AgentOptions) {
    if (!options || !options.model || typeof options.model.invoke !== 'function') {
      throw new TypeError("Agent needs a model, e.g. new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }) }).");
    }
    this.id = options.id ?? randomUUID();
    this.name = options.name ?? 'agent';
    this.model = options.model;
    this.defaultSessions = !options.sessionStore;
    const historyLimit = wholeNumber(options.historyLimit, DEFAULT_HISTORY_LIMIT, 0, 'historyLimit');
    const maxSteps = wholeNumber(options.maxSteps, DEFAULT_MAX_STEPS, 1, 'maxSteps');
    this.defaultLogger = !options.logger;
    this.defaultApprovals = !options.approvals?.store;
    this.memory = options.memory;
    this.knowledge = options.knowledge;
    const knowledgeMode = options.knowledgeMode ?? 'always';
    if (knowledgeMode !== 'always' && knowledgeMode !== 'tool') {
      throw new TypeError(`Agent option knowledgeMode must be 'always' or 'tool', got "${String(options.knowledgeMode)}".`);
    }
    const toolReferences = new Map<string, KnowledgeReference[]>();
    const declared: Tool[] = [];
    const toolsets: Toolset[] = [];
    for (const entry of options.tools ?? []) {
      if (isToolset(entry)) toolsets.push(entry);
      else declared.push(entry);
    }
    if (options.knowledge && knowledgeMode === 'tool') declared.push(searchKnowledgeTool(options.knowledge, toolReferences));
    const tools = uniqueTools(this.name, declared);
    this.setup = {
      id: this.id,
      name: this.name,
      model: this.model,
      instructions: options.instructions,
      tools,
      toolDefinitions: toolDefinitions(tools.values()),
      toolsets,
      sessionStore: options.sessionStore ?? new InMemorySessionStore(),
      historyLimit,
      maxSteps,
      approvals: options.approvals?.store ?? new InMemoryApprovalStore(),
      approvalTtl: positiveNumber(options.approvals?.ttl, DEFAULT_APPROVAL_TTL, 'approvals.ttl'),
      readers: readerSettings(options.readers ?? true),
      memory: this.memory,
      knowledge: this.knowledge,
      knowledgeMode,
      logger: options.logger ?? new StderrLogger(`Agent:${this.name}`),
      beforeHooks: [],
      afterHooks: [],
      toolReferences,
      background: new Set(),
      responseFormats: new WeakMap(),
    };
  }

  /** Registers a hook run before each run's first model call; returns a function that removes it. Hook failures are logged, never fatal. */
  beforeRequest(hook: BeforeRequestHook): () => void {
    return addHook(this.setup.beforeHooks, hook);
  }

  /** Registers a hook run with each finished run's output; returns a function that removes it. Hook failures are logged, never fatal. */
  afterResponse(hook: AfterResponseHook): () => void {
    return addHook(this.setup.afterHooks, hook);
  }

  /**
   * Declares a trigger without decorators; `DefinableModule` and `serve()`
   * mount it like `@Webhook`, `@Cron` or `@OnEvent` (declare it before the
   * module or server is created). Returns a function that removes it from
   * later mounts.
   *
   * @example
   * agent.on({ cron: '0 9 * * *', timezone: 'UTC' }, () => "Give me today's summary.");
   * agent.on<{ head_commit: { message: string } }>({ webhook: '/github', auth: false }, (event) => `Summarize: ${event.body.head_commit.message}`);
   * agent.on<{ name: string; id: string }>({ event: 'user_signup' }, (event) => ({ input: `Welcome ${event.body.name}`, userId: event.body.id }));
   */
  on<TBody = unknown>(trigger: AgentTrigger, handler: AgentTriggerHandler<TBody>): () => void {
    validateTrigger(trigger, handler as AgentTriggerHandler);
    const entry: AgentTriggerEntry = { trigger, handler: handler as AgentTriggerHandler };
    this.declaredTriggers.push(entry);
    return () => {
      const index = this.declaredTriggers.indexOf(entry);
      if (index >= 0) this.declaredTriggers.splice(index, 1);
    };
  }

  /** The triggers declared with {@link Agent.on}. */
  get triggers(): readonly AgentTriggerEntry[] {
    return [...this.declaredTriggers];
  }

  /** Whether the agent still logs with its default stderr logger (no `logger` was given). */
  get usesDefaultLogger(): boolean {
    return this.defaultLogger;
  }

  /** Replaces the agent's logger (`DefinableModule` hands agents without one a Nest `Logger`). */
  useLogger(logger: AgentLogger): void {
    if (!logger || typeof logger.error !== 'function') throw new TypeError('useLogger() needs a logger with log, warn and error methods.');
    this.setup.logger = logger;
    this.defaultLogger = false;
  }

  /** The session store the agent reads and writes history in. */
  get sessionStore(): SessionStore {
    return this.setup.sessionStore;
  }

  /** Whether the agent keeps history in its default in-memory store (no `sessionStore` was given). */
  get usesDefaultSessionStore(): boolean {
    return this.defaultSessions;
  }

  /**
   * Replaces the agent's session store (`DefinableModule` gives agents without
   * one the module's shared `stores.sessions`). Runs started after it read and
   * write history there.
   */
  useSessionStore(store: SessionStore): void {
    if (!store || typeof store.getMessages !== 'function' || typeof store.append !== 'function') {
      throw new TypeError('useSessionStore() needs a SessionStore.');
    }
    this.setup.sessionStore = store;
    this.defaultSessions = false;
  }

  /** Where the agent's runs paused for approval wait. */
  get approvalStore(): ApprovalStore {
    return this.setup.approvals;
  }

  /** Whether the agent keeps paused runs in its default in-memory store (no `approvals.store` was given). */
  get usesDefaultApprovalStore(): boolean {
    return this.defaultApprovals;
  }

  /** Replaces the agent's approval store (`DefinableModule` gives agents without one its SQLite run store's file). */
  useApprovalStore(store: ApprovalStore): void {
    if (!store || typeof store.decide !== 'function') throw new TypeError('useApprovalStore() needs an ApprovalStore.');
    this.setup.approvals = store;
    this.defaultApprovals = false;
  }

  /**
   * Decides one approval of a paused run: `approve: true` lets the call run
   * when the run goes on, `false` sends the model "The user rejected this
   * call: <reason>". Single-use: a second decision throws
   * {@link ApprovalError} `approval_decided` (so does one past its expiry,
   * which was rejected as `expired`). Checking who may decide is the
   * caller's part (`DefinableModule` does it). Resolves with the approval and
   * whether every approval of the run is decided (then call {@link Agent.resume}).
   *
   * @example
   * const { ready } = await agent.decide(runId, approvalId, { approve: true, decidedBy: 'alice' });
   * if (ready) await agent.resume(runId);
   */
  async decide(runId: string, approvalId: string, decision: ApprovalDecision): Promise<DecideResult> {
    if (!decision || typeof decision.approve !== 'boolean') throw new TypeError('decide() needs { approve: true | false, decidedBy }.');
    if (typeof decision.decidedBy !== 'string' || decision.decidedBy === '') throw new TypeError('decide() needs decidedBy: who decides.');
    const approval = await this.setup.approvals.decide(runId, approvalId, decision, Date.now());
    const paused = await this.setup.approvals.getPaused(runId);
    return { approval, ready: paused !== null && paused.status === 'paused' && paused.approvals.every((entry) => entry.status !== 'pending') };
  }

  /**
   * Goes on with a paused run whose approvals are all decided (expired ones
   * count, as rejected), and resolves like {@link Agent.run} — with the
   * output of its end, or `status: 'paused'` again if it pauses anew. Of
   * several callers (processes sharing a store) exactly one goes on; the
   * others get {@link ApprovalError} `approval_pending`.
   */
  async resume(runId: string, options: ResumeOptions = {}): Promise<RunOutput> {
    const paused = await this.claimPaused(runId);
    for await (const event of this.continueLoop(paused, options, false)) {
      const output = settleRun(event);
      if (output) return output;
    }
    /* istanbul ignore next -- the loop always ends with a terminal event */
    throw new AgentError('internal', 'The run ended without a result.');
  }

  /** {@link Agent.resume}, yielding the continuation's events: `RunContinued`, the approved calls' results, then the run as usual. */
  async *resumeStream(runId: string, options: ResumeOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    yield* this.continueLoop(await this.claimPaused(runId), options, true);
  }

  /**
   * @internal A host's continuation of a paused run: claims it (see
   * {@link Agent.resume}) and returns its loop, driven as {@link RUN_HOSTED}'s.
   */
  async [RESUME_HOSTED](
    runId: string,
    options: ResumeOptions,
    streaming: boolean,
    probe: RunProbe | undefined,
  ): Promise<{ paused: PausedRun; events: AsyncGenerator<RunEvent, void, undefined> }> {
    const paused = await this.claimPaused(runId);
    return { paused, events: this.continueLoop(paused, options, streaming, probe) };
  }

  /** Takes a paused run whose approvals are all decided, for this caller alone. */
  private async claimPaused(runId: string): Promise<PausedRun> {
    const store = this.setup.approvals;
    await store.expire(Date.now());
    const paused = await store.claim(runId);
    if (paused) return paused;
    const current = await store.getPaused(runId);
    if (!current) throw new ApprovalError('approval_not_found', `No paused run "${runId.slice(0, 80)}": it went on already, or never paused.`);
    if (current.status === 'continuing') throw new ApprovalError('approval_pending', `Run "${runId.slice(0, 80)}" is going on already (another caller resumed it).`);
    const waiting = current.approvals.filter((approval) => approval.status === 'pending').map((approval) => approval.approvalId);
    throw new ApprovalError('approval_pending', `Run "${runId.slice(0, 80)}" still waits for approval ${waiting.join(', ')}: decide it first.`);
  }

  /**
   * Closes the agent's toolsets (an `mcpTools` client's connection or child
   * process). `DefinableModule` does it when the app shuts down. The agent
   * can still run afterwards: a toolset opens again when a run needs it.
   */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.setup.toolsets.map((toolset) => toolset.close()));
    results.forEach((result, index) => {
      if (result.status === 'rejected') this.setup.logger.error(`Closing toolset ${this.setup.toolsets[index].name} failed: ${String(result.reason)}`);
    });
  }

  /** Resolves when the memory updates that `run()` left running in the background are done. */
  async idle(): Promise<void> {
    while (this.setup.background.size) await Promise.all([...this.setup.background]);
  }

  /**
   * Emits an event to the runtime the agent is mounted in (`DefinableModule`
   * forwards it to `EventEmitter2`, reaching every `@OnEvent(name)` handler).
   * Fire-and-forget: returns at once; handler failures are logged there.
   */
  emit(name: string, data?: unknown): void {
    if (typeof name !== 'string' || name === '') throw new TypeError('agent.emit() needs an event name.');
    if (this.emitters.size === 0) {
      this.setup.logger.warn(`agent.emit("${name}") reached no runtime: import DefinableModule (or use serve()) so @OnEvent handlers can receive it.`);
      return;
    }
    for (const emitter of this.emitters) emitter(name, data);
  }

  /**
   * Connects a runtime to {@link Agent.emit}; returns a function that
   * disconnects it. Used by `DefinableModule`; rarely needed directly.
   */
  attachEmitter(emitter: AgentEmitter): () => void {
    this.emitters.add(emitter);
    return () => void this.emitters.delete(emitter);
  }

  /**
   * Runs the agent and resolves to its output. Rejects with an
   * {@link AgentRunError} (carrying `code` and the partial `output`) when the
   * run fails or is cancelled.
   */
  run<S extends z.ZodType>(input: string, options: RunOptions<S> & { outputSchema: S }): Promise<RunOutput<z.output<S>>>;
  run(input: string, options?: RunOptions): Promise<RunOutput<string>>;
  async run(input: string, options: RunOptions = {}): Promise<RunOutput> {
    for await (const event of this.loop(input, options, false)) {
      const output = settleRun(event);
      if (output) return output;
    }
    /* istanbul ignore next -- the loop always ends with a terminal event */
    throw new AgentError('internal', 'The run ended without a result.');
  }

  /**
   * @internal The run loop for a host (`AgentRunner`): as `stream()` drives
   * it (`streaming`), or as `run()` does (the model answers at once, only the
   * terminal event is yielded; settle it with {@link settleRun}) — watched by
   * the host's `probe`, if any.
   */
  [RUN_HOSTED](input: string, options: RunOptions, streaming: boolean, probe: RunProbe | undefined): AsyncGenerator<RunEvent, void, undefined> {
    return this.loop(input, options, streaming, probe);
  }

  /**
   * Runs the agent and yields its events as they happen. Never throws for a
   * run failure: the stream ends with `RunCompleted`, `RunError` or
   * `RunCancelled`. Leaving the loop early (`break`) cancels the run.
   */
  stream<S extends z.ZodType>(input: string, options: RunOptions<S> & { outputSchema: S }): AsyncGenerator<RunEvent<z.output<S>>, void, undefined>;
  stream(input: string, options?: RunOptions): AsyncGenerator<RunEvent<string>, void, undefined>;
  stream(input: string, options: RunOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    return this.loop(input, options, true);
  }

  /**
   * The run loop, conducting the stages of `run/`. `streaming` (stream())
   * yields every event and streams the model; otherwise (run()) the model
   * answers at once and only the terminal event is built and yielded.
   */
  private async *loop(input: string, options: RunOptions, streaming: boolean, probe?: RunProbe): AsyncGenerator<RunEvent, void, undefined> {
    const { setup } = this;
    const { run, sink, deadline } = this.open(options, streaming, (runOptions) => new RunState(setup, input, runOptions, probe));
    try {
      checkTimeout(options, deadline);
      yield* prepareContext(setup, run, sink);
      yield* this.steps(run, sink, 1);
    } catch (thrown) {
      yield await this.fail(run, sink, thrown, options, deadline);
    } finally {
      await this.endRun(run, deadline);
    }
  }

  /** A paused run's continuation: the decided round finished, then the run's steps as usual. */
  private async *continueLoop(paused: PausedRun, options: ResumeOptions, streaming: boolean, probe?: RunProbe): AsyncGenerator<RunEvent, void, undefined> {
    const { setup } = this;
    const { run, sink, deadline } = this.open(options, streaming, (runOptions) => RunState.resume(setup, paused, runOptions, probe));
    try {
      checkTimeout(options, deadline);
      if (setup.toolsets.length) await resolveTools(setup, run);
      if (sink.active) yield sink.event({ event: 'RunContinued', decisions: paused.approvals });
      yield* finishRound(run, sink, paused.state.round, paused.approvals);
      yield* this.steps(run, sink, paused.state.steps + 1);
    } catch (thrown) {
      yield await this.fail(run, sink, thrown, options, deadline);
    } finally {
      await this.endRun(run, deadline);
      // The paused run is forgotten once it went on (a new pause replaced it under the same id).
      if (!run.paused) await setup.approvals.remove(paused.runId).catch((error: unknown) => setup.logger.error(`The approval store failed to forget run ${run.runId}: ${String(error)}`));
    }
  }

  /** A run's state and sink, and its deadline (a watch nothing touches: its signal, linked to the caller's, is the run's). */
  private open(options: RunOptions, streaming: boolean, state: (options: RunOptions) => RunState): { run: RunState; sink: EventSink; deadline?: IdleWatch } {
    const deadline = validTimeout(options.timeout) ? new IdleWatch(options.timeout, options.signal) : undefined;
    deadline?.start();
    const run = state(deadline ? { ...options, signal: deadline.signal } : options);
    return { run, sink: new EventSink(streaming, run.runId, run.sessionId, this.setup.id), deadline };
  }

  /** The terminal event of a run that threw (a deadline that expired makes it `model_timeout`). */
  private fail(run: RunState, sink: EventSink, thrown: unknown, options: RunOptions, deadline: IdleWatch | undefined): Promise<RunEvent> {
    const timedOut = deadline?.expired === true;
    const error = timedOut ? new AgentError('model_timeout', `The run took longer than its timeout of ${options.timeout} ms.`) : thrown;
    return failRun(this.setup, run, sink, error, timedOut);
  }

  /** Whatever way a run ends: its deadline stopped, the hooks told of a stream left early, its references dropped. */
  private async endRun(run: RunState, deadline: IdleWatch | undefined): Promise<void> {
    deadline?.stop();
    await abandonRun(this.setup, run);
    this.setup.toolReferences.delete(run.runId);
  }

  /** The model steps and tool rounds from step `first`, to the completed reply — or a pause for approvals. */
  private async *steps(run: RunState, sink: EventSink, first: number): Stage {
    const { setup } = this;
    for (let step = first; ; step++) {
      const calls = yield* modelStep(setup, run, sink, step);
      if (calls.length === 0) break;
      if (step >= setup.maxSteps) throw maxStepsExceeded(setup.maxSteps);
      const paused = yield* toolRound(setup, run, sink, calls);
      if (paused) {
        yield await pauseRun(setup, run, sink, paused, step);
        return;
      }
    }
    yield* completeRun(setup, run, sink);
  }
}

/**
 * @internal What `run()` makes of a terminal event: the output of
 * `RunCompleted` and `RunPaused` (status `paused`), an {@link AgentRunError}
 * thrown for `RunError` and `RunCancelled`; `undefined` for any other event.
 */
export function settleRun(event: RunEvent): RunOutput | undefined {
  switch (event.event) {
    case 'RunCompleted':
      return event.output;
    case 'RunError':
      throw new AgentRunError(event.error.code, event.error.message, event.output);
    case 'RunCancelled':
      throw new AgentRunError('cancelled', event.reason, event.output);
    case 'RunPaused':
      return event.output;
    default:
      return undefined;
  }
}

/** A `timeout` that is set but not a positive number of milliseconds fails the run at once. */
function checkTimeout(options: RunOptions, deadline: IdleWatch | undefined): void {
  if (options.timeout !== undefined && !deadline) {
    throw new AgentError('invalid_input', `timeout must be a positive number of milliseconds, got ${String(options.timeout)}.`);
  }
}

function validTimeout(timeout: number | undefined): timeout is number {
  return typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0;
}

function addHook<T>(hooks: T[], hook: T): () => void {
  if (typeof hook !== 'function') throw new TypeError('A hook must be a function.');
  hooks.push(hook);
  return () => {
    const index = hooks.indexOf(hook);
    if (index >= 0) hooks.splice(index, 1);
  };
}

function uniqueTools(agentName: string, declared: Tool[]): Map<string, Tool> {
  const tools = new Map<string, Tool>();
  for (const tool of declared) {
    if (!tool || typeof tool.execute !== 'function' || !tool.jsonSchema) {
      throw new TypeError(
        `Agent "${agentName}": every tool must be created with defineTool({ name, description, parameters, execute }), or be a toolset such as mcpTools({ url }).`,
      );
    }
    if (tools.has(tool.name)) {
      throw new TypeError(`Agent "${agentName}" has two tools named "${tool.name}"; tool names must be unique.`);
    }
    tools.set(tool.name, tool);
  }
  return tools;
}

function readerSettings(readers: boolean | ReadersOptions): Required<ReadersOptions> | null {
  if (readers === false) return null;
  return {
    readers: readers === true || !readers.readers ? [...BUILTIN_READERS] : readers.readers,
    maxFileBytes: (readers !== true && readers.maxFileBytes) || 20 * 1024 * 1024,
    maxChars: (readers !== true && readers.maxChars) || 200_000,
  };
}

function wholeNumber(value: number | undefined, fallback: number, min: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`Agent option ${name} must be a whole number of at least ${min}, got ${value}.`);
  }
  return value;
}

function positiveNumber(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Agent option ${name} must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}
