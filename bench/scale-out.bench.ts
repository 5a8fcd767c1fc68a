/**
 * Scale-out: what running as one of several replicas (`cluster: redisCluster(...)` and
 * `stores: postgresStores(...)`) costs, against the embedded one-node defaults measured in the
 * same run. Every arm answers through the same `openai` client from the same fake model server.
 * This load generator and the fake model are pinned to core 1; PostgreSQL and Redis are the
 * machine's own services (127.0.0.1:5432 and :6379, not pinned). Each run uses a Redis prefix and a
 * PostgreSQL schema of its own (`definable-test-…`, `definable_test_…`), removed at the end.
 *
 * 1. POST /run (JSON, 32 connections) on ONE replica pinned to core 0: `module` (embedded
 *    defaults: in-memory runs and sessions) vs `module-distributed` (cluster + postgresStores).
 *    Throughput, p50/p99, the server's CPU per request (user + system from /proc/<pid>/stat) and,
 *    beside it, the CPU the machine's `postgres` and `redis-server` processes used per request
 *    (other users of those services on the machine count too: the `module` arm, which uses neither,
 *    shows that noise). Goal: distributed throughput >= 0.85x embedded.
 * 2. 1, 2 and 3 distributed replicas (all three running throughout; replica 1 on core 0, replica 2
 *    on core 1 beside the load generator, replica 3 on core 0), the 32 connections spread round-robin
 *    over the arm's replicas: aggregate throughput, total CPU per request, and each replica's
 *    requests and CPU per request, plus each replica's idle CPU (heartbeats, its BullMQ worker).
 *    On a 2-core machine the aggregate flattens: the replicas share the cores with the load
 *    generator, the fake model, PostgreSQL and Redis.
 * 3. Cron claim latency: three distributed replicas (cores 0, 1, 0) of one `* * * * * *` job whose
 *    handler records `Date.now() - event.timestamp` (the scheduled instant in cluster mode) and
 *    returns undefined, so no run or model call follows; p50/p99 over BENCH_SCALE_TICKS ticks, the
 *    claims lost per tick (2 of 3 expected) and which replica won; baseline: one embedded replica
 *    (core 0), whose handler's delay after the tick's whole second is measured the same way.
 *
 * Sections 1 and 2 warm every arm up, then run BENCH_ROUNDS rounds alternating the arms' order.
 *
 * Env: BENCH_SCALE_REQUESTS (requests per arm and round, default 2000), BENCH_ROUNDS (default 2),
 * BENCH_SCALE_TICKS (cron ticks per arm, default 20), DEFINABLE_TEST_REDIS and DEFINABLE_TEST_PG
 * (default redis://127.0.0.1:6379 and postgres://postgres@127.0.0.1:5432/test).
 */
import type { ChildProcess } from 'node:child_process';
import { globalAgent } from 'node:http';
import { cpus } from 'node:os';
import { Pool } from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { PG_URL, pgSchema, REDIS_URL, redisPrefix } from '../test/support/replicas';
import { JSON_INPUT } from './support/bench-payloads';
import { Arm, cell, cpuMs, Figures, perSecond, ratio, section } from './support/http-arms';
import { percentile, postJson } from './support/http-load';
import { clockTicksPerSecond, cpuOfProcessesNamed, cpuSeconds } from './support/proc-cpu';
import { pinSelf, startProcess, stopProcess } from './support/processes';

const REQUESTS = Number(process.env.BENCH_SCALE_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TICKS = Number(process.env.BENCH_SCALE_TICKS ?? 20);
const CONNECTIONS = 32;
const SERVER_CORE = '0';
const LOAD_CORE = '1';
/** The cores of distributed replicas 1, 2 and 3 in sections 2 and 3. */
const REPLICA_CORES = ['0', '1', '0'];
/** How long each replica's idle CPU is measured. */
const IDLE_MS = 2_000;

const JSON_BODY = JSON.stringify({ input: JSON_INPUT });
const DB_PROCESSES = ['postgres', 'redis-server'];

/** A started bench-servers process. */
interface Process {
  child: ChildProcess;
  url: URL;
  pid: number;
  core: string;
}

const processes: Process[] = [];

async function start(args: string[], core: string): Promise<Process> {
  const { child, line } = await startProcess(args, { cpus: core });
  const started = { child, url: new URL('/run', line), pid: child.pid!, core };
  processes.push(started);
  return started;
}

async function stopAll(): Promise<void> {
  await Promise.all(processes.splice(0).map((process) => stopProcess(process.child)));
}

const dbCpuMs = (figures: Figures) => (figures.extraCpuSeconds * 1000) / figures.requests;

/** The rows each table of `schema` had inserted, updated and deleted so far (PostgreSQL's statistics, flushed as backends go idle or exit). */
async function rowsWritten(schema: string): Promise<{ table: string; inserted: number; updated: number; deleted: number }[]> {
  const pool = new Pool({ connectionString: PG_URL });
  try {
    const { rows } = await pool.query(
      'SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE schemaname = $1 AND n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname',
      [schema],
    );
    return rows.map((row) => ({ table: row.relname, inserted: Number(row.n_tup_ins), updated: Number(row.n_tup_upd), deleted: Number(row.n_tup_del) }));
  } finally {
    await pool.end();
  }
}

/** Section 1: one replica, embedded vs distributed. */
async function oneReplica(modelURL: string, cluster: string[]): Promise<void> {
  const embedded = await start(['module', modelURL], SERVER_CORE);
  const distributed = await start(['module-distributed', modelURL, ...cluster], SERVER_CORE);
  const arms: Arm[] = [
    { name: 'module', urls: [embedded.url], pids: [embedded.pid] },
    { name: 'module-distributed', urls: [distributed.url], pids: [distributed.pid] },
  ];
  const figures = await section(arms, CONNECTIONS, REQUESTS, ROUNDS, () => postJson(JSON_BODY), (arm, latencies) => arm.latencies.push(...latencies), () =>
    cpuOfProcessesNamed(DB_PROCESSES),
  );
  await stopAll();
  await delay(500); // the replica's backends flush their statistics as they exit
  const rows = await rowsWritten(cluster[3]);
  const base = figures.get('module')!;
  console.log(`\n1. POST /run (JSON), ${CONNECTIONS} connections, one replica on core ${SERVER_CORE}`);
  console.log(
    `  ${'arm'.padEnd(20)}${cell('req/s', 8)}${cell('p50 ms', 9)}${cell('p99 ms', 9)}${cell('CPU ms/req', 12)}${cell('pg+redis ms/req', 17)}${cell('CPU x module', 14)}${cell('req/s x module', 16)}`,
  );
  for (const [name, arm] of figures) {
    console.log(
      `  ${name.padEnd(20)}${cell(perSecond(arm).toFixed(0), 8)}${cell(percentile(arm.latencies, 50).toFixed(2), 9)}${cell(percentile(arm.latencies, 99).toFixed(2), 9)}` +
        `${cell(cpuMs(arm).toFixed(3), 12)}${cell(dbCpuMs(arm).toFixed(3), 17)}${cell(ratio(cpuMs(arm) / cpuMs(base)), 14)}${cell(ratio(perSecond(arm) / perSecond(base)), 16)}`,
    );
  }
  const dist = figures.get('module-distributed')!;
  const value = perSecond(dist) / perSecond(base);
  const perRound = dist.roundCpuMs.map((ms, i) => ratio(ms / base.roundCpuMs[i])).join(', ');
  console.log(`  distributed throughput vs embedded: ${ratio(value)} (goal >= 0.85: ${value >= 0.85 ? 'met' : 'NOT met'})`);
  console.log(`  distributed CPU/request vs embedded: ${ratio(cpuMs(dist) / cpuMs(base))} (per round: ${perRound})`);
  console.log(
    `  server + pg + redis CPU per request: embedded ${(cpuMs(base) + dbCpuMs(base)).toFixed(3)} ms, distributed ${(cpuMs(dist) + dbCpuMs(dist)).toFixed(3)} ms ` +
      `(pg + redis: every postgres and redis-server process on the machine, other users' included)`,
  );
  // Every request sent to the distributed replica: warm-up and rounds.
  const sent = Math.max(CONNECTIONS, Math.ceil(REQUESTS / 4)) + ROUNDS * REQUESTS;
  const per = (count: number) => (count / sent).toFixed(2);
  console.log(
    `  PostgreSQL rows written per request (distributed, inserted/updated/deleted): ${rows.map((row) => `${row.table} ${per(row.inserted)}/${per(row.updated)}/${per(row.deleted)}`).join(', ') || 'none'}`,
  );

}

/** Section 2: 1, 2 and 3 distributed replicas behind the round-robin load generator. */
async function severalReplicas(modelURL: string, cluster: string[]): Promise<void> {
  const replicas: Process[] = [];
  for (const core of REPLICA_CORES) replicas.push(await start(['module-distributed', modelURL, ...cluster], core));
  // Each replica's CPU at rest (heartbeat, the BullMQ worker waiting for jobs), after its first request made its tables.
  await Promise.all(replicas.map((replica) => postJson(JSON_BODY)(replica.url, globalAgent)));
  await delay(500);
  const idleBefore = replicas.map((replica) => cpuSeconds(replica.pid));
  await delay(IDLE_MS);
  const idleMsPerSecond = replicas.map((replica, i) => ((cpuSeconds(replica.pid) - idleBefore[i]) * 1000) / (IDLE_MS / 1000));

  const arms: Arm[] = [1, 2, 3].map((n) => ({
    name: `${n} replica${n > 1 ? 's' : ''}`,
    urls: replicas.slice(0, n).map((replica) => replica.url),
    pids: replicas.slice(0, n).map((replica) => replica.pid),
  }));
  const figures = await section(arms, CONNECTIONS, REQUESTS, ROUNDS, () => postJson(JSON_BODY), (arm, latencies) => arm.latencies.push(...latencies), () =>
    cpuOfProcessesNamed(DB_PROCESSES),
  );
  await stopAll();
  const one = figures.get('1 replica')!;
  console.log(`\n2. POST /run (JSON), ${CONNECTIONS} connections spread round-robin over 1, 2 and 3 distributed replicas`);
  console.log(
    `  pinned: replica 1 core ${REPLICA_CORES[0]}, replica 2 core ${REPLICA_CORES[1]} (with the load generator and fake model), replica 3 core ${REPLICA_CORES[2]}; ` +
      `PostgreSQL and Redis not pinned; all three replicas run throughout, an arm measures its own`,
  );
  console.log(
    `  ${'arm'.padEnd(12)}${cell('req/s', 8)}${cell('p50 ms', 9)}${cell('p99 ms', 9)}${cell('CPU ms/req', 12)}${cell('pg+redis ms/req', 17)}${cell('req/s x 1', 11)}${cell('CPU x 1', 9)}   per replica: requests, CPU ms/req`,
  );
  for (const [name, arm] of figures) {
    const perReplica = arm.processCpuSeconds.map((seconds, i) => `r${i + 1} ${arm.processRequests[i]}, ${((seconds * 1000) / arm.processRequests[i]).toFixed(3)}`).join('; ');
    console.log(
      `  ${name.padEnd(12)}${cell(perSecond(arm).toFixed(0), 8)}${cell(percentile(arm.latencies, 50).toFixed(2), 9)}${cell(percentile(arm.latencies, 99).toFixed(2), 9)}` +
        `${cell(cpuMs(arm).toFixed(3), 12)}${cell(dbCpuMs(arm).toFixed(3), 17)}${cell(ratio(perSecond(arm) / perSecond(one)), 11)}${cell(ratio(cpuMs(arm) / cpuMs(one)), 9)}   ${perReplica}`,
    );
  }
  console.log(`  idle CPU per replica (ms per second, over ${IDLE_MS / 1000} s at rest; resolution ${(1000 / clockTicksPerSecond() / (IDLE_MS / 1000)).toFixed(0)} ms/s): ${idleMsPerSecond.map((ms, i) => `r${i + 1} ${ms.toFixed(2)}`).join(', ')}`);
  const three = figures.get('3 replicas')!;
  console.log(
    `  on this ${cpus().length}-core machine the aggregate flattens (3 replicas: ${ratio(perSecond(three) / perSecond(one))}x one replica's throughput): ` +
      `two cores carry the replicas, the load generator, the fake model, PostgreSQL and Redis; ` +
      `the figure that carries over to more cores is the CPU per request of each replica, ${cpuMs(one).toFixed(3)} ms alone and ${cpuMs(three).toFixed(3)} ms in a set of three`,
  );
}

/** One tick of the cron section: the claims of its instant and the winner's delay. */
interface Tick {
  won: number;
  lost: number;
  latencyMs: number[];
  winners: number[];
}

/** Collects the cron replicas' reports for TICKS whole ticks after they are all up. */
async function cronTicks(replicas: Process[]): Promise<Tick[]> {
  const ticks = new Map<number, Tick>();
  // Ticks from the next whole second on: every replica is up and reporting by then.
  const from = Math.ceil((Date.now() + 1) / 1000) * 1000;
  const tick = (instant: number) => ticks.get(instant) ?? (ticks.set(instant, { won: 0, lost: 0, latencyMs: [], winners: [] }), ticks.get(instant)!);
  const listeners = replicas.map((replica, index) => {
    const listener = (message: { kind: string; instant?: number; latencyMs?: number; key?: string; won?: boolean }) => {
      if (message.kind === 'tick' && message.instant! >= from) {
        tick(message.instant!).latencyMs.push(message.latencyMs!);
        tick(message.instant!).winners.push(index + 1);
      }
      if (message.kind === 'claim') {
        const instant = Number(message.key!.split(':').pop());
        if (instant >= from) tick(instant)[message.won ? 'won' : 'lost']++;
      }
    };
    replica.child.on('message', listener);
    return listener;
  });
  // The last tick's reports arrive within a second of it.
  await delay(from + TICKS * 1000 - Date.now() + 1000);
  replicas.forEach((replica, i) => replica.child.off('message', listeners[i]));
  return [...ticks.entries()]
    .filter(([instant]) => instant < from + TICKS * 1000)
    .sort(([a], [b]) => a - b)
    .map(([, value]) => value);
}

/** Section 3: cron claim latency on three distributed replicas, against one embedded replica. */
async function cronClaims(modelURL: string, cluster: string[]): Promise<void> {
  const replicas: Process[] = [];
  for (const core of REPLICA_CORES) replicas.push(await start(['cron-distributed', modelURL, ...cluster], core));
  const distributed = await cronTicks(replicas);
  await stopAll();
  const embedded = await cronTicks([await start(['cron', modelURL], SERVER_CORE)]);
  await stopAll();

  const latencies = (ticks: Tick[]) => ticks.flatMap((tick) => tick.latencyMs);
  const describe = (values: number[]) =>
    `p50 ${percentile(values, 50).toFixed(1)} ms, p99 ${percentile(values, 99).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms (${values.length} handler starts)`;
  const d = latencies(distributed);
  const e = latencies(embedded);
  console.log(`\n3. Cron claim latency, a '* * * * * *' job whose handler returns undefined (no run), ${TICKS} ticks per arm`);
  console.log(`  pinned: the three distributed replicas on cores ${REPLICA_CORES.join(', ')}; the embedded replica on core ${SERVER_CORE}; p99 of ${TICKS} ticks is about their maximum`);
  console.log(`  3 replicas (cluster + postgresStores), scheduled instant -> winner's handler: ${describe(d)}`);
  console.log(`  1 embedded replica, the tick's whole second -> handler:          ${describe(e)}`);
  console.log(`  p50 claim cost (distributed - embedded): ${(percentile(d, 50) - percentile(e, 50)).toFixed(1)} ms`);
  const lost = distributed.map((tick) => tick.lost);
  const runs = distributed.map((tick) => tick.latencyMs.length);
  const counts = (values: number[]) => [...new Set(values)].sort((a, b) => a - b).map((value) => `${value} on ${values.filter((v) => v === value).length}`).join(', ');
  console.log(
    `  claims lost per tick: ${counts(lost)} of ${distributed.length} ticks (expected 2 of 3 on every tick); handler runs per tick: ${counts(runs)} ` +
      `(${runs.every((n) => n === 1) ? 'once per tick, as claimed' : 'NOT once per tick'})`,
  );
  const wins = [1, 2, 3].map((replica) => distributed.filter((tick) => tick.winners.includes(replica)).length);
  console.log(`  ticks won: ${wins.map((count, i) => `replica ${i + 1} (core ${REPLICA_CORES[i]}) ${count}`).join(', ')}`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const pinned = pinSelf(LOAD_CORE);
  const fake = await startProcess(['fake'], { cpus: LOAD_CORE });
  const redis = redisPrefix();
  const pg = pgSchema();
  const cluster = [REDIS_URL, redis.prefix, PG_URL, pg.schema];
  try {
    console.log(`Scale-out benchmark, Node ${process.version}: ${REQUESTS} JSON requests per arm and round, ${ROUNDS} rounds, ${TICKS} cron ticks per arm`);
    console.log(
      pinned
        ? `  load generator and fake model pinned to core ${LOAD_CORE}; CPU from /proc/<pid>/stat at ${clockTicksPerSecond()} ticks/s`
        : `  note: taskset not found: nothing is pinned (throughput is less telling; CPU/request still holds)`,
    );
    console.log(`  Redis ${REDIS_URL} prefix ${redis.prefix}; PostgreSQL ${PG_URL} schema ${pg.schema} (both removed at the end)`);
    await oneReplica(fake.line, cluster);
    await severalReplicas(fake.line, cluster);
    await cronClaims(fake.line, cluster);
    console.log(`\n  total time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await stopAll();
    await stopProcess(fake.child);
    await Promise.all([redis.cleanup(), pg.cleanup()]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
