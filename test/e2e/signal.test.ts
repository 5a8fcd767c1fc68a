import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InterfaceSupervisor, SignalInterface, SqliteIdentityResolver, TelegramInterface } from '../../lib';
import { startFakeSignal, startFakeTelegram, TestModel } from '../../lib/testing';
import { tempDir } from '../support/fixtures';
import { bootModule } from '../support/nest';

const BOT = '+15550001';
const dir = tempDir();
after(() => dir.cleanup());

// A hang guard, not a timing assertion.
describe('SignalInterface against a fake signal-cli-rest-api', { timeout: 60_000 }, () => {
  it('answers direct and group messages, typing first', async () => {
    const fake = await startFakeSignal({ maxHoldMs: 200 });
    const model = new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` });
    const moduleRef = await bootModule({ agent: { model }, interfaces: [new SignalInterface({ baseUrl: fake.baseUrl, number: BOT, receiveTimeout: 1 })] });
    try {
      await fake.waitForCall((call) => call.path.startsWith('/v1/receive/'));
      fake.receiveMessage({ number: BOT, from: '+15550002', text: 'hello signal' });
      const reply = await fake.waitForCall((call) => call.path === '/v2/send');
      assert.deepEqual(reply.body, { number: BOT, recipients: ['+15550002'], message: 'echo: hello signal' });
      const typing = fake.calls.findIndex((call) => call.method === 'PUT' && call.path.startsWith('/v1/typing-indicator/'));
      assert.ok(typing >= 0 && typing < fake.calls.indexOf(reply));
      fake.receiveMessage({ number: BOT, from: '+15550003', text: 'in the group', groupId: 'grp-1' });
      const group = `group.${Buffer.from('grp-1').toString('base64')}`;
      await fake.waitForCall((call) => call.path === '/v2/send' && call.body.recipients[0] === group);
      assert.deepEqual(fake.sentTo(group), ['echo: in the group']);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('restarts a receive loop that fails after start-up', async () => {
    const fake = await startFakeSignal({ maxHoldMs: 100 });
    const moduleRef = await bootModule({
      agent: { model: new TestModel({ responses: () => 'back' }) },
      interfaces: [new SignalInterface({ baseUrl: fake.baseUrl, number: BOT, receiveTimeout: 1 })],
    });
    try {
      await fake.waitForCall((call) => call.path.startsWith('/v1/receive/'));
      fake.fail('/v1/receive/', 500);
      await fake.waitForCall((call) => call.path === '/v1/about' && fake.calls.filter((c) => c.path === '/v1/about').length === 2);
      const status = moduleRef.get(InterfaceSupervisor).status()[0];
      assert.equal(status.restarts, 1);
      assert.match(status.lastError ?? '', /answered 500/);
      fake.receiveMessage({ number: BOT, from: '+15550009', text: 'are you back?' });
      const reply = await fake.waitForCall((call) => call.path === '/v2/send');
      assert.equal(reply.body.message, 'back');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('links a Telegram account and a Signal account into one history', async () => {
    const telegram = await startFakeTelegram({ maxHoldMs: 200 });
    const signal = await startFakeSignal({ maxHoldMs: 200 });
    const identityResolver = new SqliteIdentityResolver({ path: join(dir.path, 'identity.db') });
    const model = new TestModel({ responses: (call) => `turns: ${call.messages.filter((m) => m.role === 'user').length}` });
    const moduleRef = await bootModule({
      agent: { model },
      identityResolver,
      interfaces: [
        new TelegramInterface({ botToken: '1:token', apiRoot: telegram.apiRoot, parseMode: null }),
        new SignalInterface({ baseUrl: signal.baseUrl, number: BOT, receiveTimeout: 1 }),
      ],
    });
    try {
      await telegram.waitForCall((call) => call.method === 'getUpdates');
      await signal.waitForCall((call) => call.path.startsWith('/v1/receive/'));
      telegram.sendUserMessage({ chatId: 10, userId: 10, text: 'I like tea.' });
      await telegram.waitForCall((call) => call.method === 'sendMessage');
      telegram.sendUserMessage({ chatId: 10, userId: 10, text: '/link' });
      const codeMessage = await telegram.waitForCall((call) => call.method === 'sendMessage' && /link code/.test(call.params.text));
      const code = /link code is ([A-Z0-9]+)/.exec(codeMessage.params.text)![1];
      signal.receiveMessage({ number: BOT, from: '+15550077', text: `/link ${code}` });
      await signal.waitForCall((call) => call.path === '/v2/send' && /Linked/.test(call.body.message));
      signal.receiveMessage({ number: BOT, from: '+15550077', text: 'What do I like?' });
      const answer = await signal.waitForCall((call) => call.path === '/v2/send' && /turns/.test(call.body.message));
      assert.equal(answer.body.message, 'turns: 2', 'the Signal account continues the Telegram conversation');
      assert.deepEqual(await identityResolver.getIdentities('telegram:10'), [{ platform: 'signal', platformUserId: '+15550077' }]);
    } finally {
      await moduleRef.close();
      await identityResolver.close();
      await telegram.close();
      await signal.close();
    }
  });
});

describe('SignalInterface receive loop', { timeout: 120_000 }, () => {
  it('leaves no abort listeners behind: after 1,000 polls no signal given to fetch holds more than one', async () => {
    const fake = await startFakeSignal({ maxHoldMs: 1 });
    const seen = new Set<AbortSignal>();
    const realFetch = globalThis.fetch;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      if (init?.signal) seen.add(init.signal);
      return realFetch(input, init);
    }) as typeof fetch;
    const moduleRef = await bootModule({
      agent: { model: new TestModel({ responses: () => 'ok' }) },
      interfaces: [new SignalInterface({ baseUrl: fake.baseUrl, number: BOT, receiveTimeout: 1 })],
    });
    try {
      await fake.waitForCall(() => fake.calls.filter((call) => call.path.startsWith('/v1/receive/')).length >= 1_000);
      const most = Math.max(...[...seen].map((signal) => getEventListeners(signal, 'abort').length));
      assert.ok(most <= 1, `a signal given to fetch holds ${most} abort listeners`);
    } finally {
      globalThis.fetch = realFetch;
      await moduleRef.close();
      await fake.close();
    }
  });
});
