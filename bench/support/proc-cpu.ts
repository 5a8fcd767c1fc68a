import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, usually 100). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * The CPU time a process has used so far, all its threads, in seconds: user + system time
 * (fields 14 and 15 of /proc/<pid>/stat). The fields are counted after the last ")", since field
 * 2, the command name in parentheses, may hold spaces and parentheses. Resolution: one clock tick.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // After ") " comes field 3 (state), so field n is at index n - 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot read the CPU time of pid ${pid} from /proc/${pid}/stat`);
  return (utime + stime) / clockTicksPerSecond();
}

/** The CPU seconds so far of every process whose command name (/proc/<pid>/comm) is one of `names`, by pid. */
function cpuByName(names: string[]): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) found.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/**
 * Starts measuring the CPU time of the processes named `names` (e.g. `postgres`, `redis-server`:
 * the servers the app talks to, which are not the app's processes); the function it returns reads
 * the seconds they used since. A process that started meanwhile counts from zero (a new PostgreSQL
 * backend); one that exited meanwhile is not counted. Processes of the same names serving others on
 * the machine count too.
 */
export function cpuOfProcessesNamed(names: string[]): () => number {
  const before = cpuByName(names);
  return () => {
    let total = 0;
    for (const [pid, seconds] of cpuByName(names)) total += seconds - (before.get(pid) ?? 0);
    return total;
  };
}
