import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { Agent, ApiKeyAuth, DefinableModule, TriggerEvent, Webhook } from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp, TestApp } from '../support/nest';

const KEY = 'async-hooks-key-0001';
const seen: { body: unknown; raw: unknown; auth?: unknown }[] = [];
const failures = new Map<string, number>();

@Controller('async')
class AsyncHooks {
  @Webhook('/orders', { mode: 'async', idempotencyKey: (event) => event.headers['x-delivery'] })
  onOrder(event: TriggerEvent<{ id: string }>) {
    seen.push({ body: event.body, raw: event.raw, auth: event.headers['x-api-key'] });
    return { input: `Handle order ${event.body.id}` };
  }

  /** Fails `fail` times per id, then runs. */
  @Webhook('/flaky', { mode: 'async', auth: false, maxAttempts: 3, retryDelay: 10 })
  onFlaky(event: TriggerEvent<{ id: string; fail: number }>) {
    const failed = failures.get(event.body.id) ?? 0;
    if (failed < event.body.fail) {
      failures.set(event.body.id, failed + 1);
      throw new Error(`flaky ${event.body.id} failure ${failed + 1}`);
    }
    return `Flaky ${event.body.id} done`;
  }
}

async function getRun(url: string): Promise<any> {
  const response = await fetch(url, { headers: { 'x-api-key': KEY } });
  return response.json();
}

async function waitForEnd(url: string): Promise<any> {
  for (;;) {
    const run = await getRun(url);
    if (!['queued', 'running'].includes(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const platform of PLATFORMS) {
  describe(`async webhooks on ${platform}`, () => {
    let server: TestApp;
    const model = new TestModel({ responses: (call) => `done: ${call.messages.at(-1)?.content}` });
    before(async () => {
      server = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent: new Agent({ model }), auth: new ApiKeyAuth({ keys: [KEY] }) })],
        controllers: [AsyncHooks],
      });
    });
    after(() => server.close());

    it('answers 202 { run_id } at once; the handler and the run happen from the queue; GET /runs/:id has the output', async () => {
      const accepted = await post(`${server.url}/async/orders`, { id: `o-${platform}` }, { 'x-api-key': KEY });
      assert.equal(accepted.status, 202);
      assert.equal(accepted.body.status, 'queued');
      const run = await waitForEnd(`${server.url}/runs/${accepted.body.run_id}`);
      assert.equal(run.status, 'completed');
      assert.equal(run.output.content, `done: Handle order o-${platform}`);
      assert.equal(run.trigger, 'POST /async/orders');
      assert.equal(run.attempts, 1);
      const delivered = seen.at(-1)!;
      assert.deepEqual(delivered.body, { id: `o-${platform}` });
      assert.equal(delivered.raw, null, 'no request object outside the request');
      assert.equal(delivered.auth, undefined, 'credential headers are not stored with a delivery');
    });

    it('a re-delivery with the same key answers the first run_id; the handler runs once', async () => {
      const before = seen.length;
      const headers = { 'x-api-key': KEY, 'x-delivery': `dup-${platform}` };
      const first = await post(`${server.url}/async/orders`, { id: `d-${platform}` }, headers);
      const again = await post(`${server.url}/async/orders`, { id: `d-${platform}` }, headers);
      assert.equal(again.status, 202);
      assert.equal(again.body.run_id, first.body.run_id);
      await waitForEnd(`${server.url}/runs/${first.body.run_id}`);
      const third = await post(`${server.url}/async/orders`, { id: `d-${platform}` }, headers);
      assert.deepEqual([third.status, third.body], [202, { run_id: first.body.run_id, status: 'completed' }]);
      assert.equal(seen.length - before, 1);
    });

    it('retries a failing delivery with backoff and completes it; after maxAttempts it is failed', async () => {
      const retried = await post(`${server.url}/async/flaky`, { id: `r-${platform}`, fail: 2 });
      const run = await waitForEnd(`${server.url}/runs/${retried.body.run_id}`);
      assert.deepEqual([run.status, run.attempts, run.max_attempts], ['completed', 3, 3]);
      assert.equal(run.output.content, `done: Flaky r-${platform} done`);

      const doomed = await post(`${server.url}/async/flaky`, { id: `f-${platform}`, fail: 5 });
      const failed = await waitForEnd(`${server.url}/runs/${doomed.body.run_id}`);
      assert.deepEqual([failed.status, failed.attempts], ['failed', 3]);
      assert.equal(failed.error.code, 'internal');
      assert.doesNotMatch(JSON.stringify(failed), /flaky f-/, "the handler's own message stays in the log");
    });
  });
}
