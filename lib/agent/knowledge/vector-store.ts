import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../sessions/open-sqlite';

/** A chunk with its vector, as stored. */
export interface VectorRecord {
  id: string;
  text: string;
  vector: number[] | Float32Array;
  metadata: Record<string, unknown>;
}

/** A search hit: the chunk and its cosine similarity to the query. */
export interface VectorMatch {
  id: string;
  text: string;
  score: number;
  metadata: Record<string, unknown>;
}

/** Options of a search. */
export interface VectorSearchOptions {
  topK: number;
  /** Only chunks whose metadata has these exact values. */
  filter?: Record<string, unknown>;
}

/** Stores chunk vectors and finds the nearest by exact cosine similarity. */
export interface VectorStore {
  add(records: VectorRecord[]): Promise<void>;
  search(vector: number[] | Float32Array, options: VectorSearchOptions): Promise<VectorMatch[]>;
  /** How many chunks are stored. */
  count(): Promise<number>;
  /** Deletes the chunks whose metadata matches. */
  delete(filter: Record<string, unknown>): Promise<number>;
}

/** Normalises a vector to unit length (so cosine similarity is a dot product). */
export function normalise(vector: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(vector);
  let norm = 0;
  for (let i = 0; i < out.length; i++) norm += out[i] * out[i];
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < out.length; i++) out[i] /= norm;
  return out;
}

function matches(metadata: Record<string, unknown>, filter?: Record<string, unknown>): boolean {
  if (!filter) return true;
  return Object.entries(filter).every(([key, value]) => metadata[key] === value);
}

/**
 * Exact top-k over unit vectors kept in one contiguous Float32Array (a dot
 * product per row; a small heap keeps the best k).
 */
class Matrix {
  private data = new Float32Array(0);
  private rows = 0;
  dimensions = 0;
  readonly entries: { id: string; text: string; metadata: Record<string, unknown> }[] = [];

  add(record: VectorRecord): void {
    const vector = normalise(record.vector);
    if (this.rows === 0) this.dimensions = vector.length;
    if (vector.length !== this.dimensions) {
      throw new RangeError(`Vector of ${vector.length} dimensions added to a store of ${this.dimensions}: use one embedding model per store.`);
    }
    if ((this.rows + 1) * this.dimensions > this.data.length) {
      const grown = new Float32Array(Math.max(1024, this.data.length * 2, (this.rows + 1) * this.dimensions));
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(vector, this.rows * this.dimensions);
    this.entries.push({ id: record.id, text: record.text, metadata: record.metadata });
    this.rows++;
  }

  search(query: number[] | Float32Array, { topK, filter }: VectorSearchOptions): VectorMatch[] {
    if (this.rows === 0) return [];
    const q = normalise(query);
    if (q.length !== this.dimensions) throw new RangeError(`Query of ${q.length} dimensions against a store of ${this.dimensions}.`);
    const best: { row: number; score: number }[] = [];
    const d = this.dimensions;
    const data = this.data;
    const entries = this.entries;
    const tail = d - (d % 4);
    for (let row = 0, rows = this.rows; row < rows; row++) {
      if (filter && !matches(entries[row].metadata, filter)) continue;
      const offset = row * d;
      // Four running sums: the hot loop of exact search.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i < tail; i += 4) {
        s0 += data[offset + i] * q[i];
        s1 += data[offset + i + 1] * q[i + 1];
        s2 += data[offset + i + 2] * q[i + 2];
        s3 += data[offset + i + 3] * q[i + 3];
      }
      let score = s0 + s1 + s2 + s3;
      for (; i < d; i++) score += data[offset + i] * q[i];
      if (best.length < topK) {
        best.push({ row, score });
        best.sort((a, b) => a.score - b.score);
      } else if (score > best[0].score) {
        best[0] = { row, score };
        best.sort((a, b) => a.score - b.score);
      }
    }
    return best.reverse().map(({ row, score }) => ({ ...this.entries[row], score }));
  }

  removeWhere(filter: Record<string, unknown>): number {
    const keep: number[] = [];
    this.entries.forEach((entry, row) => {
      if (!matches(entry.metadata, filter)) keep.push(row);
    });
    const removed = this.rows - keep.length;
    if (removed === 0) return 0;
    const data = new Float32Array(Math.max(1024, keep.length * this.dimensions));
    const entries = keep.map((row, index) => {
      data.set(this.data.subarray(row * this.dimensions, (row + 1) * this.dimensions), index * this.dimensions);
      return this.entries[row];
    });
    this.data = data;
    this.entries.splice(0, this.entries.length, ...entries);
    this.rows = keep.length;
    return removed;
  }

  get size(): number {
    return this.rows;
  }
}

/** The default {@link VectorStore}: in process memory. */
export class InMemoryVectorStore implements VectorStore {
  private readonly matrix = new Matrix();

  async add(records: VectorRecord[]): Promise<void> {
    for (const record of records) this.matrix.add(record);
  }

  async search(vector: number[] | Float32Array, options: VectorSearchOptions): Promise<VectorMatch[]> {
    return this.matrix.search(vector, options);
  }

  async count(): Promise<number> {
    return this.matrix.size;
  }

  async delete(filter: Record<string, unknown>): Promise<number> {
    return this.matrix.removeWhere(filter);
  }
}

/** Options of {@link SqliteVectorStore}. */
export interface SqliteVectorStoreOptions {
  /** The database file, or `':memory:'`. */
  path: string;
}

/**
 * A persistent {@link VectorStore} on `better-sqlite3`: vectors are stored as
 * float32 blobs and loaded once into memory for exact search.
 */
export class SqliteVectorStore implements VectorStore {
  private readonly db: BetterSqlite3.Database;
  private matrix?: Matrix;

  constructor(options: SqliteVectorStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteVectorStore needs a file path, e.g. new SqliteVectorStore({ path: './knowledge.db' }).");
    }
    this.db = openSqlite(options.path, 'SqliteVectorStore');
    this.db.exec('CREATE TABLE IF NOT EXISTS definable_chunks (id TEXT PRIMARY KEY, text TEXT NOT NULL, metadata TEXT NOT NULL, vector BLOB NOT NULL)');
  }

  async add(records: VectorRecord[]): Promise<void> {
    const insert = this.db.prepare('INSERT OR REPLACE INTO definable_chunks (id, text, metadata, vector) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const record of records) {
        const vector = Float32Array.from(record.vector);
        insert.run(record.id, record.text, JSON.stringify(record.metadata ?? {}), Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength));
      }
    })();
    this.matrix = undefined;
  }

  async search(vector: number[] | Float32Array, options: VectorSearchOptions): Promise<VectorMatch[]> {
    return this.load().search(vector, options);
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM definable_chunks').get() as { n: number }).n;
  }

  async delete(filter: Record<string, unknown>): Promise<number> {
    const rows = this.db.prepare('SELECT id, metadata FROM definable_chunks').all() as { id: string; metadata: string }[];
    const ids = rows.filter((row) => matches(JSON.parse(row.metadata), filter)).map((row) => row.id);
    const remove = this.db.prepare('DELETE FROM definable_chunks WHERE id = ?');
    this.db.transaction(() => ids.forEach((id) => remove.run(id)))();
    this.matrix = undefined;
    return ids.length;
  }

  /** Closes the database. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private load(): Matrix {
    if (this.matrix) return this.matrix;
    const matrix = new Matrix();
    for (const row of this.db.prepare('SELECT id, text, metadata, vector FROM definable_chunks ORDER BY rowid').iterate() as Iterable<{ id: string; text: string; metadata: string; vector: Buffer }>) {
      matrix.add({ id: row.id, text: row.text, metadata: JSON.parse(row.metadata), vector: new Float32Array(row.vector.buffer.slice(row.vector.byteOffset, row.vector.byteOffset + row.vector.byteLength)) });
    }
    this.matrix = matrix;
    return matrix;
  }
}
