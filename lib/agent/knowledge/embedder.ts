import OpenAI from 'openai';
import { ModelError } from '../errors';

/** Turns texts into vectors. */
export interface Embedder {
  /** The embedding model id. */
  readonly id: string;
  /** Vectors for the texts, in order. */
  embed(texts: string[]): Promise<number[][]>;
}

/** Options of {@link OpenAIEmbedder}. */
export interface OpenAIEmbedderOptions {
  /** e.g. `text-embedding-3-small`. */
  id: string;
  /** Defaults to `OPENAI_API_KEY`. */
  apiKey?: string;
  /** An OpenAI-compatible endpoint; defaults to `OPENAI_BASE_URL`, then OpenAI. */
  baseURL?: string;
  /** Shorter vectors (models that support it, such as text-embedding-3-*). */
  dimensions?: number;
  /** Texts per request. Default 100. */
  batchSize?: number;
  maxRetries?: number;
  timeout?: number;
  /** Use this client instead of creating one. */
  client?: OpenAI;
}

/** Embeddings on the official `openai` package, for OpenAI and compatible servers; batches requests. */
export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  private client?: OpenAI;

  constructor(private readonly options: OpenAIEmbedderOptions) {
    if (!options || typeof options.id !== 'string' || options.id === '') {
      throw new TypeError("OpenAIEmbedder needs a model id, e.g. new OpenAIEmbedder({ id: 'text-embedding-3-small' }).");
    }
    this.id = options.id;
    this.client = options.client;
  }

  async embed(texts: string[]): Promise<number[][]> {
    const client = this.getClient();
    const size = this.options.batchSize ?? 100;
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += size) {
      const batch = texts.slice(start, start + size);
      try {
        const response = await client.embeddings.create({
          model: this.id,
          input: batch,
          encoding_format: 'float',
          ...(this.options.dimensions ? { dimensions: this.options.dimensions } : {}),
        });
        for (const item of [...response.data].sort((a, b) => a.index - b.index)) vectors.push(item.embedding);
      } catch (error) {
        const status = (error as { status?: number }).status;
        throw new ModelError(
          status === 401 ? 'model_auth' : status === 429 ? 'model_rate_limit' : status && status >= 500 ? 'model_unavailable' : 'model_bad_request',
          `Embedding with ${this.id} failed${status ? ` (HTTP ${status})` : ''}: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error, status },
        );
      }
    }
    return vectors;
  }

  private getClient(): OpenAI {
    if (this.client) return this.client;
    const baseURL = this.options.baseURL ?? (process.env.OPENAI_BASE_URL || undefined);
    const apiKey = this.options.apiKey ?? (process.env.OPENAI_API_KEY || (baseURL ? 'not-needed' : undefined));
    if (!apiKey) throw new ModelError('model_auth', `No OpenAI API key for ${this.id}: set OPENAI_API_KEY or pass { apiKey } to OpenAIEmbedder.`);
    this.client = new OpenAI({ apiKey, baseURL, maxRetries: this.options.maxRetries, timeout: this.options.timeout });
    return this.client;
  }
}
