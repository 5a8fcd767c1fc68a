/**
 * Exact vector search time at 10k and 100k stored chunks of 1536 dimensions (in memory, and
 * SQLite at 10k), and the latency memory recall adds to a run (a scripted model, so only the
 * library's own work is measured). BENCH_VECTOR_QUERIES (default 20) queries per size.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent, InMemoryVectorStore, Memory, SqliteVectorStore, VectorStore } from '../lib';
import { TestModel } from '../lib/testing';

const DIMENSIONS = 1536;
const QUERIES = Number(process.env.BENCH_VECTOR_QUERIES ?? 20);

/** A deterministic pseudo-random generator, so every run searches the same data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
}

function vector(next: () => number): Float32Array {
  const out = new Float32Array(DIMENSIONS);
  for (let i = 0; i < DIMENSIONS; i++) out[i] = next();
  return out;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function fill(store: VectorStore, count: number, next: () => number): Promise<void> {
  for (let start = 0; start < count; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - start) }, (_, i) => ({ id: `c${start + i}`, text: `chunk ${start + i}`, vector: vector(next), metadata: { group: (start + i) % 10 } }));
    await store.add(batch);
  }
}

async function searchTimes(store: VectorStore, next: () => number, filter?: Record<string, unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let q = 0; q < QUERIES; q++) {
    const query = vector(next);
    const t0 = performance.now();
    await store.search(query, { topK: 5, filter });
    times.push(performance.now() - t0);
  }
  return times;
}

async function main(): Promise<void> {
  console.log(`Knowledge and memory benchmark: ${DIMENSIONS} dimensions, ${QUERIES} queries per size, Node ${process.version}`);
  console.log('\nexact top-5 cosine search       median      p90');
  const next = random(42);
  for (const count of [10_000, 100_000]) {
    const store = new InMemoryVectorStore();
    await fill(store, count, next);
    const times = await searchTimes(store, next);
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`  in memory, ${String(count).padStart(7)} chunks  ${median(times).toFixed(1).padStart(7)} ms ${sorted[Math.floor(sorted.length * 0.9)].toFixed(1).padStart(7)} ms`);
    if (count === 100_000) {
      const filtered = await searchTimes(store, next, { group: 3 });
      console.log(`  in memory, 100,000, filtered to 10% ${median(filtered).toFixed(1).padStart(7)} ms`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'definable-bench-'));
  try {
    const sqlite = new SqliteVectorStore({ path: join(dir, 'vectors.db') });
    await fill(sqlite, 10_000, next);
    const t0 = performance.now();
    await sqlite.search(vector(next), { topK: 5 });
    const firstSearch = performance.now() - t0;
    const times = await searchTimes(sqlite, next);
    console.log(`  SQLite,      10000 chunks  ${median(times).toFixed(1).padStart(7)} ms   (first search, loading the vectors: ${firstSearch.toFixed(0)} ms)`);
    await sqlite.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Memory recall: the same runs with and without a user's 50 memories to recall.
  const model = new TestModel({ responses: () => 'ok' });
  const memory = new Memory({ model: new TestModel({ responses: () => '{"operations": []}' }) });
  for (let i = 0; i < 50; i++) await memory.add('bench-user', `Fact number ${i} about the user's preferences and plans`);
  const plain = new Agent({ model });
  const remembering = new Agent({ model, memory });
  const runs = 2000;
  const measure = async (agent: Agent, userId: string) => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await agent.run('What should I plan for this weekend?', { userId, sessionId: `s${i % 100}-${userId}-${agent === plain ? 'p' : 'm'}` });
      times.push(performance.now() - t0);
      if (i % 100 === 99) await agent.idle();
    }
    await agent.idle();
    return times;
  };
  await measure(plain, 'bench-user');
  await measure(remembering, 'bench-user');
  const without = median(await measure(plain, 'bench-user'));
  const withMemory = median(await measure(remembering, 'bench-user'));
  console.log('\nmemory recall (50 memories), run() with a scripted model');
  console.log(`  without memory  ${(without * 1000).toFixed(0)} µs per run`);
  console.log(`  with memory     ${(withMemory * 1000).toFixed(0)} µs per run  (recall adds ${((withMemory - without) * 1000).toFixed(0)} µs; the update runs after the answer)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
