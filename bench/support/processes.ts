import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const script = join(__dirname, 'bench-servers.js');
const running = new Set<ChildProcess>();

// A benchmark that fails or is interrupted leaves no server behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

let tasksetAvailable: boolean | undefined;

/** Whether `taskset` (util-linux) can be run, to pin processes to cores. */
export function hasTaskset(): boolean {
  return (tasksetAvailable ??= !spawnSync('taskset', ['--version'], { stdio: 'ignore' }).error);
}

/** Pins every thread of this process (and the processes it starts later) to `cpus` (e.g. "1"); false without `taskset`. */
export function pinSelf(cpus: string): boolean {
  if (!hasTaskset()) return false;
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(process.pid)], { stdio: 'ignore' });
  return true;
}

/** Options of {@link startProcess}. */
export interface StartOptions {
  /** Node's own flags, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  /** Pin the process to these cores (a `taskset --cpu-list`, e.g. "0"); ignored without `taskset`. */
  cpus?: string;
}

/**
 * Starts one of bench-servers' processes; resolves with it and the first line it printed (its URL,
 * or "ready"). With `cpus`, node runs under `taskset`, which execs it: the child's pid is node's own,
 * checked here, so /proc/<pid>/stat of `child.pid` is the server's CPU time.
 */
export async function startProcess(args: string[], options: string[] | StartOptions = {}): Promise<{ child: ChildProcess; line: string }> {
  const { nodeArgs = [], cpus } = Array.isArray(options) ? { nodeArgs: options } : options;
  const command = [process.execPath, ...nodeArgs, script, ...args];
  const pinned = cpus !== undefined && hasTaskset();
  const child = pinned
    ? spawn('taskset', ['--cpu-list', cpus, ...command], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    : spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`bench-servers ${args.join(' ')} exited (${signal ?? code}) before it was ready`);
  });
  const [line] = (await Promise.race([once(createInterface({ input: child.stdout! }), 'line'), exited])) as [string];
  if (pinned && readlinkSync(`/proc/${child.pid}/exe`) !== realpathSync(process.execPath)) {
    child.kill('SIGKILL');
    throw new Error(`pid ${child.pid} is not node: taskset did not exec it`);
  }
  return { child, line };
}

/** Kills a bench process and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
