import type { z } from 'zod';
import { throwIfAborted } from '../abort';
import { AgentError, errorMessage, SessionOwnershipError } from '../errors';
import { isStrictCompatible, zodToJsonSchema } from '../json-schema';
import { Knowledge } from '../knowledge/knowledge';
import { buildUserMessage } from '../media';
import { Memory } from '../memory/memory';
import type { Message } from '../messages';
import type { ResponseFormat } from '../models/model';
import { FileInput, loadFile, pickReader, readToBlock } from '../readers/file-reader';
import type { RunContext } from '../run-options';
import { windowHistory } from '../sessions/session-store';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import { runHooks } from './hooks';
import type { RunState } from './run-state';
import { resolveTools } from './resolve-tools';

/**
 * Everything before the first model call: checks the input, announces the
 * run, runs the `beforeRequest` hooks, gets the toolsets' tools, reads the files, loads the history,
 * recalls the user's memories and searches the knowledge. Leaves the
 * messages, the system message and the response format on `run`.
 */
export async function* prepareContext(setup: AgentSetup, run: RunState, sink: EventSink): Stage {
  const { input, options } = run;
  if (typeof input !== 'string') {
    throw new AgentError('invalid_input', `The run's input must be a string, got ${input === null ? 'null' : typeof input}.`);
  }
  if (sink.active) yield sink.event({ event: 'RunStarted', agentName: setup.name, model: setup.model.id, userId: run.userId });
  if (setup.beforeHooks.length) {
    const runContext: RunContext = {
      runId: run.runId,
      sessionId: run.sessionId,
      userId: run.userId,
      agentId: setup.id,
      agentName: setup.name,
      input,
      metadata: run.metadata,
    };
    await runHooks(setup, 'beforeRequest', setup.beforeHooks, runContext);
  }
  if (setup.toolsets.length) await resolveTools(setup, run);
  const fileBlocks = options.files?.length ? yield* readFiles(setup, sink, options.files) : [];
  const userMessage = buildUserMessage(input, fileBlocks, options, setup.model.capabilities, setup.model.id);
  const history = await loadHistory(run, options.messages, options.historyLimit ?? setup.historyLimit);
  throwIfAborted(run.signal);
  run.messages = [...history, userMessage];
  run.newTurnStart = history.length;
  run.responseFormat = options.outputSchema ? responseFormat(setup, options.outputSchema) : undefined;
  const context: string[] = setup.instructions ? [setup.instructions] : [];
  if (setup.memory && run.userId !== null) yield* recallMemories(setup, run, sink, setup.memory, run.userId, context);
  if (setup.knowledge && setup.knowledgeMode === 'always') yield* retrieveKnowledge(setup, run, sink, setup.knowledge, context);
  if (setup.knowledge && setup.knowledgeMode === 'tool') setup.toolReferences.set(run.runId, run.references);
  run.system = context.length ? [{ role: 'system', content: context.join('\n\n') }] : [];
}

/** Reads the run's files into text blocks for the user message. */
async function* readFiles(setup: AgentSetup, sink: EventSink, files: FileInput[]): Stage<string[]> {
  if (!setup.readers) throw new AgentError('file_read', `Agent "${setup.name}" has readers disabled; enable them (readers: true) to pass files.`);
  const blocks: string[] = [];
  for (const [index, input] of files.entries()) {
    const file = await loadFile(input, index, setup.readers.maxFileBytes);
    const reader = pickReader(file, setup.readers.readers);
    if (sink.active) yield sink.event({ event: 'FileReadStarted', name: file.name, type: reader.name });
    const block = await readToBlock(file, reader, setup.readers.maxChars);
    blocks.push(block);
    if (sink.active) yield sink.event({ event: 'FileReadCompleted', name: file.name, type: reader.name, characters: block.length });
  }
  return blocks;
}

/** The history sent with the run: the caller's `messages`, or the session's latest stored ones. */
async function loadHistory(run: RunState, explicit: Message[] | undefined, limit: number): Promise<Message[]> {
  const { store, sessionId, userId } = run;
  // A session id made for this run has nothing stored under it: no round trip to the store.
  if (run.newSession && !explicit) return [];
  // Sessions are keyed by user: another user's session under this id is not
  // this one. Only a store written before scopes can answer with it.
  const scope = { userId };
  const session = await store.getSession(sessionId, scope);
  if (session && session.userId !== userId) throw new SessionOwnershipError(sessionId);
  if (explicit) {
    if (!Array.isArray(explicit)) throw new AgentError('invalid_input', 'The run option `messages` must be an array of messages.');
    return windowHistory(explicit);
  }
  if (!session || limit === 0) return [];
  return windowHistory(await store.getMessages(sessionId, limit, scope), limit);
}

function responseFormat(setup: AgentSetup, schema: z.ZodType): ResponseFormat {
  let format = setup.responseFormats.get(schema);
  if (!format) {
    const json = zodToJsonSchema(schema);
    format = { name: 'output', schema: json, strict: isStrictCompatible(json) };
    setup.responseFormats.set(schema, format);
  }
  return format;
}

/** Adds the user's memories to the context; a failing recall is logged and recalls nothing. */
async function* recallMemories(setup: AgentSetup, run: RunState, sink: EventSink, memory: Memory, userId: string, context: string[]): Stage {
  if (sink.active) yield sink.event({ event: 'MemoryRecallStarted', userId });
  const scope = run.probe?.begin({ kind: 'memory.recall', userId });
  const recalled = await (scope ? scope.within(() => memory.recall(userId, run.input)) : memory.recall(userId, run.input)).then(
    (memories) => {
      scope?.end({ count: memories.length });
      return memories;
    },
    (error) => {
      scope?.end({ error });
      setup.logger.error(`Memory recall for run ${run.runId} failed: ${errorMessage(error)}`);
      return [];
    },
  );
  if (recalled.length) context.push(Memory.context(recalled));
  if (sink.active) yield sink.event({ event: 'MemoryRecallCompleted', userId, memories: recalled.map(({ id, text }) => ({ id, text })) });
}

/** Adds the knowledge found for the input to the context; a failing search is logged and finds nothing. */
async function* retrieveKnowledge(setup: AgentSetup, run: RunState, sink: EventSink, knowledge: Knowledge, context: string[]): Stage {
  const query = run.input;
  if (sink.active) yield sink.event({ event: 'KnowledgeRetrievalStarted', query });
  const scope = run.probe?.begin({ kind: 'knowledge', query });
  const found = await (scope ? scope.within(() => knowledge.search(query)) : knowledge.search(query)).then(
    (references) => {
      scope?.end({ count: references.length });
      return references;
    },
    (error) => {
      scope?.end({ error });
      setup.logger.error(`Knowledge retrieval for run ${run.runId} failed: ${errorMessage(error)}`);
      return [];
    },
  );
  run.references.push(...found);
  if (found.length) context.push(Knowledge.context(found));
  if (sink.active) yield sink.event({ event: 'KnowledgeRetrievalCompleted', query, references: found });
}
