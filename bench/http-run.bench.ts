/**
 * POST /run over HTTP: what nestjs-definable costs a server, against floors measured in the same
 * run. Every arm answers through the same `openai` client from the same fake model server.
 *
 * Arms (each its own process, pinned to core 0; this load generator and the fake model server are
 * pinned to core 1, so the server under test has a core to itself — without `taskset` nothing is
 * pinned and a note says so):
 *   floor           a bare Fastify route calling the openai client (streaming: a minimal SSE relay
 *                   of the model's deltas, `data: {"content":"..."}` frames then `data: [DONE]`)
 *   nest-fastify    a plain Nest controller calling the openai client, Fastify adapter
 *   nest-express    the same controller on Nest's default Express adapter
 *   module          the agent through DefinableModule with serve() (Fastify); runs recorded in memory
 *   module-sqlite   the same, recording every run and its event log in a SqliteRunStore (a file)
 *   module-express  a user's Express Nest app whose AppModule imports DefinableModule.forRoot({ agent })
 *   module-before   serve() from an earlier build of the library, when BENCH_BASELINE_LIB is set
 *   module-untraced the module with tracing: { enabled: false } — the plain module the operations
 *                   arms are measured against (no tracing code runs at all)
 *   module-metrics  the module with Prometheus metrics on
 *   module-quotas   the module with in-memory quotas (requests, tokens, cost; user, agent, global)
 *   module-traced   the module with an OpenTelemetry SDK registered (in-memory exporter)
 *
 * JSON /run runs at 1 and 32 connections (all arms); SSE /run (`"stream": true`, a 200-chunk
 * answer) at 8 connections (floor, module, module-before). Each section warms every arm up, then
 * runs BENCH_ROUNDS rounds, alternating the arms' order so drift hits them alike. Per arm it
 * reports throughput, latency (p50/p99; for streams the time to the first content frame and the
 * bytes received) and the server's CPU time per request: user + system time from /proc/<pid>/stat,
 * read before each measured round and 50 ms after it (so work finishing after the last answer
 * counts), divided by the round's requests. CPU per request is the figure the noise of a busy
 * machine disturbs least; the ratios are against `floor` of the same run.
 *
 * Goals: module CPU/request within 1.05x of module-before's (no regression); module throughput
 * >= 0.85x floor's at 32 connections; module-sqlite CPU/request <= 1.15x module's (JSON) and
 * <= 1.2x per stream (the run store's cost). Operations, CPU/request against module-untraced (JSON):
 * module (tracing on but no SDK registered) <= 1.01x, module-metrics <= 1.05x, module-quotas
 * <= 1.05x, module-traced <= 1.25x.
 *
 * Env: BENCH_HTTP_REQUESTS (JSON requests per arm and round, default 2000), BENCH_HTTP_STREAMS
 * (streams per arm and round, default 300), BENCH_ROUNDS (default 2), BENCH_BASELINE_LIB (a
 * directory holding an earlier build of the library, e.g. /work/before/dist/lib: adds module-before),
 * BENCH_ARMS (a comma-separated list of arms to run, e.g. `module,module-sqlite`; floor always runs).
 */
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { JSON_INPUT, LONG_REPLY_CHUNKS, STREAM_INPUT } from './support/bench-payloads';
import { Arm, cell, cpuMs, Figures, perSecond, ratio, section } from './support/http-arms';
import { percentile, postJson, postStream, StreamMarkers } from './support/http-load';
import { clockTicksPerSecond } from './support/proc-cpu';
import { pinSelf, startProcess, stopProcess } from './support/processes';

const REQUESTS = Number(process.env.BENCH_HTTP_REQUESTS ?? 2000);
const STREAMS = Number(process.env.BENCH_HTTP_STREAMS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BASELINE_LIB = process.env.BENCH_BASELINE_LIB ? resolve(process.env.BENCH_BASELINE_LIB) : undefined;
const JSON_CONNECTIONS = [1, 32];
const STREAM_CONNECTIONS = 8;

const SERVER_CORE = '0';
const LOAD_CORE = '1';

type ArmName =
  | 'floor'
  | 'nest-fastify'
  | 'nest-express'
  | 'module'
  | 'module-sqlite'
  | 'module-express'
  | 'module-before'
  | 'module-untraced'
  | 'module-metrics'
  | 'module-quotas'
  | 'module-traced';

/** A running server under test. */
interface Server extends Arm<ArmName> {
  child: ChildProcess;
}

const JSON_BODY = JSON.stringify({ input: JSON_INPUT });
const STREAM_BODY = JSON.stringify({ input: STREAM_INPUT, stream: true });
const FLOOR_FRAMES: StreamMarkers = { content: 'data: {"content":', end: 'data: [DONE]\n\n' };
const MODULE_FRAMES: StreamMarkers = { content: 'event:RunContent\n', end: 'event:RunCompleted\n' };

/** Starts an arm's server pinned to the server core; bench-servers' kind and arguments per arm. */
async function startServer(name: ArmName, modelURL: string): Promise<Server> {
  const args: Record<ArmName, string[]> = {
    floor: ['bare', modelURL],
    'nest-fastify': ['nest-fastify', modelURL],
    'nest-express': ['nest-express', modelURL],
    module: ['module', modelURL],
    'module-sqlite': ['module-sqlite', modelURL],
    'module-express': ['module-express', modelURL],
    'module-before': ['module-before', modelURL, BASELINE_LIB ?? ''],
    'module-untraced': ['module-untraced', modelURL],
    'module-metrics': ['module-metrics', modelURL],
    'module-quotas': ['module-quotas', modelURL],
    'module-traced': ['module-traced', modelURL],
  };
  const { child, line } = await startProcess(args[name], { cpus: SERVER_CORE });
  return { name, urls: [new URL('/run', line)], child, pids: [child.pid!] };
}

/** Prints "module CPU/request vs before" when module-before ran. */
function printBefore(figures: Map<ArmName, Figures>): void {
  const module = figures.get('module');
  const before = figures.get('module-before');
  if (!module || !before) return;
  const value = cpuMs(module) / cpuMs(before);
  const rounds = module.roundCpuMs.map((ms, i) => ratio(ms / before.roundCpuMs[i])).join(', ');
  console.log(`  module CPU/request vs before: ${ratio(value)} (goal <= 1.05: ${value <= 1.05 ? 'met' : 'NOT met'}; per round: ${rounds})`);
}

/** Prints what the SQLite run store costs: module-sqlite's CPU per request (or stream) against module's. */
function printRunStore(figures: Map<ArmName, Figures>, goal: number): void {
  const module = figures.get('module');
  const sqlite = figures.get('module-sqlite');
  if (!module || !sqlite) return;
  const value = cpuMs(sqlite) / cpuMs(module);
  console.log(`  SqliteRunStore CPU vs in-memory run store: ${ratio(value)} (goal <= ${goal}: ${value <= goal ? 'met' : 'NOT met'})`);
}

/** The operations' goals: CPU per request of each arm against the plain module (tracing off, no metrics, no quotas). */
const OPERATIONS: [ArmName, string, number][] = [
  ['module', 'tracing on, no SDK registered', 1.01],
  ['module-metrics', 'metrics', 1.05],
  ['module-quotas', 'quotas (in memory)', 1.05],
  ['module-traced', 'tracing with an SDK', 1.25],
];

/** Prints each operations arm's CPU per request against module-untraced's. */
function printOperations(figures: Map<ArmName, Figures>): void {
  const plain = figures.get('module-untraced');
  if (!plain) return;
  for (const [name, what, goal] of OPERATIONS) {
    const arm = figures.get(name);
    if (!arm) continue;
    const value = cpuMs(arm) / cpuMs(plain);
    const perRound = arm.roundCpuMs.map((ms, i) => ms / plain.roundCpuMs[i]);
    // The median of the rounds' ratios as well: one round disturbed by the machine moves the total, not the median.
    const middle = [...perRound].sort((a, b) => a - b)[perRound.length >> 1];
    console.log(
      `  ${what} (${name}) CPU/request vs module-untraced: ${ratio(value)}, median of rounds ${ratio(middle)} ` +
        `(goal <= ${goal}, on the median: ${middle <= goal ? 'met' : 'NOT met'}; per round: ${perRound.map(ratio).join(', ')})`,
    );
  }
}

function printJson(connections: number, figures: Map<ArmName, Figures>): void {
  const floor = figures.get('floor')!;
  console.log(`\nJSON /run, ${connections} connection${connections > 1 ? 's' : ''}`);
  console.log(`  ${'arm'.padEnd(15)}${cell('req/s', 9)}${cell('p50 ms', 9)}${cell('p99 ms', 9)}${cell('CPU ms/req', 12)}${cell('CPU x floor', 13)}${cell('req/s x floor', 15)}`);
  for (const [name, arm] of figures) {
    console.log(
      `  ${name.padEnd(15)}${cell(perSecond(arm).toFixed(0), 9)}${cell(percentile(arm.latencies, 50).toFixed(2), 9)}${cell(percentile(arm.latencies, 99).toFixed(2), 9)}` +
        `${cell(cpuMs(arm).toFixed(3), 12)}${cell(ratio(cpuMs(arm) / cpuMs(floor)), 13)}${cell(ratio(perSecond(arm) / perSecond(floor)), 15)}`,
    );
  }
  if (connections === 32) {
    const value = perSecond(figures.get('module')!) / perSecond(floor);
    console.log(`  module throughput vs floor: ${ratio(value)} (goal >= 0.85: ${value >= 0.85 ? 'met' : 'NOT met'})`);
  }
  printRunStore(figures, 1.15);
  printBefore(figures);
  printOperations(figures);
}

function printStreams(figures: Map<ArmName, Figures>): void {
  const floor = figures.get('floor')!;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(`\nSSE /run ("stream": true), ${STREAM_CONNECTIONS} connections, a ${LONG_REPLY_CHUNKS}-chunk answer`);
  console.log(
    `  ${'arm'.padEnd(15)}${cell('streams/s', 10)}${cell('CPU ms/stream', 15)}${cell('bytes/stream', 14)}${cell('frames', 8)}${cell('TTFT p50 ms', 13)}${cell('CPU x floor', 13)}${cell('streams/s x floor', 19)}`,
  );
  for (const [name, arm] of figures) {
    console.log(
      `  ${name.padEnd(15)}${cell(perSecond(arm).toFixed(1), 10)}${cell(cpuMs(arm).toFixed(3), 15)}${cell(mean(arm.streams.map((s) => s.bytes)).toFixed(0), 14)}` +
        `${cell(mean(arm.streams.map((s) => s.contentFrames)).toFixed(0), 8)}${cell(percentile(arm.streams.map((s) => s.ttftMs), 50).toFixed(2), 13)}` +
        `${cell(ratio(cpuMs(arm) / cpuMs(floor)), 13)}${cell(ratio(perSecond(arm) / perSecond(floor)), 19)}`,
    );
  }
  printRunStore(figures, 1.2);
  printBefore(figures);
}

async function main(): Promise<void> {
  const pinned = pinSelf(LOAD_CORE);
  const fake = await startProcess(['fake'], { cpus: LOAD_CORE });
  const all: ArmName[] = [
    'floor',
    'nest-fastify',
    'nest-express',
    'module',
    'module-sqlite',
    'module-express',
    ...(BASELINE_LIB ? (['module-before'] as const) : []),
    'module-untraced',
    'module-metrics',
    'module-quotas',
    'module-traced',
  ];
  // BENCH_ARMS narrows the run to some arms (floor is always in: the ratios are against it).
  const only = process.env.BENCH_ARMS?.split(',').map((name) => name.trim());
  const names = only ? all.filter((name) => name === 'floor' || only.includes(name)) : all;
  const servers: Server[] = [];
  try {
    for (const name of names) servers.push(await startServer(name, fake.line));
    console.log(`HTTP /run benchmark, Node ${process.version}: ${REQUESTS} JSON requests and ${STREAMS} streams per arm and round, ${ROUNDS} rounds`);
    console.log(
      pinned
        ? `  servers pinned to core ${SERVER_CORE}; load generator and fake model to core ${LOAD_CORE}; CPU from /proc/<pid>/stat at ${clockTicksPerSecond()} ticks/s`
        : `  note: taskset not found: nothing is pinned, so servers share cores with the load generator (throughput is less telling; CPU/request still holds)`,
    );
    if (BASELINE_LIB) console.log(`  module-before: serve() from ${BASELINE_LIB}`);

    for (const connections of JSON_CONNECTIONS) {
      const figures = await section(servers, connections, REQUESTS, ROUNDS, () => postJson(JSON_BODY), (arm, latencies) => arm.latencies.push(...latencies));
      printJson(connections, figures);
    }

    const streaming = servers.filter((server) => ['floor', 'module', 'module-sqlite', 'module-before'].includes(server.name));
    const figures = await section(
      streaming,
      STREAM_CONNECTIONS,
      STREAMS,
      ROUNDS,
      (server) => postStream(STREAM_BODY, server.name === 'floor' ? FLOOR_FRAMES : MODULE_FRAMES),
      (arm, samples) => arm.streams.push(...samples),
    );
    printStreams(figures);
  } finally {
    await Promise.all([...servers.map((server) => stopProcess(server.child)), stopProcess(fake.child)]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
