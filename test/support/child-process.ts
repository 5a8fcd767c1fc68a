import { ChildProcess, spawn } from 'node:child_process';

/**
 * Starts a compiled script of test/support as a child process (the app under
 * a crash test) and resolves once a line of its output passes `ready`, with
 * what `ready` returned (e.g. the URL it printed).
 */
export function startChild(script: string, env: Record<string, string>, ready: (line: string) => string | undefined): Promise<{ child: ChildProcess; said: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    child.stdout!.on('data', (chunk) => {
      for (const line of String(chunk).split('\n')) {
        const said = ready(line.trim());
        if (said !== undefined) return resolve({ child, said });
      }
    });
    child.on('exit', (code, signal) => reject(new Error(`${script} exited (${code ?? signal}) before it was ready: ${stderr.slice(-800)}`)));
  });
}

/** Kills a child with SIGKILL (no clean shutdown) and resolves once it is gone. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
