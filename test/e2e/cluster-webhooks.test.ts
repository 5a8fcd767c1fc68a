import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller, Inject } from '@nestjs/common';
import Redis from 'ioredis';
import { Agent, DefinableModule, InMemoryRunStore, redisCluster, TriggerEvent, Webhook } from '../../lib';
import type { RunStore } from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp, TestApp } from '../support/nest';
import { REDIS_URL, redisPrefix } from '../support/replicas';

/** Which app a handler ran in. */
const REPLICA = 'test:replica';

/** Handler calls: where, when, for which delivery. */
const calls: { replica: string; id: string; at: number }[] = [];
/** Deliveries held in their handler until released. */
let gate: Promise<void> = Promise.resolve();
let held = 0;
const failures = new Map<string, number>();

@Controller('cluster')
class ClusterHooks {
  constructor(@Inject(REPLICA) private readonly replica: string) {}

  @Webhook('/orders', { mode: 'async', auth: false })
  async onOrder(event: TriggerEvent<{ id: string }>) {
    calls.push({ replica: this.replica, id: event.body.id, at: Date.now() });
    held++;
    await gate;
    held--;
    return `Handle order ${event.body.id}`;
  }

  /** Fails `fail` times per id, then runs. */
  @Webhook('/flaky', { mode: 'async', auth: false, maxAttempts: 3, retryDelay: 200 })
  onFlaky(event: TriggerEvent<{ id: string; fail: number }>) {
    calls.push({ replica: this.replica, id: event.body.id, at: Date.now() });
    const failed = failures.get(event.body.id) ?? 0;
    if (failed < event.body.fail) {
      failures.set(event.body.id, failed + 1);
      throw new Error(`flaky ${event.body.id} failure ${failed + 1}`);
    }
    return `Flaky ${event.body.id} done`;
  }
}

/** One store for both apps of a test, standing for a database every replica sees. */
class SharedRunStore extends InMemoryRunStore {
  readonly shared = true;
}

async function waitForEnd(url: string): Promise<any> {
  for (;;) {
    const run: any = await (await fetch(url)).json();
    if (!['queued', 'running'].includes(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Every key that names the prefix, wherever it sits. */
async function keysOf(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  } finally {
    redis.disconnect();
  }
}

function startReplica(platform: (typeof PLATFORMS)[number], replica: string, prefix: string, runStore: RunStore, model: TestModel): Promise<TestApp> {
  return startApp(platform, {
    imports: [
      DefinableModule.forRoot({
        agent: new Agent({ model }),
        runStore,
        cluster: redisCluster({ connection: REDIS_URL, prefix, jobLockDuration: 2000, replicaId: `${replica}-${prefix}` }),
      }),
    ],
    controllers: [ClusterHooks],
    providers: [{ provide: REPLICA, useValue: replica }],
  });
}

for (const platform of PLATFORMS) {
  describe(`async webhooks as BullMQ jobs, two replicas on ${platform}`, { timeout: 60_000 }, () => {
    const keys = redisPrefix();
    const model = new TestModel({ responses: (call) => `done: ${call.messages.at(-1)?.content}` });
    const store = new SharedRunStore();
    let a: TestApp;
    let b: TestApp;
    before(async () => {
      a = await startReplica(platform, 'A', keys.prefix, store, model);
      b = await startReplica(platform, 'B', keys.prefix, store, model);
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await keys.cleanup();
    });

    it('a delivery posted to A is run by B when A is busy: 8 held deliveries, at most 4 at once on A', async () => {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      const ids = Array.from({ length: 8 }, (_, index) => `busy-${platform}-${index}`);
      const accepted = await Promise.all(ids.map((id) => post(`${a.url}/cluster/orders`, { id })));
      assert.deepEqual(new Set(accepted.map((response) => response.status)), new Set([202]));
      await until(() => held === 8);
      const ran = calls.filter((call) => ids.includes(call.id));
      assert.equal(ran.filter((call) => call.replica === 'A').length, 4);
      assert.equal(ran.filter((call) => call.replica === 'B').length, 4);
      release();
      for (const [index, response] of accepted.entries()) {
        // Read from either replica: the store is shared.
        const run = await waitForEnd(`${(index % 2 ? a : b).url}/runs/${response.body.run_id}`);
        assert.equal(run.status, 'completed');
        assert.equal(run.output.content, `done: Handle order ${ids[index]}`);
        assert.equal(run.attempts, 1);
      }
      assert.equal(calls.filter((call) => ids.includes(call.id)).length, 8, 'each delivery ran once');
    });

    it('retries a failing delivery with backoff (200 ms, then 400 ms) and completes it; after maxAttempts it is failed', async () => {
      const id = `r-${platform}`;
      const retried = await post(`${a.url}/cluster/flaky`, { id, fail: 2 });
      assert.equal(retried.status, 202);
      const run = await waitForEnd(`${b.url}/runs/${retried.body.run_id}`);
      assert.deepEqual([run.status, run.attempts, run.max_attempts], ['completed', 3, 3]);
      assert.equal(run.output.content, `done: Flaky ${id} done`);
      const times = calls.filter((call) => call.id === id).map((call) => call.at);
      assert.equal(times.length, 3);
      assert.ok(times[1] - times[0] >= 195, `first retry after ${times[1] - times[0]} ms`);
      assert.ok(times[2] - times[1] >= 395, `second retry after ${times[2] - times[1]} ms`);

      const doomed = await post(`${b.url}/cluster/flaky`, { id: `f-${platform}`, fail: 5 });
      const failed = await waitForEnd(`${a.url}/runs/${doomed.body.run_id}`);
      assert.deepEqual([failed.status, failed.attempts], ['failed', 3]);
      assert.equal(failed.error.code, 'internal');
      assert.doesNotMatch(JSON.stringify(failed), /flaky f-/, "the handler's own message stays in the log");
      assert.equal(calls.filter((call) => call.id === `f-${platform}`).length, 3);
    });

    it('a re-delivery with the same Idempotency-Key, to either replica, answers the first run_id; the handler runs once', async () => {
      const id = `dup-${platform}`;
      const headers = { 'idempotency-key': id };
      const first = await post(`${a.url}/cluster/orders`, { id }, headers);
      const again = await post(`${b.url}/cluster/orders`, { id }, headers);
      assert.deepEqual([first.status, again.status], [202, 202]);
      assert.equal(again.body.run_id, first.body.run_id);
      await waitForEnd(`${a.url}/runs/${first.body.run_id}`);
      const third = await post(`${b.url}/cluster/orders`, { id }, headers);
      assert.deepEqual([third.status, third.body], [202, { run_id: first.body.run_id, status: 'completed' }]);
      assert.equal(calls.filter((call) => call.id === id).length, 1);
    });

    it('GET /health reports the queue: waiting, active, delayed, failed', async () => {
      let webhooks: any;
      for (;;) {
        webhooks = ((await (await fetch(`${a.url}/health`)).json()) as any).queues?.webhooks;
        // The doomed delivery of the retry test is BullMQ's one failed job (counts are read every few seconds).
        if (webhooks?.failed === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(Object.keys(webhooks).sort(), ['active', 'delayed', 'failed', 'waiting']);
      assert.deepEqual([webhooks.waiting, webhooks.active, webhooks.delayed], [0, 0, 0]);
    });
  });
}

describe('async webhooks as BullMQ jobs, replicas with run stores of their own', { timeout: 60_000 }, () => {
  const keys = redisPrefix();
  const model = new TestModel({ responses: (call) => `done: ${call.messages.at(-1)?.content}` });
  const stores = { A: new InMemoryRunStore(), B: new InMemoryRunStore() };
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    a = await startReplica('fastify', 'A', keys.prefix, stores.A, model);
    b = await startReplica('express', 'B', keys.prefix, stores.B, model);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await keys.cleanup();
  });

  it('the replica that runs a delivery records the run in its own store', async () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const ids = Array.from({ length: 8 }, (_, index) => `own-${index}`);
    const accepted = await Promise.all(ids.map((id) => post(`${a.url}/cluster/orders`, { id })));
    await until(() => held === 8);
    release();
    const onB = calls.filter((call) => ids.includes(call.id) && call.replica === 'B').map((call) => ids.indexOf(call.id));
    assert.equal(onB.length, 4);
    for (const index of onB) {
      const run = await waitForEnd(`${b.url}/runs/${accepted[index].body.run_id}`);
      assert.deepEqual([run.status, run.output.content, run.attempts, run.trigger], ['completed', `done: Handle order ${ids[index]}`, 1, 'POST /cluster/orders']);
    }
  });
});

describe('Redis after the cluster tests', () => {
  it('holds nothing of a test once its prefix is cleaned up', async () => {
    const keys = redisPrefix();
    const app = await startReplica('fastify', 'A', keys.prefix, new InMemoryRunStore(), new TestModel({ responses: () => 'ok' }));
    try {
      gate = Promise.resolve();
      const accepted = await post(`${app.url}/cluster/orders`, { id: 'cleanup' });
      await waitForEnd(`${app.url}/runs/${accepted.body.run_id}`);
      assert.ok((await keysOf(keys.prefix)).length > 0, 'the queue and the heartbeat are in Redis');
    } finally {
      await app.close();
      await keys.cleanup();
    }
    assert.deepEqual(await keysOf(keys.prefix), []);
  });
});
