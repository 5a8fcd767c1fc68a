import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { Agent, ApiKeyAuth, DefinableModule, TriggerEvent, Webhook } from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp, TestApp } from '../support/nest';

const KEY = 'idem-hooks-key-0001';
const calls = { push: 0, nothing: 0, plain: 0 };

@Controller('hooks')
class GithubHooks {
  @Webhook('/github', { auth: false, idempotencyKey: (event) => event.headers['x-github-delivery'] })
  onPush(event: TriggerEvent<{ ref: string }>) {
    calls.push++;
    return `Summarize the push to ${event.body.ref}`;
  }

  @Webhook('/nothing', { auth: false, idempotencyKey: (event) => event.headers['x-delivery'] })
  onNothing() {
    calls.nothing++;
    return null;
  }

  @Webhook('/plain')
  onPlain(event: TriggerEvent<{ text: string }>) {
    calls.plain++;
    return event.body.text;
  }
}

for (const platform of PLATFORMS) {
  describe(`webhook idempotency on ${platform}`, () => {
    let server: TestApp;
    const model = new TestModel({ responses: (call) => `done: ${call.messages.at(-1)?.content}` });
    const agent = new Agent({ name: 'hooks', model });
    agent.on({ webhook: '/declared', auth: false, idempotencyKey: (event) => (event.body as { id: string }).id }, (event) => `declared ${(event.body as { id: string }).id}`);

    before(async () => {
      server = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent, auth: new ApiKeyAuth({ keys: [KEY] }) })],
        controllers: [GithubHooks],
      });
    });
    after(() => server.close());

    it('answers a re-delivered GitHub delivery id from the first run: the handler and the model run once', async () => {
      const before = { handler: calls.push, model: model.calls.length };
      const delivery = { 'x-github-delivery': `d-${platform}-1` };
      const first = await post(`${server.url}/hooks/github`, { ref: 'main' }, delivery);
      const again = await post(`${server.url}/hooks/github`, { ref: 'main' }, delivery);
      assert.equal(first.status, 200);
      assert.deepEqual(again.body, first.body);
      assert.equal(calls.push - before.handler, 1);
      assert.equal(model.calls.length - before.model, 1);
      const other = await post(`${server.url}/hooks/github`, { ref: 'main' }, { 'x-github-delivery': `d-${platform}-2` });
      assert.notEqual(other.body.run_id, first.body.run_id, 'another delivery runs');
      const changed = await post(`${server.url}/hooks/github`, { ref: 'dev' }, delivery);
      assert.equal(changed.status, 409);
      assert.equal(changed.body.error.code, 'idempotency_mismatch');
    });

    it('concurrent re-deliveries race to one run', async () => {
      const before = model.calls.length;
      const delivery = { 'x-github-delivery': `d-${platform}-race` };
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(`${server.url}/hooks/github`, { ref: 'race' }, delivery)));
      assert.equal(new Set(answers.map((answer) => answer.body.run_id)).size, 1);
      assert.equal(model.calls.length - before, 1);
    });

    it('a delivery whose handler ran nothing is not handled again', async () => {
      const before = calls.nothing;
      const first = await post(`${server.url}/hooks/nothing`, { a: 1 }, { 'x-delivery': `n-${platform}` });
      const again = await post(`${server.url}/hooks/nothing`, { a: 1 }, { 'x-delivery': `n-${platform}` });
      assert.deepEqual([first.status, first.body, again.status, again.body], [200, { status: 'ok' }, 200, { status: 'ok' }]);
      assert.equal(calls.nothing - before, 1);
    });

    it('takes the Idempotency-Key header on any webhook, scoped to the caller; agent.on() webhooks take idempotencyKey too', async () => {
      const before = calls.plain;
      const headers = { 'x-api-key': KEY, 'idempotency-key': `plain-${platform}` };
      const first = await post(`${server.url}/hooks/plain`, { text: 'hello' }, headers);
      const again = await post(`${server.url}/hooks/plain`, { text: 'hello' }, headers);
      assert.equal(first.status, 200);
      assert.deepEqual(again.body, first.body);
      assert.equal(calls.plain - before, 1);
      const declared = await post(`${server.url}/declared`, { id: `x-${platform}` });
      const declaredAgain = await post(`${server.url}/declared`, { id: `x-${platform}` });
      assert.equal(declared.body.content, `done: declared x-${platform}`);
      assert.deepEqual(declaredAgain.body, declared.body);
      const bad = await post(`${server.url}/hooks/plain`, { text: 'x' }, { 'x-api-key': KEY, 'idempotency-key': ' ' });
      assert.equal(bad.status, 400);
    });

    it('records webhook runs: GET /runs/:id shows the delivery with its trigger', async () => {
      const first = await post(`${server.url}/hooks/github`, { ref: 'recorded' }, { 'x-github-delivery': `d-${platform}-rec` });
      const response = await fetch(`${server.url}/runs/${first.body.run_id}`, { headers: { 'x-api-key': KEY } });
      const run = (await response.json()) as { status: string; trigger: string; output: { content: string } };
      assert.equal(run.status, 'completed');
      assert.equal(run.trigger, 'POST /hooks/github');
      assert.equal(run.output.content, first.body.content);
    });
  });
}
