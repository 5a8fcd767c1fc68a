import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Pool } from 'pg';
import { startFakeOpenAI } from '../../lib/testing';
import type { FakeOpenAIServer } from '../../lib/testing';
import { killHard, startChild } from '../support/child-process';
import { REDIS_URL, redisPrefix } from '../support/replicas';

const PG_URL = process.env.DEFINABLE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const DELIVERIES = 1000;
/** Deliveries accepted but not yet at the model, at most: the sending goes on across both kills. */
const BACKLOG = 150;
/** Senders at once. */
const SENDERS = 16;

interface Replica {
  id: string;
  child: ChildProcess;
  url: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A hang guard, not a timing assertion (the test takes well under it).
describe('async webhooks on three replicas (BullMQ on one Redis, runs in one PostgreSQL schema; two replicas SIGKILLed in turn)', { timeout: 180_000 }, () => {
  const keys = redisPrefix();
  const schema = `definable_test_${randomBytes(6).toString('hex')}`;
  const admin = new Pool({ connectionString: PG_URL, max: 2 });
  const replicas: Replica[] = [];
  let openai: FakeOpenAIServer | undefined;
  after(async () => {
    await Promise.all(replicas.map((replica) => killHard(replica.child)));
    await openai?.close();
    await keys.cleanup();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it(`runs each of ${DELIVERIES} deliveries, sent round-robin with an Idempotency-Key, under one run id that completes; a repeated model call only for a run in flight at a kill`, { timeout: 170_000 }, async (t) => {
    const started = Date.now();
    // A slow model: runs are in flight at the model when a replica dies.
    openai = await startFakeOpenAI({ defaultReply: (body) => ({ content: `ok ${body.messages.at(-1).content}`, delayMs: 30 }) });
    const env = { REPLICA_OPENAI_URL: openai.baseURL, REPLICA_REDIS_URL: REDIS_URL, REPLICA_PREFIX: keys.prefix, REPLICA_PG_URL: PG_URL, REPLICA_PG_SCHEMA: schema };
    let generation = 0;
    const start = async (): Promise<Replica> => {
      const id = `replica-${generation++}`;
      const { child, said } = await startChild(join(__dirname, '../support/replica-webhooks-app.js'), { ...env, REPLICA_ID: id }, (line) => (line.startsWith('http') ? line : undefined));
      return { id, child, url: said };
    };
    replicas.push(...(await Promise.all([0, 1, 2].map(() => start()))));

    /** Model calls per delivery id. */
    const modelCalls = () => {
      const calls = new Map<string, number>();
      for (const request of openai!.requests) {
        const id = /^delivery (d\d+)$/.exec(request.body?.messages?.at(-1)?.content ?? '')?.[1];
        if (id) calls.set(id, (calls.get(id) ?? 0) + 1);
      }
      return calls;
    };
    const runIds = new Map<string, Set<string>>();
    let turn = 0;
    let rejected = 0;
    /** Sends one delivery round-robin, on to the next replica until one answers 202 (a sender retrying on another node). */
    const deliver = async (index: number): Promise<void> => {
      const id = `d${index}`;
      for (;;) {
        const replica = replicas[turn++ % replicas.length];
        try {
          const response = await fetch(`${replica.url}/deliveries`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': id },
            body: JSON.stringify({ id }),
            signal: AbortSignal.timeout(10_000),
          });
          if (response.status === 202) {
            const { run_id } = (await response.json()) as { run_id: string };
            runIds.set(id, (runIds.get(id) ?? new Set()).add(run_id));
            return;
          }
        } catch {
          // The replica is down (killed, not yet restarted): the next one.
        }
        rejected++;
        await sleep(10);
      }
    };
    let next = 0;
    const sending = Promise.all(
      Array.from({ length: SENDERS }, async () => {
        for (;;) {
          while (next - modelCalls().size > BACKLOG) await sleep(5);
          const index = next++;
          if (index >= DELIVERIES) return;
          await deliver(index);
        }
      }),
    );

    /** Runs a killed replica held `running` in the store: the runs in flight at its kill. */
    const inFlightAtKills: number[] = [];
    for (const [slot, at] of [
      [1, 250],
      [2, 600],
    ] as const) {
      while (modelCalls().size < at) await sleep(5);
      const killed = replicas[slot];
      await killHard(killed.child);
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}"."runs" WHERE owner = $1 AND status = 'running'`, [killed.id]);
      inFlightAtKills.push(rows[0].n);
      replicas[slot] = await start();
    }
    await sending;

    // Every delivery reached the model; every 202's run id ends completed, read back from any replica.
    while (modelCalls().size < DELIVERIES) await sleep(20);
    assert.equal(runIds.size, DELIVERIES);
    const runs = [...runIds.entries()].map(([id, ids]) => {
      assert.equal(ids.size, 1, `${id} got one run id whatever the replica and the retries`);
      return [id, [...ids][0]] as const;
    });
    for (const [index, [id, runId]] of runs.entries()) {
      for (;;) {
        const run = (await (await fetch(`${replicas[index % 3].url}/runs/${runId}`)).json()) as { status: string; output?: { content: string } };
        if (run.status === 'completed') {
          assert.equal(run.output?.content, `ok delivery ${id}`);
          break;
        }
        assert.ok(['queued', 'running'].includes(run.status), `${id}: ${run.status}`);
        await sleep(20);
      }
    }
    const { rows } = await admin.query(`SELECT status, count(*)::int AS n FROM "${schema}"."runs" GROUP BY status`);
    assert.deepEqual(rows, [{ status: 'completed', n: DELIVERIES }], 'one completed run per delivery, nothing else');

    const calls = modelCalls();
    const extra = [...calls.values()].reduce((sum, count) => sum + count - 1, 0);
    const inFlight = inFlightAtKills.reduce((sum, count) => sum + count, 0);
    t.diagnostic(
      `${DELIVERIES} deliveries, ${rejected} sends refused or unanswered (replica down), runs in flight at the kills: ${inFlightAtKills.join(' + ')}, extra model calls: ${extra}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.ok(extra <= inFlight, `${extra} repeated model calls; at most the ${inFlight} runs in flight at the kills`);
  });
});
