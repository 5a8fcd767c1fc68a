import { randomUUID } from 'node:crypto';
import { abortReason, whenAborted } from './abort';
import { AgentError, AgentRunError, ModelError, SessionOwnershipError, toAgentError } from './errors';
import { formatIssues, isStrictCompatible, zodToJsonSchema } from './json-schema';
import { AgentLogger, StderrLogger } from './logger';
import { buildUserMessage, RunMedia } from './media';
import type { Message, ToolCallRequest } from './messages';
import type { Model, ModelUsage, ResponseFormat, ToolDefinition } from './models/model';
import type { RunEvent, RunEventBase } from './run-events';
import type { OutputAudio, RunOutput, RunStatus, ToolCallRecord } from './run-output';
import { InMemorySessionStore } from './sessions/in-memory-session-store';
import { SessionStore, windowHistory } from './sessions/session-store';
import type { Tool } from './tools/tool';
import { executeToolCall, ToolOutcome } from './tools/tool-executor';
import { BUILTIN_READERS } from './readers/builtin-readers';
import { Memory } from './memory/memory';
import { Knowledge, KnowledgeReference } from './knowledge/knowledge';
import { defineTool } from './tools/tool';
import { z } from 'zod';
import { loadFile, pickReader, ReadersOptions, readToBlock } from './readers/file-reader';
import { AgentTrigger, AgentTriggerEntry, AgentTriggerHandler, validateTrigger } from './triggers';

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
  /** Tools the model may call (see `defineTool`). Names must be unique. */
  tools?: Tool[];
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
}

/** Options of one run, shared by {@link Agent.run} and {@link Agent.stream}. */
export interface RunOptions<S extends z.ZodType = z.ZodType> extends RunMedia {
  /** Continue this session; a new one is created when absent. */
  sessionId?: string;
  /** The user the run is for; a session belongs to the user who created it. */
  userId?: string;
  /** Use this run id instead of a generated one. */
  runId?: string;
  /** History to send instead of the stored one (the new turn is still stored under `sessionId`). */
  messages?: Message[];
  /** Stored messages sent with this run, instead of the agent's `historyLimit`. */
  historyLimit?: number;
  /** Read and store this run's history here instead of the agent's `sessionStore`. */
  sessionStore?: SessionStore;
  /** A zod schema: the reply must be JSON matching it, and `content` is the parsed object. */
  outputSchema?: S;
  /** Aborting it cancels the run: the model request and pending tools are aborted. */
  signal?: AbortSignal;
  /** Free-form data passed to hooks and tools and returned in the output. */
  metadata?: Record<string, unknown>;
}

/** What `beforeRequest` hooks receive. */
export interface RunContext {
  runId: string;
  sessionId: string;
  userId: string | null;
  agentId: string;
  agentName: string;
  input: string;
  metadata: Record<string, unknown>;
}

/** Receives what {@link Agent.emit} emits. */
export type AgentEmitter = (name: string, data: unknown) => void;

/** A `beforeRequest` hook. */
export type BeforeRequestHook = (context: RunContext) => void | Promise<void>;
/** An `afterResponse` hook; it sees every finished run, whatever its status. */
export type AfterResponseHook = (output: RunOutput) => void | Promise<void>;

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
  /** The session store the agent reads and writes history in. */
  readonly sessionStore: SessionStore;
  private readonly instructions?: string;
  private readonly tools: ReadonlyMap<string, Tool>;
  private readonly toolDefinitions: ToolDefinition[];
  private readonly historyLimit: number;
  private readonly maxSteps: number;
  private logger: AgentLogger;
  private defaultLogger: boolean;
  private readonly readers: Required<ReadersOptions> | null;
  /** The agent's memory, if any. */
  readonly memory?: Memory;
  /** The agent's knowledge, if any. */
  readonly knowledge?: Knowledge;
  private readonly knowledgeMode: 'always' | 'tool';
  /** References found by `search_knowledge` calls, per run in progress. */
  private readonly toolReferences = new Map<string, KnowledgeReference[]>();
  /** Memory updates of run() calls still going on in the background. */
  private readonly background = new Set<Promise<unknown>>();
  private readonly beforeHooks: BeforeRequestHook[] = [];
  private readonly afterHooks: AfterResponseHook[] = [];
  private readonly responseFormats = new WeakMap<z.ZodType, ResponseFormat>();
  private readonly emitters = new Set<AgentEmitter>();
  private readonly declaredTriggers: AgentTriggerEntry[] = [];

  constructor(options: AgentOptions) {
    if (!options || !options.model || typeof options.model.invoke !== 'function') {
      throw new TypeError("Agent needs a model, e.g. new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }) }).");
    }
    this.id = options.id ?? randomUUID();
    this.name = options.name ?? 'agent';
    this.model = options.model;
    this.instructions = options.instructions;
    this.sessionStore = options.sessionStore ?? new InMemorySessionStore();
    this.historyLimit = wholeNumber(options.historyLimit, DEFAULT_HISTORY_LIMIT, 0, 'historyLimit');
    this.maxSteps = wholeNumber(options.maxSteps, DEFAULT_MAX_STEPS, 1, 'maxSteps');
    this.logger = options.logger ?? new StderrLogger(`Agent:${this.name}`);
    this.defaultLogger = !options.logger;
    this.memory = options.memory;
    this.knowledge = options.knowledge;
    this.knowledgeMode = options.knowledgeMode ?? 'always';
    if (this.knowledgeMode !== 'always' && this.knowledgeMode !== 'tool') {
      throw new TypeError(`Agent option knowledgeMode must be 'always' or 'tool', got "${String(options.knowledgeMode)}".`);
    }
    const readers = options.readers ?? true;
    this.readers =
      readers === false
        ? null
        : {
            readers: readers === true || !readers.readers ? [...BUILTIN_READERS] : readers.readers,
            maxFileBytes: (readers !== true && readers.maxFileBytes) || 20 * 1024 * 1024,
            maxChars: (readers !== true && readers.maxChars) || 200_000,
          };
    const tools = new Map<string, Tool>();
    const declared = [...(options.tools ?? [])];
    if (options.knowledge && this.knowledgeMode === 'tool') declared.push(this.knowledgeTool(options.knowledge));
    for (const tool of declared) {
      if (!tool || typeof tool.execute !== 'function' || !tool.jsonSchema) {
        throw new TypeError(`Agent "${this.name}": every tool must be created with defineTool({ name, description, parameters, execute }).`);
      }
      if (tools.has(tool.name)) {
        throw new TypeError(`Agent "${this.name}" has two tools named "${tool.name}"; tool names must be unique.`);
      }
      tools.set(tool.name, tool);
    }
    this.tools = tools;
    this.toolDefinitions = [...tools.values()].map((tool) => ({
      name: tool.name,
      description: tool.description,
      parameters: tool.jsonSchema,
    }));
  }

  private knowledgeTool(knowledge: Knowledge): Tool {
    return defineTool({
      name: 'search_knowledge',
      description: 'Search the knowledge base for passages relevant to a query. Use it before answering questions it may cover.',
      parameters: z.object({ query: z.string().describe('What to look for') }),
      execute: async ({ query }, ctx) => {
        const references = await knowledge.search(query);
        const collected = this.toolReferences.get(ctx.runId);
        if (collected) collected.push(...references);
        return references.length ? Knowledge.context(references) : 'Nothing relevant was found.';
      },
    });
  }

  /** Registers a hook run before each run's first model call; returns a function that removes it. Hook failures are logged, never fatal. */
  beforeRequest(hook: BeforeRequestHook): () => void {
    return addHook(this.beforeHooks, hook);
  }

  /** Registers a hook run with each finished run's output; returns a function that removes it. Hook failures are logged, never fatal. */
  afterResponse(hook: AfterResponseHook): () => void {
    return addHook(this.afterHooks, hook);
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
    this.logger = logger;
    this.defaultLogger = false;
  }

  /** Resolves when the memory updates that `run()` left running in the background are done. */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.all([...this.background]);
  }

  /**
   * Emits an event to the runtime the agent is mounted in (`DefinableModule`
   * forwards it to `EventEmitter2`, reaching every `@OnEvent(name)` handler).
   * Fire-and-forget: returns at once; handler failures are logged there.
   */
  emit(name: string, data?: unknown): void {
    if (typeof name !== 'string' || name === '') throw new TypeError('agent.emit() needs an event name.');
    if (this.emitters.size === 0) {
      this.logger.warn(`agent.emit("${name}") reached no runtime: import DefinableModule (or use serve()) so @OnEvent handlers can receive it.`);
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
      switch (event.event) {
        case 'RunCompleted':
          return event.output;
        case 'RunError':
          throw new AgentRunError(event.error.code, event.error.message, event.output);
        case 'RunCancelled':
          throw new AgentRunError('cancelled', event.reason, event.output);
      }
    }
    /* istanbul ignore next -- the loop always ends with a terminal event */
    throw new AgentError('internal', 'The run ended without a result.');
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
   * The run loop. `streaming` (stream()) yields every event and streams the
   * model; otherwise (run()) the model answers at once and only the terminal
   * event is yielded.
   */
  private async *loop(input: string, options: RunOptions, streaming: boolean): AsyncGenerator<RunEvent, void, undefined> {
    const startedAt = performance.now();
    const runId = options.runId ?? randomUUID();
    const sessionId = options.sessionId ?? randomUUID();
    const userId = options.userId ?? null;
    const metadata = options.metadata ?? {};
    // No controller of our own: the model request is cancelled by the caller's signal, or by
    // closing its iterator when the consumer leaves early; tools get a controller per batch.
    const signal = options.signal;
    const store = options.sessionStore ?? this.sessionStore;

    const base = (): RunEventBase => ({ runId, sessionId, agentId: this.id, createdAt: Date.now() });
    const usage: ModelUsage = { inputTokens: 0, outputTokens: 0 };
    let reasoningTokens: number | null = null;
    const references: KnowledgeReference[] = [];
    let reasoning = '';
    let usageReported = false;
    let firstTokenAt: number | null = null;
    let content = '';
    let messages: Message[] = [];
    const toolCalls: ToolCallRecord[] = [];
    const audio: OutputAudio[] = [];

    const output = (status: RunStatus, value: unknown, error?: AgentError): RunOutput => ({
      content: value,
      reasoningContent: reasoning === '' ? null : reasoning,
      references,
      contentType: options.outputSchema && status === 'completed' ? 'json' : 'text',
      runId,
      sessionId,
      userId,
      agentId: this.id,
      agentName: this.name,
      model: this.model.id,
      status,
      metrics: {
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        totalTokens: usage.inputTokens + usage.outputTokens,
        reasoningTokens,
        cost: usageReported ? this.model.cost(usage) : null,
        duration: (performance.now() - startedAt) / 1000,
        timeToFirstToken: firstTokenAt === null ? null : (firstTokenAt - startedAt) / 1000,
      },
      messages,
      toolCalls,
      images: [],
      audio,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
      metadata,
    });

    try {
      if (typeof input !== 'string') {
        throw new AgentError('invalid_input', `The run's input must be a string, got ${input === null ? 'null' : typeof input}.`);
      }
      // run() drives this same loop for its terminal event only: progress events are not built.
      if (streaming) yield { ...base(), event: 'RunStarted', agentName: this.name, model: this.model.id, userId };
      if (this.beforeHooks.length) {
        const context: RunContext = { runId, sessionId, userId, agentId: this.id, agentName: this.name, input, metadata };
        await this.runHooks('beforeRequest', this.beforeHooks, context);
      }
      const fileBlocks: string[] = [];
      if (options.files?.length) {
        if (!this.readers) throw new AgentError('file_read', `Agent "${this.name}" has readers disabled; enable them (readers: true) to pass files.`);
        for (const [index, input] of options.files.entries()) {
          const file = await loadFile(input, index, this.readers.maxFileBytes);
          const reader = pickReader(file, this.readers.readers);
          if (streaming) yield { ...base(), event: 'FileReadStarted', name: file.name, type: reader.name };
          const block = await readToBlock(file, reader, this.readers.maxChars);
          fileBlocks.push(block);
          if (streaming) yield { ...base(), event: 'FileReadCompleted', name: file.name, type: reader.name, characters: block.length };
        }
      }
      const userMessage = buildUserMessage(input, fileBlocks, options, this.model.capabilities, this.model.id);
      const history = await this.loadHistory(store, sessionId, userId, options.messages, options.historyLimit ?? this.historyLimit);
      throwIfAborted(signal);
      messages = [...history, userMessage];
      const newTurnStart = history.length;
      const responseFormat = options.outputSchema ? this.responseFormat(options.outputSchema) : undefined;
      const context: string[] = this.instructions ? [this.instructions] : [];
      const memory = userId !== null ? this.memory : undefined;
      if (memory) {
        if (streaming) yield { ...base(), event: 'MemoryRecallStarted', userId: userId! };
        const recalled = await memory.recall(userId!, input).catch((error) => {
          this.logger.error(`Memory recall for run ${runId} failed: ${describeError(error)}`);
          return [];
        });
        if (recalled.length) context.push(Memory.context(recalled));
        if (streaming) yield { ...base(), event: 'MemoryRecallCompleted', userId: userId!, memories: recalled.map(({ id, text }) => ({ id, text })) };
      }
      if (this.knowledge && this.knowledgeMode === 'always') {
        if (streaming) yield { ...base(), event: 'KnowledgeRetrievalStarted', query: input };
        const found = await this.knowledge.search(input).catch((error) => {
          this.logger.error(`Knowledge retrieval for run ${runId} failed: ${describeError(error)}`);
          return [];
        });
        references.push(...found);
        if (found.length) context.push(Knowledge.context(found));
        if (streaming) yield { ...base(), event: 'KnowledgeRetrievalCompleted', query: input, references: found };
      }
      if (this.knowledge && this.knowledgeMode === 'tool') this.toolReferences.set(runId, references);
      const system: Message[] = context.length ? [{ role: 'system', content: context.join('\n\n') }] : [];

      for (let step = 1; ; step++) {
        content = '';
        const calls: ToolCallRequest[] = [];
        for await (const chunk of this.model.invoke({
          messages: system.length ? [...system, ...messages] : messages,
          tools: this.toolDefinitions,
          responseFormat,
          stream: streaming,
          signal,
        })) {
          switch (chunk.type) {
            case 'content':
              firstTokenAt ??= performance.now();
              content += chunk.delta;
              if (streaming) yield { ...base(), event: 'RunContent', content: chunk.delta };
              break;
            case 'reasoning':
              firstTokenAt ??= performance.now();
              reasoning += chunk.delta;
              if (streaming) yield { ...base(), event: 'ReasoningStep', content: chunk.delta };
              break;
            case 'tool_call':
              calls.push({ id: chunk.id, name: chunk.name, arguments: chunk.arguments });
              break;
            case 'usage':
              usageReported = true;
              usage.inputTokens += chunk.usage.inputTokens;
              usage.outputTokens += chunk.usage.outputTokens;
              if (chunk.usage.reasoningTokens !== undefined) reasoningTokens = (reasoningTokens ?? 0) + chunk.usage.reasoningTokens;
              break;
            case 'audio':
              audio.push({ data: chunk.data, format: chunk.format, transcript: chunk.transcript });
              break;
          }
        }
        throwIfAborted(signal);
        messages.push({ role: 'assistant', content: content === '' ? null : content, ...(calls.length ? { toolCalls: calls } : {}) });
        if (calls.length === 0) break;
        if (step >= this.maxSteps) {
          throw new AgentError(
            'max_steps_exceeded',
            `The model was still calling tools after ${this.maxSteps} model calls (maxSteps). Raise maxSteps, or check that the tools' results let the model finish.`,
          );
        }
        yield* this.runTools(calls, messages, toolCalls, { runId, sessionId, userId, metadata, signal, base, streaming });
      }

      const value = options.outputSchema ? parseStructured(content, options.outputSchema) : content;
      if (streaming) yield { ...base(), event: 'RunContentCompleted', content };
      const newTurn = messages.slice(newTurnStart);
      await store.append(sessionId, userId, newTurn);
      if (memory) {
        // After the reply: a stream has its content already; run() does not wait at all.
        const update = memory.update(userId!, newTurn, this.model).catch((error) => {
          this.logger.error(`Memory update after run ${runId} failed: ${describeError(error)}`);
          return describeError(error);
        });
        if (streaming) {
          yield { ...base(), event: 'MemoryUpdateStarted', userId: userId! };
          const changes = await update;
          yield { ...base(), event: 'MemoryUpdateCompleted', userId: userId!, ...(typeof changes === 'string' ? { changes: [], error: changes } : { changes }) };
        } else {
          this.background.add(update);
          void update.then(() => this.background.delete(update));
        }
      }
      const result = output('completed', value);
      if (this.afterHooks.length) await this.runHooks('afterResponse', this.afterHooks, result);
      yield { ...base(), event: 'RunCompleted', output: result };
    } catch (thrown) {
      if (signal?.aborted) {
        const reason = abortReason(signal);
        const result = output('cancelled', content, new AgentError('cancelled', reason));
        await this.runHooks('afterResponse', this.afterHooks, result);
        yield { ...base(), event: 'RunCancelled', reason, output: result };
      } else {
        const error = toAgentError(thrown);
        if (error.code === 'internal') this.logger.error(`Run ${runId} failed unexpectedly: ${error.stack ?? error.message}`);
        const result = output('error', content, error);
        await this.runHooks('afterResponse', this.afterHooks, result);
        yield { ...base(), event: 'RunError', error: { code: error.code, message: error.message }, output: result };
      }
    } finally {
      this.toolReferences.delete(runId);
    }
  }

  /** Runs a step's tool calls concurrently, yielding their events as they settle. */
  private async *runTools(
    calls: ToolCallRequest[],
    messages: Message[],
    records: ToolCallRecord[],
    run: {
      runId: string;
      sessionId: string;
      userId: string | null;
      metadata: Record<string, unknown>;
      signal?: AbortSignal;
      base: () => RunEventBase;
      streaming: boolean;
    },
  ): AsyncGenerator<RunEvent, void, undefined> {
    const parsed = calls.map((call) => parseArguments(call));
    // Aborted when the run is cancelled, or when the consumer leaves the stream while tools run.
    const controller = new AbortController();
    const forward = () => controller.abort(run.signal?.reason);
    if (run.signal?.aborted) forward();
    else run.signal?.addEventListener('abort', forward, { once: true });
    const outcomes: ToolOutcome[] = new Array(calls.length);
    const pending = new Map<number, Promise<number>>();
    calls.forEach((call, i) => {
      const ctx = {
        runId: run.runId,
        sessionId: run.sessionId,
        userId: run.userId,
        agentId: this.id,
        toolCallId: call.id,
        signal: controller.signal,
        metadata: run.metadata,
      };
      pending.set(
        i,
        executeToolCall(this.tools.get(call.name), call, parsed[i], ctx).then((outcome) => {
          outcomes[i] = outcome;
          return i;
        }),
      );
    });
    const aborted = whenAborted(controller.signal);
    try {
      for (let i = 0; i < calls.length && run.streaming; i++) {
        yield { ...run.base(), event: 'ToolCallStarted', toolName: calls[i].name, toolCallId: calls[i].id, args: parsed[i] };
      }
      while (pending.size > 0) {
        const i = await Promise.race([...pending.values(), aborted.promise]);
        pending.delete(i);
        const outcome = outcomes[i];
        const call = calls[i];
        records.push({
          id: call.id,
          name: call.name,
          args: outcome.args,
          ...(outcome.ok ? { result: outcome.result } : { error: outcome.error }),
          duration: outcome.duration,
        });
        if (run.streaming) {
          yield outcome.ok
            ? { ...run.base(), event: 'ToolCallCompleted', toolName: call.name, toolCallId: call.id, result: outcome.result }
            : { ...run.base(), event: 'ToolCallError', toolName: call.name, toolCallId: call.id, error: outcome.error };
        }
      }
    } finally {
      aborted.dispose();
      run.signal?.removeEventListener('abort', forward);
      if (pending.size > 0) controller.abort(new Error('The run ended before its tools finished.'));
    }
    // Results go back in the order of the calls, whatever order they finished in.
    calls.forEach((call, i) => {
      const outcome = outcomes[i];
      messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: outcome.ok ? outcome.result : outcome.error });
    });
  }

  private async loadHistory(
    store: SessionStore,
    sessionId: string,
    userId: string | null,
    explicit: Message[] | undefined,
    limit: number,
  ): Promise<Message[]> {
    const session = await store.getSession(sessionId);
    if (session && session.userId !== userId) throw new SessionOwnershipError(sessionId);
    if (explicit) {
      if (!Array.isArray(explicit)) throw new AgentError('invalid_input', 'The run option `messages` must be an array of messages.');
      return windowHistory(explicit);
    }
    if (!session || limit === 0) return [];
    return windowHistory(await store.getMessages(sessionId, limit), limit);
  }

  private responseFormat(schema: z.ZodType): ResponseFormat {
    let format = this.responseFormats.get(schema);
    if (!format) {
      const json = zodToJsonSchema(schema);
      format = { name: 'output', schema: json, strict: isStrictCompatible(json) };
      this.responseFormats.set(schema, format);
    }
    return format;
  }

  private async runHooks<T>(kind: string, hooks: ((arg: T) => void | Promise<void>)[], arg: T): Promise<void> {
    for (const hook of hooks) {
      try {
        await hook(arg);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(`${kind} hook ${hook.name || '(anonymous)'} failed: ${message}`);
      }
    }
  }
}

function addHook<T>(hooks: T[], hook: T): () => void {
  if (typeof hook !== 'function') throw new TypeError('A hook must be a function.');
  hooks.push(hook);
  return () => {
    const index = hooks.indexOf(hook);
    if (index >= 0) hooks.splice(index, 1);
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** Malformed tool-call JSON is a provider failure: the model's answer cannot be understood. */
function parseArguments(call: ToolCallRequest): unknown {
  if (call.arguments.trim() === '') return {};
  try {
    return JSON.parse(call.arguments);
  } catch {
    throw new ModelError(
      'model_bad_response',
      `The model sent malformed JSON arguments for tool "${call.name}": ${truncate(call.arguments, 200)}`,
    );
  }
}

function parseStructured(text: string, schema: z.ZodType): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgentError('output_validation', `The model's reply is not valid JSON for outputSchema: ${truncate(text, 200)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new AgentError('output_validation', `The model's reply does not match outputSchema: ${formatIssues(parsed.error)}`);
  }
  return parsed.data;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function wholeNumber(value: number | undefined, fallback: number, min: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`Agent option ${name} must be a whole number of at least ${min}, got ${value}.`);
  }
  return value;
}
