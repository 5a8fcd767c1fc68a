import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { Agent, ApiKeyAuth, serve, TelegramInterface, TriggerEvent, Webhook } from '../../lib';
import { startFakeTelegram, TestModel } from '../../lib/testing';
import { post, readSse } from '../support/nest';

@Controller('hooks')
class DocsHooks {
  @Webhook('/deploy', { auth: false })
  deployed(event: TriggerEvent<{ version: string }>) {
    return `Deployed ${event.body.version}`;
  }
}

describe('serve()', () => {
  it('serves an agent on its own Fastify app, with the uniform error body for parser errors', async () => {
    const agent = new Agent({ name: 'solo', model: new TestModel({ responses: () => 'served' }) });
    const server = await agent.serve({ port: 0, host: '127.0.0.1', logger: false, handleSignals: false, controllers: [DocsHooks] });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const ok = await post(`${server.url}/run`, { input: 'x' });
      assert.equal(ok.body.content, 'served');
      const hook = await post(`${server.url}/hooks/deploy`, { version: '1.2' });
      assert.equal(hook.body.content, 'served');
      const malformed = await post(`${server.url}/run`, '{"input": ');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error.code, 'invalid_request');
      const health = (await (await fetch(`${server.url}/health`)).json()) as any;
      assert.equal(health.agent, 'solo');
    } finally {
      await server.close();
    }
  });

  it('dev mode serves Swagger UI and an OpenAPI document of /run, /health and the webhooks', async () => {
    const agent = new Agent({ model: new TestModel({ responses: () => 'x' }) });
    const server = await serve(agent, {
      port: 0,
      host: '127.0.0.1',
      dev: true,
      logger: false,
      handleSignals: false,
      controllers: [DocsHooks],
      auth: new ApiKeyAuth({ keys: ['docs-key-0001'] }),
    });
    try {
      const ui = await fetch(`${server.url}/docs`);
      assert.equal(ui.status, 200);
      assert.match(await ui.text(), /swagger/i);
      const document = (await (await fetch(`${server.url}/docs-json`)).json()) as any;
      assert.ok(document.paths['/run'].post.requestBody);
      assert.ok(document.paths['/health'].get);
      assert.ok(document.paths['/hooks/deploy'].post);
    } finally {
      await server.close();
    }
  });

  it('serves only interfaces, as definable does, with the agent an interface names', async () => {
    const fake = await startFakeTelegram();
    const agent = new Agent({ model: new TestModel({ responses: () => 'from serve([...])' }) });
    const server = await serve([new TelegramInterface({ botToken: '1:x', apiRoot: fake.apiRoot, agent })], {
      name: 'my-bot',
      port: 0,
      host: '127.0.0.1',
      logger: false,
      handleSignals: false,
    });
    try {
      await fake.waitForCall((call) => call.method === 'getUpdates');
      fake.sendUserMessage({ chatId: 4, userId: 4, text: 'hi' });
      const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
      assert.equal(reply.params.text, 'from serve([...])');
      const health = (await (await fetch(`${server.url}/health`)).json()) as any;
      assert.equal(health.name, 'my-bot');
      assert.equal(health.interfaces[0].state, 'running');
    } finally {
      await server.close();
      await fake.close();
    }
    await assert.rejects(serve([new TelegramInterface({ botToken: '1:x' })]), /needs an agent/);
  });

  it('ends an open stream and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'fixtures', 'streaming-server.app.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit');
    const [url] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const response = await fetch(`${url}/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'go', stream: true }),
    });
    const events: string[] = [];
    for await (const frame of readSse(response)) {
      events.push(frame.event);
      if (frame.event === 'RunContent') child.kill('SIGTERM');
    }
    assert.deepEqual(events, ['RunStarted', 'RunContent', 'RunCancelled']);
    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});
