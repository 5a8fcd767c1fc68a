import { z } from 'zod';
import { AgentError } from '../errors';
import { isStrictCompatible, zodToJsonSchema } from '../json-schema';
import { Message, messageText } from '../messages';
import type { Model } from '../models/model';
import { InMemoryMemoryStore, MemoryRecord, MemoryStore } from './memory-store';

/** Options of {@link Memory}. */
export interface MemoryOptions {
  /** Default: an {@link InMemoryMemoryStore}. */
  store?: MemoryStore;
  /** The model that extracts facts after a run. Default: the agent's model. */
  model?: Model;
  /** Most memories added to a run's context. Default 20. */
  recallLimit?: number;
}

/** One change the memory update made. */
export interface MemoryChange {
  op: 'add' | 'update' | 'delete';
  id: string;
  text?: string;
}

const Operations = z.object({
  operations: z.array(
    z.object({
      op: z.enum(['add', 'update', 'delete']),
      id: z.string().describe('The id of the memory to update or delete; empty for add'),
      text: z.string().describe('The fact, one short sentence; empty for delete'),
    }),
  ),
});

const EXTRACTION_PROMPT = `You maintain a list of durable facts about one user: preferences, circumstances, goals, names.
From the conversation turn below, decide what to remember. Reply with JSON: {"operations": [...]} where each operation is
{"op": "add", "id": "", "text": "<new fact>"}, {"op": "update", "id": "<existing id>", "text": "<new text>"} or {"op": "delete", "id": "<existing id>", "text": ""}.
When a fact changes (a new preference replaces an old one), update the existing memory instead of adding a contradicting one.
Ignore small talk and anything only true for this conversation. Reply {"operations": []} when there is nothing to remember.`;

/**
 * User-scoped long-term memory: before a run with a `userId`, the user's
 * relevant memories join the system context; after it, a model call extracts
 * durable facts from the new turn (add / update / delete). Runs without a
 * `userId` neither read nor write memory; one user's memories never reach
 * another user's run.
 *
 * @example
 * new Agent({ model, memory: new Memory({ store: new SqliteMemoryStore({ path: './memory.db' }) }) })
 */
export class Memory {
  readonly store: MemoryStore;
  readonly model?: Model;
  private readonly recallLimit: number;
  private readonly format = (() => {
    const schema = zodToJsonSchema(Operations);
    return { name: 'memory_operations', schema, strict: isStrictCompatible(schema) };
  })();

  constructor(options: MemoryOptions = {}) {
    this.store = options.store ?? new InMemoryMemoryStore();
    this.model = options.model;
    this.recallLimit = options.recallLimit ?? 20;
  }

  /** The user's memories. */
  list(userId: string): Promise<MemoryRecord[]> {
    return this.store.list(requireUser(userId));
  }

  /** Adds a memory for the user. */
  add(userId: string, text: string): Promise<MemoryRecord> {
    if (typeof text !== 'string' || text.trim() === '') throw new TypeError('memory.add() needs the text to remember.');
    return this.store.add(requireUser(userId), text.trim());
  }

  /** Deletes one of the user's memories; whether it existed. */
  delete(userId: string, id: string): Promise<boolean> {
    return this.store.delete(requireUser(userId), id);
  }

  /** Deletes all of the user's memories. */
  clear(userId: string): Promise<void> {
    return this.store.clear(requireUser(userId));
  }

  /**
   * The user's memories most relevant to the input: ranked by the words they
   * share with it, then by recency, at most `recallLimit`.
   */
  async recall(userId: string, input: string): Promise<MemoryRecord[]> {
    const memories = await this.store.list(userId);
    if (memories.length <= this.recallLimit) return memories;
    const words = new Set(tokens(input));
    return memories
      .map((memory, index) => ({ memory, index, score: tokens(memory.text).filter((word) => words.has(word)).length }))
      .sort((a, b) => b.score - a.score || b.memory.updatedAt - a.memory.updatedAt || b.index - a.index)
      .slice(0, this.recallLimit)
      .sort((a, b) => a.index - b.index)
      .map((entry) => entry.memory);
  }

  /** The system-prompt section for recalled memories. */
  static context(memories: MemoryRecord[]): string {
    return `What you know about this user (from earlier conversations):\n${memories.map((memory) => `- ${memory.text}`).join('\n')}`;
  }

  /**
   * Extracts durable facts from a finished turn and applies them to the
   * user's memories. Operations on ids the user does not own are ignored.
   */
  async update(userId: string, turn: Message[], fallbackModel: Model, signal?: AbortSignal): Promise<MemoryChange[]> {
    const model = this.model ?? fallbackModel;
    const existing = await this.store.list(userId);
    const conversation = turn
      .filter((message) => message.role === 'user' || (message.role === 'assistant' && message.content))
      .map((message) => `${message.role}: ${messageText(message)}`)
      .join('\n');
    const known = existing.length ? existing.map((memory) => `${memory.id}: ${memory.text}`).join('\n') : '(none)';
    let reply = '';
    for await (const chunk of model.invoke({
      messages: [
        { role: 'system', content: EXTRACTION_PROMPT },
        { role: 'user', content: `Existing memories:\n${known}\n\nConversation turn:\n${conversation}` },
      ],
      tools: [],
      responseFormat: this.format,
      stream: false,
      signal,
    })) {
      if (chunk.type === 'content') reply += chunk.delta;
    }
    let parsed: z.infer<typeof Operations>;
    try {
      parsed = Operations.parse(JSON.parse(reply));
    } catch (error) {
      throw new AgentError('model_bad_response', `The memory model's reply is not the expected JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const owned = new Set(existing.map((memory) => memory.id));
    const changes: MemoryChange[] = [];
    for (const operation of parsed.operations) {
      const text = operation.text.trim();
      if (operation.op === 'add' && text) {
        const record = await this.store.add(userId, text);
        changes.push({ op: 'add', id: record.id, text });
      } else if (operation.op === 'update' && owned.has(operation.id) && text) {
        if (await this.store.update(userId, operation.id, text)) changes.push({ op: 'update', id: operation.id, text });
      } else if (operation.op === 'delete' && owned.has(operation.id)) {
        if (await this.store.delete(userId, operation.id)) changes.push({ op: 'delete', id: operation.id });
      }
    }
    return changes;
  }
}

function requireUser(userId: string): string {
  if (typeof userId !== 'string' || userId === '') throw new TypeError('Memory operations need a userId: memories are always scoped to one user.');
  return userId;
}

function tokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? [];
}
