import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Injectable } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { z } from 'zod';
import { Agent, ApiKeyAuth, defineTool, DefinableModule, OnEvent, QuotaOptions, RunQuotas, TelegramInterface, TriggerRegistry } from '../../lib';
import { startFakeTelegram, TestModel } from '../../lib/testing';
import { PLATFORMS, post, readSse, startApp } from '../support/nest';

const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
const prefixes: string[] = [];
/** A Redis key prefix of this test's own, removed at the end. */
function prefix(): string {
  const chosen = `definable-test:quota-e2e:${randomUUID()}`;
  prefixes.push(chosen);
  return chosen;
}
after(async () => {
  for (const chosen of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${chosen}*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  redis.disconnect();
});

const ok = () => ({ model: new TestModel({ responses: () => 'ok' }) });

for (const platform of PLATFORMS) {
  describe(`quotas over HTTP (${platform})`, () => {
    it('answers 429 quota_exceeded with Retry-After once a user used up their runs, other users unaffected', async () => {
      const app = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: ok(), quotas: { user: { requests: { limit: 2, window: 60 } } } })] });
      try {
        assert.equal((await post(`${app.url}/run`, { input: 'a', user_id: 'alice' })).status, 200);
        assert.equal((await post(`${app.url}/run`, { input: 'b', user_id: 'alice' })).status, 200);
        const refused = await post(`${app.url}/run`, { input: 'c', user_id: 'alice' });
        assert.equal(refused.status, 429);
        assert.equal(refused.body.error.code, 'quota_exceeded');
        assert.deepEqual({ ...refused.body.error.limit, retry_after: undefined }, { scope: 'user', kind: 'requests', limit: 2, retry_after: undefined });
        const retryAfter = Number(refused.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
        assert.equal(refused.body.error.limit.retry_after, retryAfter);
        assert.match(refused.body.error.message, /alice.*2 runs per 60 s/);
        // A stream and a background run are refused the same way, before anything is written or recorded.
        const stream = await fetch(`${app.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ input: 'd', user_id: 'alice' }) });
        assert.equal(stream.status, 429);
        assert.equal(stream.headers.get('retry-after') !== null, true);
        assert.equal((await post(`${app.url}/run`, { input: 'e', user_id: 'alice', background: true })).status, 429);
        // A refused request gives its Idempotency-Key back: the key is not held by a run that never began
        // (held, another body under it would be 409 idempotency_mismatch).
        assert.equal((await post(`${app.url}/run`, { input: 'h', user_id: 'alice' }, { 'idempotency-key': 'key-1' })).status, 429);
        assert.equal((await post(`${app.url}/run`, { input: 'another body', user_id: 'alice' }, { 'idempotency-key': 'key-1' })).status, 429);
        // Bob has his own quota.
        assert.equal((await post(`${app.url}/run`, { input: 'f', user_id: 'bob' })).status, 200);
        const events = await fetch(`${app.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ input: 'g', user_id: 'bob' }) });
        const names: string[] = [];
        for await (const event of readSse(events)) names.push(event.event);
        assert.equal(names.at(-1), 'RunCompleted');
      } finally {
        await app.close();
      }
    });
  });
}

describe('quotas and budgets', () => {
  it('stops a tool loop before its next model call once the token budget is used up, then refuses the user', async () => {
    const model = new TestModel({ responses: () => ({ toolCalls: [{ name: 'lookup', args: { q: 'x' } }], usage: { inputTokens: 90, outputTokens: 10 } }) });
    const lookup = defineTool({ name: 'lookup', description: 'Looks up', parameters: z.object({ q: z.string() }), execute: () => 'found' });
    const agent = new Agent({ name: 'looper', model, tools: [lookup], maxSteps: 10 });
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent, quotas: { user: { tokensPerDay: 150 } } })] });
    try {
      const stopped = await post(`${app.url}/run`, { input: 'loop', user_id: 'carol' });
      // 100 tokens after call 1 (under 150: call 2 goes), 200 after call 2: no call 3.
      assert.equal(model.calls.length, 2);
      assert.equal(stopped.status, 429);
      assert.equal(stopped.body.error.code, 'quota_exceeded');
      assert.match(stopped.body.error.message, /150 tokens per day/);
      const usage = await app.app.get(RunQuotas).usage({ userId: 'carol' });
      assert.equal(usage.user?.tokens?.used, 200);
      assert.equal(usage.user?.tokens?.limit, 150);
      const refused = await post(`${app.url}/run`, { input: 'again', user_id: 'carol' });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.limit.kind, 'tokens');
      assert.ok(Number(refused.headers.get('retry-after')) > 3600, 'a day budget frees up within a day');
      assert.equal(model.calls.length, 2, 'a refused run calls no model');
      // A stream stopped by the budget ends with RunError quota_exceeded.
      const other = await fetch(`${app.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ input: 'loop', user_id: 'dave' }) });
      const events = [];
      for await (const event of readSse(other)) events.push(event);
      assert.equal(events.at(-1)?.event, 'RunError');
      assert.equal(events.at(-1)?.data.error.code, 'quota_exceeded');
      assert.equal(model.calls.length, 4);
    } finally {
      await app.close();
    }
  });

  it('charges scheduled and event runs to the agent as their principal, and logs the refusal', async () => {
    @Injectable()
    class Signups {
      @OnEvent('signup')
      greet(name: string) {
        return `Welcome ${name}`;
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRoot({ agent: { name: 'greeter', ...ok() }, quotas: { user: { requests: { limit: 1, window: 3600 } } }, server: { enabled: false } }), EventEmitterModule.forRoot()],
      providers: [Signups],
    }).compile();
    const logged: string[] = [];
    moduleRef.useLogger({ log() {}, error: (message: unknown) => void logged.push(String(message)), warn: (message: unknown) => void logged.push(String(message)), debug() {}, verbose() {} });
    await moduleRef.init();
    try {
      const emitter = moduleRef.get(EventEmitter2);
      await emitter.emitAsync('signup', 'Ann');
      await emitter.emitAsync('signup', 'Ben');
      const quotas = moduleRef.get(RunQuotas);
      for (let i = 0; i < 100 && !logged.some((line) => /over quota/.test(line)); i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal((await quotas.usage({ userId: 'agent:greeter' })).user?.requests?.used, 1);
      assert.ok(logged.some((line) => /event\(signup\).*did not run, over quota/.test(line)), logged.join('\n'));
      assert.ok(moduleRef.get(TriggerRegistry));
    } finally {
      await moduleRef.close();
    }
  });

  it('answers a chat user over quota with the polite message, not the error message', async () => {
    const token = '123456:quota-token';
    const telegram = await startFakeTelegram({ tokens: [token] });
    const moduleRef = await Test.createTestingModule({
      imports: [
        DefinableModule.forRoot({
          agent: ok(),
          interfaces: [new TelegramInterface({ botToken: token, apiRoot: telegram.apiRoot })],
          quotas: { user: { requests: { limit: 1, window: 3600 } }, message: 'You have used today’s questions; come back tomorrow.' },
          server: { enabled: false },
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      await telegram.waitForCall((call) => call.method === 'getUpdates');
      telegram.sendUserMessage({ chatId: 42, userId: 7, text: 'first', messageId: 1 });
      assert.equal((await telegram.waitForCall((call) => call.method === 'sendMessage')).params.text, 'ok');
      telegram.sendUserMessage({ chatId: 42, userId: 7, text: 'second', messageId: 2 });
      const polite = await telegram.waitForCall((call) => call.method === 'sendMessage' && call.params.reply_parameters?.message_id === 2);
      assert.equal(polite.params.text, 'You have used today’s questions; come back tomorrow.');
      // Another person in another chat is answered.
      telegram.sendUserMessage({ chatId: 43, userId: 8, text: 'hello', messageId: 3 });
      assert.equal((await telegram.waitForCall((call) => call.method === 'sendMessage' && Number(call.params.chat_id) === 43)).params.text, 'ok');
    } finally {
      await moduleRef.close();
      await telegram.close();
    }
  });

  it('shares the counters between two app instances through Redis', async () => {
    const quotas: QuotaOptions = { global: { requests: { limit: 3, window: 60 } }, redis, keyPrefix: prefix() };
    const first = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: ok(), quotas })] });
    const second = await startApp('express', { imports: [DefinableModule.forRoot({ agent: ok(), quotas })] });
    try {
      assert.equal((await post(`${first.url}/run`, { input: 'a' })).status, 200);
      assert.equal((await post(`${second.url}/run`, { input: 'b' })).status, 200);
      assert.equal((await post(`${first.url}/run`, { input: 'c' })).status, 200);
      const refused = await post(`${second.url}/run`, { input: 'd' });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.limit.scope, 'global');
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('fails closed when the quota store is down (503 quota_unavailable), open when configured so', async () => {
    const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    down.on('error', () => {});
    const closed = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: ok(), quotas: { user: { requests: { limit: 5, window: 60 } }, redis: down, keyPrefix: prefix() } })] });
    try {
      const refused = await post(`${closed.url}/run`, { input: 'a' });
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, 'quota_unavailable');
    } finally {
      await closed.close();
    }
    const open = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: ok(), quotas: { user: { requests: { limit: 5, window: 60 } }, redis: down, keyPrefix: prefix(), failOpen: true } })] });
    try {
      assert.equal((await post(`${open.url}/run`, { input: 'a' })).status, 200);
    } finally {
      await open.close();
      down.disconnect();
    }
  });

  it('shows the usage in /health to trusted callers only', async () => {
    const key = 'health-key-123456';
    const app = await startApp('fastify', {
      imports: [DefinableModule.forRoot({ agent: { name: 'main', ...ok() }, auth: new ApiKeyAuth({ keys: [key] }), quotas: { user: { requests: { limit: 5, window: 60 } }, agent: { tokensPerDay: 1000 }, global: { requests: { limit: 100, window: 60 } } } })],
    });
    try {
      assert.equal((await post(`${app.url}/run`, { input: 'a', user_id: 'erin' }, { 'x-api-key': key })).status, 200);
      const anonymous: any = await (await fetch(`${app.url}/health`)).json();
      assert.equal(anonymous.quotas, undefined);
      const trusted: any = await (await fetch(`${app.url}/health?user_id=erin`, { headers: { 'x-api-key': key } })).json();
      assert.equal(trusted.quotas.global.requests.used, 1);
      assert.equal(trusted.quotas.global.requests.limit, 100);
      assert.equal(trusted.quotas.agents.main.tokens.limit, 1000);
      assert.equal(trusted.quotas.user.requests.used, 1);
    } finally {
      await app.close();
    }
  });
});
