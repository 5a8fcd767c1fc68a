import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const RUNS = 1_000;

/**
 * A default agent (default in-memory session store) in a child process with a
 * 256 MB heap, given RUNS runs of 0.9 MB each, every one in a new session —
 * what any caller allowed to use /run can send. With sessions bounded only by
 * count it ran out of memory after 288 runs; bounded by bytes it finishes.
 */
const CHILD = `
const { Agent } = require(${JSON.stringify(join(__dirname, '../../lib/agent'))});
const { TestModel } = require(${JSON.stringify(join(__dirname, '../../lib/testing'))});
const model = new TestModel({ responses: () => 'ok' });
const agent = new Agent({ model });
const body = Buffer.alloc(900_000, 120);
(async () => {
  let done = 0;
  for (let i = 0; i < ${RUNS}; i++) {
    body.fill(97 + (i % 26), 0, 16); // a new flat string each run, as a parsed request body is
    const output = await agent.run(body.toString('latin1'), { sessionId: 'session-' + i });
    if (output.status !== 'completed') throw new Error('run ' + i + ' ended ' + output.status);
    model.calls.length = 0; // the test model records every call; the agent's own memory is what is measured
    done++;
  }
  global.gc();
  process.stdout.write(JSON.stringify({ done, heapUsed: process.memoryUsage().heapUsed, stored: agent.sessionStore.size }));
})();
`;

function runChild(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=256', '--expose-gc', '-e', CHILD], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('memory bounds', { timeout: 120_000 }, () => {
  it(`a default agent takes ${RUNS} runs of 0.9 MB in new sessions on a 256 MB heap without running out of memory`, async () => {
    const { code, signal, stdout, stderr } = await runChild();
    assert.equal(code, 0, `the child ended with ${code ?? signal}: ${stderr.slice(-600)}`);
    const result = JSON.parse(stdout) as { done: number; heapUsed: number; stored: number };
    assert.equal(result.done, RUNS);
    assert.ok(result.stored <= 64 * 1024 * 1024, `the store holds ${result.stored} bytes`);
    assert.ok(result.heapUsed < 160 * 1024 * 1024, `heap after the runs: ${result.heapUsed} bytes`);
  });
});
