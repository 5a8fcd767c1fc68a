/**
 * POST /run through DefinableModule on Fastify (serve()) against a bare Fastify route calling the
 * openai client directly, both against the same fake model server, at 1 and 32 concurrent
 * connections. Servers run in their own processes; this process only generates load.
 *
 * Goal: the module reaches >= 0.85x the bare route's throughput at 32 connections.
 * BENCH_HTTP_REQUESTS (default 4000 per arm and round) and BENCH_ROUNDS (default 2) tune it.
 */
import type { ChildProcess } from 'node:child_process';
import { Agent as HttpAgent, request } from 'node:http';
import { startProcess, stopProcess as stop } from './support/processes';

const REQUESTS = Number(process.env.BENCH_HTTP_REQUESTS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BODY = JSON.stringify({ input: 'Summarise the quarterly report in two sentences.' });

async function start(kind: string, arg?: string): Promise<{ url: string; child: ChildProcess }> {
  const { child, line } = await startProcess([kind, ...(arg ? [arg] : [])]);
  return { url: line, child };
}

function post(url: URL, agent: HttpAgent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Sends `total` requests over `connections` keep-alive connections; returns latencies and requests/s. */
async function load(base: string, connections: number, total: number): Promise<{ rps: number; latencies: number[] }> {
  const url = new URL('/run', base);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < total) {
        sent++;
        latencies.push(await post(url, agent));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: total / seconds, latencies };
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function main(): Promise<void> {
  const fake = await start('fake');
  const servers = { bare: await start('bare', fake.url), module: await start('module', fake.url) };
  console.log(`HTTP /run benchmark: ${REQUESTS} requests per arm and round, ${ROUNDS} rounds, Node ${process.version}`);
  try {
    for (const connections of [1, 32]) {
      const results = { bare: { rps: [] as number[], latencies: [] as number[] }, module: { rps: [] as number[], latencies: [] as number[] } };
      for (const kind of ['bare', 'module'] as const) await load(servers[kind].url, connections, Math.min(500, REQUESTS)); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate the order so drift hits both arms alike.
        for (const kind of round % 2 ? (['module', 'bare'] as const) : (['bare', 'module'] as const)) {
          const { rps, latencies } = await load(servers[kind].url, connections, REQUESTS);
          results[kind].rps.push(rps);
          results[kind].latencies.push(...latencies);
        }
      }
      const rps = (kind: 'bare' | 'module') => results[kind].rps.reduce((a, b) => a + b, 0) / results[kind].rps.length;
      console.log(`\n${connections} connection${connections > 1 ? 's' : ''}            req/s     p50        p99`);
      for (const kind of ['bare', 'module'] as const) {
        const label = kind === 'bare' ? 'bare Fastify + openai' : 'DefinableModule /run ';
        console.log(`  ${label}  ${rps(kind).toFixed(0).padStart(7)}  ${pct(results[kind].latencies, 50).toFixed(2).padStart(6)} ms  ${pct(results[kind].latencies, 99).toFixed(2).padStart(6)} ms`);
      }
      const ratio = rps('module') / rps('bare');
      const goal = connections === 32 ? `  (goal >= 0.85: ${ratio >= 0.85 ? 'met' : 'NOT met'})` : '';
      console.log(`  throughput ratio module/bare: ${ratio.toFixed(3)}${goal}`);
    }
  } finally {
    await Promise.all([stop(servers.bare.child), stop(servers.module.child), stop(fake.child)]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
