import { createHash } from 'node:crypto';
import { AgentError } from '../errors';
import { BUILTIN_READERS } from '../readers/builtin-readers';
import { FileReader, loadFile, pickReader } from '../readers/file-reader';
import type { Embedder } from './embedder';
import { InMemoryVectorStore, VectorMatch, VectorStore } from './vector-store';

/** How documents are cut into chunks. */
export interface ChunkerOptions {
  /** Largest chunk, in characters. Default 1000. */
  size?: number;
  /** Characters repeated between consecutive chunks. Default 200. */
  overlap?: number;
}

/** Options of {@link Knowledge}. */
export interface KnowledgeOptions {
  embedder: Embedder;
  /** Default: an {@link InMemoryVectorStore}. */
  store?: VectorStore;
  chunker?: ChunkerOptions;
  /** Chunks retrieved per search. Default 5. */
  topK?: number;
  /** Readers for `add({ path })`. Default: the built-in readers. */
  readers?: FileReader[];
}

/** A document to add: text, or a file path read by the readers; metadata is stored with every chunk. */
export type KnowledgeDocument = ({ text: string; path?: never } | { path: string; text?: never }) & {
  /** Where it came from (a title, a URL); default: the file name. */
  source?: string;
  metadata?: Record<string, unknown>;
};

/** A chunk used by a run. */
export interface KnowledgeReference {
  id: string;
  score: number;
  source?: string;
  text: string;
}

/**
 * Splits text into chunks of at most `size` characters on word boundaries,
 * each repeating about `overlap` characters of the previous one.
 */
export function chunkText(text: string, options: ChunkerOptions = {}): string[] {
  const size = options.size ?? 1000;
  const overlap = options.overlap ?? 200;
  if (!Number.isInteger(size) || size < 50) throw new RangeError(`chunker.size must be a whole number of at least 50, got ${size}.`);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= size) throw new RangeError(`chunker.overlap must be between 0 and size - 1, got ${overlap}.`);
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const chunks: string[] = [];
  let start = 0;
  while (start < words.length) {
    let end = start;
    let length = 0;
    while (end < words.length && (length === 0 || length + 1 + words[end].length <= size)) {
      length += (length ? 1 : 0) + words[end].length;
      end++;
    }
    chunks.push(words.slice(start, end).join(' ').slice(0, size));
    if (end >= words.length) break;
    // Step back far enough to repeat about `overlap` characters.
    let back = end;
    let kept = 0;
    while (back > start + 1 && kept + words[back - 1].length + 1 <= overlap) {
      back--;
      kept += words[back].length + 1;
    }
    start = back;
  }
  return chunks;
}

/**
 * A searchable collection of documents: chunked, embedded in batches, stored
 * in a {@link VectorStore}, searched by exact cosine similarity.
 *
 * @example
 * const knowledge = new Knowledge({ embedder: new OpenAIEmbedder({ id: 'text-embedding-3-small' }) });
 * await knowledge.add({ path: './handbook.pdf' });
 * new Agent({ model, knowledge, knowledgeMode: 'always' });
 */
export class Knowledge {
  readonly embedder: Embedder;
  readonly store: VectorStore;
  readonly topK: number;
  private readonly chunker: ChunkerOptions;
  private readonly readers: FileReader[];

  constructor(options: KnowledgeOptions) {
    if (!options?.embedder || typeof options.embedder.embed !== 'function') {
      throw new TypeError("Knowledge needs an embedder, e.g. new Knowledge({ embedder: new OpenAIEmbedder({ id: 'text-embedding-3-small' }) }).");
    }
    this.embedder = options.embedder;
    this.store = options.store ?? new InMemoryVectorStore();
    this.chunker = options.chunker ?? {};
    this.topK = options.topK ?? 5;
    this.readers = options.readers ?? [...BUILTIN_READERS];
    chunkText('', this.chunker);
  }

  /** Chunks, embeds and stores a document; returns the number of chunks added. */
  async add(document: KnowledgeDocument): Promise<number> {
    let text: string;
    let source = document.source;
    if (typeof document.path === 'string') {
      const file = await loadFile(document.path, 0, 100 * 1024 * 1024);
      text = await pickReader(file, this.readers).read(file);
      source ??= file.name;
    } else if (typeof document.text === 'string') {
      text = document.text;
    } else {
      throw new AgentError('invalid_input', 'knowledge.add() needs { text } or { path }.');
    }
    const chunks = chunkText(text, this.chunker);
    if (chunks.length === 0) return 0;
    const vectors = await this.embedder.embed(chunks);
    if (vectors.length !== chunks.length) throw new AgentError('model_bad_response', `The embedder returned ${vectors.length} vectors for ${chunks.length} chunks.`);
    const digest = createHash('sha256').update(source ?? text.slice(0, 200)).digest('hex').slice(0, 12);
    await this.store.add(
      chunks.map((chunk, index) => ({
        id: `${digest}:${index}`,
        text: chunk,
        vector: vectors[index],
        metadata: { ...document.metadata, ...(source ? { source } : {}), chunk: index },
      })),
    );
    return chunks.length;
  }

  /** The chunks most similar to the query. */
  async search(query: string, options: { topK?: number; filter?: Record<string, unknown> } = {}): Promise<KnowledgeReference[]> {
    const [vector] = await this.embedder.embed([query]);
    const matches = await this.store.search(vector, { topK: options.topK ?? this.topK, filter: options.filter });
    return matches.map(toReference);
  }

  /** The system-prompt section for retrieved chunks. */
  static context(references: KnowledgeReference[]): string {
    return `Relevant knowledge (cite the source when you use it):\n${references
      .map((reference, index) => `[${index + 1}]${reference.source ? ` (${reference.source})` : ''} ${reference.text}`)
      .join('\n')}`;
  }
}

function toReference(match: VectorMatch): KnowledgeReference {
  const source = typeof match.metadata.source === 'string' ? match.metadata.source : undefined;
  return { id: match.id, score: match.score, ...(source ? { source } : {}), text: match.text };
}
