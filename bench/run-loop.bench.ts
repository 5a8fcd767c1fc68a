/**
 * Run-loop overhead: the same request through `agent.run()` / `agent.stream()` and through the
 * `openai` client directly, against the same local fake server, interleaved in one process.
 *
 * Goals: non-streaming median ratio <= 1.10; streaming time-to-first-content overhead <= 1 ms.
 * BENCH_ITERATIONS (default 2000) and BENCH_WARMUP (default 300) tune the run length.
 */
import OpenAI from 'openai';
import { Agent, OpenAIChat } from '../lib';
import { startFakeOpenAI } from '../lib/testing';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 300);
const INPUT = 'Summarise the quarterly report in two sentences.';
const REPLY = 'Revenue grew twelve percent on strong subscription sales. Costs were flat, so margins improved.';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const fake = await startFakeOpenAI({ defaultReply: () => ({ content: REPLY }) });
  const client = new OpenAI({ apiKey: 'bench', baseURL: fake.baseURL, maxRetries: 0 });
  const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
  const messages = [{ role: 'user' as const, content: INPUT }];

  const baselineRun = async () => {
    const t0 = performance.now();
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: false });
    if (!completion.choices[0].message.content) throw new Error('empty baseline reply');
    return performance.now() - t0;
  };
  const agentRun = async () => {
    const t0 = performance.now();
    const out = await agent.run(INPUT);
    if (out.content !== REPLY) throw new Error('unexpected agent reply');
    return performance.now() - t0;
  };
  const baselineFirst = async () => {
    const t0 = performance.now();
    let first = -1;
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if (first < 0 && chunk.choices[0]?.delta?.content) first = performance.now() - t0;
    }
    return first;
  };
  const agentFirst = async () => {
    const t0 = performance.now();
    let first = -1;
    for await (const event of agent.stream(INPUT)) {
      if (first < 0 && event.event === 'RunContent') first = performance.now() - t0;
    }
    return first;
  };

  const measure = async (pairs: [() => Promise<number>, () => Promise<number>]) => {
    const [base, ours] = pairs;
    for (let i = 0; i < WARMUP; i++) {
      await base();
      await ours();
    }
    const a: number[] = [];
    const b: number[] = [];
    // Interleaved, alternating who goes first, so drift (GC, JIT, CPU frequency) hits both alike.
    for (let i = 0; i < ITERATIONS; i++) {
      if (i % 2) {
        a.push(await base());
        b.push(await ours());
      } else {
        b.push(await ours());
        a.push(await base());
      }
    }
    return { base: a, ours: b };
  };

  const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
  console.log(`run-loop benchmark: ${ITERATIONS} iterations (+${WARMUP} warm-up) each, Node ${process.version}`);

  const plain = await measure([baselineRun, agentRun]);
  const plainRatio = median(plain.ours) / median(plain.base);
  console.log('\nnon-streaming, full round trip (median / p90)');
  console.log(`  baseline openai client  ${fmt(median(plain.base))} / ${fmt(percentile(plain.base, 90))}`);
  console.log(`  agent.run()             ${fmt(median(plain.ours))} / ${fmt(percentile(plain.ours, 90))}`);
  console.log(`  ratio                   ${plainRatio.toFixed(3)}  (goal <= 1.10: ${plainRatio <= 1.1 ? 'met' : 'NOT met'})`);

  const streamed = await measure([baselineFirst, agentFirst]);
  const overhead = median(streamed.ours) - median(streamed.base);
  console.log('\nstreaming, time to first content (median / p90)');
  console.log(`  baseline openai client  ${fmt(median(streamed.base))} / ${fmt(percentile(streamed.base, 90))}`);
  console.log(`  agent.stream()          ${fmt(median(streamed.ours))} / ${fmt(percentile(streamed.ours, 90))}`);
  console.log(`  ratio                   ${(median(streamed.ours) / median(streamed.base)).toFixed(3)}`);
  console.log(`  overhead                ${fmt(overhead)}  (goal <= 1 ms: ${overhead <= 1 ? 'met' : 'NOT met'})`);

  await fake.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
