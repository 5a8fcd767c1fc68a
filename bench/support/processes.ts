import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const script = join(__dirname, 'bench-servers.js');

/** Starts one of bench-servers' processes; resolves with it and the first line it printed (its URL, or "ready"). */
export async function startProcess(args: string[], nodeArgs: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, line };
}

/** Kills a bench process and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
