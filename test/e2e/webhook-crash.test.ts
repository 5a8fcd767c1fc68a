import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startFakeOpenAI } from '../../lib/testing';
import { killHard as kill, startChild } from '../support/child-process';
import { tempDir } from '../support/fixtures';

const DELIVERIES = 500;
/** Every 10th delivery repeats an earlier delivery id, as providers re-deliver. */
const DISTINCT = DELIVERIES - DELIVERIES / 10;
const CONCURRENCY = 4;

const dir = tempDir();
after(() => dir.cleanup());

async function startApp(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const { child, said } = await startChild(join(__dirname, '../support/crash-webhooks.js'), env, (line) => (line.startsWith('http') ? line : undefined));
  return { child, url: said };
}

// A hang guard, not a timing assertion.
describe('async webhooks across crashes (the app as a child process, killed with SIGKILL twice)', { timeout: 240_000 }, () => {
  it(`completes each of ${DISTINCT} distinct deliveries (of ${DELIVERIES}, duplicates included) once, under one run id`, { timeout: 200_000 }, async () => {
    // A slow model: deliveries are queued and in flight when the process dies.
    const openai = await startFakeOpenAI({ defaultReply: (body) => ({ content: `ok ${body.messages.at(-1).content}`, delayMs: 15 }) });
    const env = { CRASH_DB: join(dir.path, 'webhooks.db'), CRASH_OPENAI_URL: openai.baseURL };
    const deliveryId = (index: number) => `d${index % 10 === 9 ? index - 5 : index}`;
    const runIds = new Map<string, Set<string>>();
    let app = await startApp(env);
    /** Posts one delivery; `false` when the app was not there to take it (the sender retries it later). */
    const deliver = async (index: number): Promise<boolean> => {
      const id = deliveryId(index);
      try {
        const response = await fetch(`${app.url}/deliveries`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-delivery': id }, body: JSON.stringify({ id }) });
        if (response.status !== 202) return false;
        const { run_id } = (await response.json()) as { run_id: string };
        runIds.set(id, (runIds.get(id) ?? new Set()).add(run_id));
        return true;
      } catch {
        return false;
      }
    };
    const completedCalls = () => openai.requests.filter((request) => request.path.endsWith('/chat/completions')).length;
    let pending = Array.from({ length: DELIVERIES }, (_, index) => index);
    try {
      for (const killAt of [DISTINCT / 4, DISTINCT / 2]) {
        const sending = (async () => {
          const failed: number[] = [];
          for (let start = 0; start < pending.length; start += 16) {
            const batch = pending.slice(start, start + 16);
            const results = await Promise.all(batch.map(deliver));
            batch.forEach((index, at) => results[at] || failed.push(index));
          }
          return failed;
        })();
        while (completedCalls() < killAt) await new Promise((resolve) => setTimeout(resolve, 5));
        await kill(app.child);
        pending = await sending;
        app = await startApp(env);
      }
      for (const index of pending) assert.ok(await deliver(index), `delivery ${index} taken after the restarts`);
      // Every distinct delivery has exactly one run id, and that run completes.
      assert.equal(runIds.size, DISTINCT);
      const runs = [...runIds.entries()].map(([id, ids]) => {
        assert.equal(ids.size, 1, `${id} got one run id whatever the retries`);
        return [id, [...ids][0]] as const;
      });
      for (const [id, runId] of runs) {
        for (;;) {
          const run = (await (await fetch(`${app.url}/runs/${runId}`)).json()) as { status: string; output?: { content: string } };
          if (run.status === 'completed') {
            assert.equal(run.output?.content, `ok delivery ${id}`);
            break;
          }
          assert.ok(['queued', 'running'].includes(run.status), `${id}: ${run.status}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      // The model ran each delivery once, and again at most for those in flight at each kill.
      const calls = new Map<string, number>();
      for (const request of openai.requests) {
        const id = /delivery (d\d+)/.exec(JSON.stringify(request.body?.messages ?? ''))?.[1];
        if (id) calls.set(id, (calls.get(id) ?? 0) + 1);
      }
      assert.equal(calls.size, DISTINCT);
      const extra = [...calls.values()].reduce((sum, count) => sum + count - 1, 0);
      assert.ok(extra <= 2 * CONCURRENCY, `${extra} repeated model calls; at most the ${CONCURRENCY} in flight at each of the 2 kills`);
    } finally {
      await kill(app.child);
      await openai.close();
    }
  });
});
