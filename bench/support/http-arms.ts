/**
 * Measuring arms of HTTP servers under load, shared by bench/http-run.bench.ts and
 * bench/scale-out.bench.ts: warm-up, rounds in alternating order, and each round's CPU time of
 * the server processes (user + system from /proc/<pid>/stat, read before the round and
 * {@link SETTLE_MS} after its last answer, so work finishing after it counts).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { runLoad, Send } from './http-load';
import { cpuSeconds } from './proc-cpu';

/** Wait after a round's last answer before reading the servers' CPU time. */
export const SETTLE_MS = 50;

/** An arm under test: one server process, or several replicas the load is spread over (connection i to `urls[i % n]`). */
export interface Arm<N extends string = string> {
  name: N;
  urls: URL[];
  /** The server processes whose CPU time the arm costs, in the order of `urls`. */
  pids: number[];
}

/** One arm's figures in one section. */
export interface Figures {
  requests: number;
  seconds: number;
  cpuSeconds: number;
  /** CPU ms per request of each round, in order. */
  roundCpuMs: number[];
  latencies: number[];
  streams: import('./http-load').StreamSample[];
  /** Per server process (the arm's `pids`): its CPU seconds and the requests sent to it, summed over the rounds. */
  processCpuSeconds: number[];
  processRequests: number[];
  /** What `extraCpu` (of {@link section}) measured over the rounds, in seconds (e.g. the database's CPU time). */
  extraCpuSeconds: number;
}

/** One measured round: the load, then the CPU time it cost each of the arm's processes (read before and after). */
export async function round<T>(
  arm: Arm,
  connections: number,
  total: number,
  send: Send<T>,
  extraCpu?: () => () => number,
): Promise<{ seconds: number; cpuSeconds: number[]; sentTo: number[]; extraCpuSeconds: number; results: T[] }> {
  const before = arm.pids.map(cpuSeconds);
  const extra = extraCpu?.();
  const { seconds, results, sentTo } = await runLoad(arm.urls, connections, total, send);
  await delay(SETTLE_MS);
  const extraCpuSeconds = extra?.() ?? 0;
  return { seconds, cpuSeconds: arm.pids.map((pid, i) => cpuSeconds(pid) - before[i]), sentTo, extraCpuSeconds, results };
}

/**
 * Warms every arm up (a quarter of `total`), then runs `rounds` rounds of `total` requests per arm,
 * reversing the arms' order every other round so drift hits them alike; returns each arm's figures.
 * `extraCpu`, when given, starts measuring something beside the arm's processes at each round's
 * start and returns a function reading the seconds it used since.
 */
export async function section<N extends string, T>(
  arms: Arm<N>[],
  connections: number,
  total: number,
  rounds: number,
  sendFor: (arm: Arm<N>) => Send<T>,
  record: (figures: Figures, results: T[]) => void,
  extraCpu?: () => () => number,
): Promise<Map<N, Figures>> {
  const figures = new Map(
    arms.map((arm) => [
      arm.name,
      {
        requests: 0,
        seconds: 0,
        cpuSeconds: 0,
        roundCpuMs: [],
        latencies: [],
        streams: [],
        processCpuSeconds: arm.pids.map(() => 0),
        processRequests: arm.pids.map(() => 0),
        extraCpuSeconds: 0,
      } as Figures,
    ]),
  );
  for (const arm of arms) await runLoad(arm.urls, connections, Math.max(connections, Math.ceil(total / 4)), sendFor(arm));
  for (let r = 0; r < rounds; r++) {
    for (const arm of r % 2 ? [...arms].reverse() : arms) {
      const measured = await round(arm, connections, total, sendFor(arm), extraCpu);
      const figure = figures.get(arm.name)!;
      const cpu = measured.cpuSeconds.reduce((a, b) => a + b, 0);
      figure.requests += total;
      figure.seconds += measured.seconds;
      figure.cpuSeconds += cpu;
      figure.roundCpuMs.push((cpu * 1000) / total);
      measured.cpuSeconds.forEach((seconds, i) => (figure.processCpuSeconds[i] += seconds));
      measured.sentTo.forEach((requests, i) => (figure.processRequests[i] += requests));
      figure.extraCpuSeconds += measured.extraCpuSeconds;
      record(figure, measured.results);
    }
  }
  return figures;
}

/** Requests (or streams) per second. */
export const perSecond = (figures: Figures) => figures.requests / figures.seconds;
/** The arm's processes' CPU ms per request (or stream). */
export const cpuMs = (figures: Figures) => (figures.cpuSeconds * 1000) / figures.requests;
/** A ratio as printed. */
export const ratio = (value: number) => value.toFixed(3);
/** Right-aligns a table cell. */
export const cell = (text: string, width: number) => text.padStart(width);
