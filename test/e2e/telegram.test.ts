import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestingModule } from '@nestjs/testing';
import { AgentOptions, DefinableModule, InterfaceSupervisor, TelegramInterface } from '../../lib';
import { FakeTelegramServer, startFakeTelegram, TestModel } from '../../lib/testing';
import { bootModule, flush, PLATFORMS, post, startApp, withNest11Integrations } from '../support/nest';

const TOKEN = '123456:test-token';

/** Waits until the supervisor reports the interface running. */
async function running(moduleRef: TestingModule, fake: FakeTelegramServer): Promise<void> {
  await fake.waitForCall((call) => call.method === 'getUpdates');
  assert.equal(moduleRef.get(InterfaceSupervisor).status()[0].state, 'running');
}

const echo = (): AgentOptions => ({ model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });

// A hang guard, not a timing assertion: a broken poller would otherwise stall the whole suite.
describe('TelegramInterface through the real telegraf client', { timeout: 60_000 }, () => {
  it('answers a message: typing first, then the reply to that message', async () => {
    const fake = await startFakeTelegram({ tokens: [TOKEN] });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await running(moduleRef, fake);
      fake.sendUserMessage({ chatId: 42, userId: 7, text: 'Hello bot', messageId: 5 });
      const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
      assert.equal(reply.params.text, 'echo: Hello bot');
      assert.equal(Number(reply.params.chat_id), 42);
      assert.equal(reply.params.reply_parameters.message_id, 5);
      const typing = fake.calls.findIndex((call) => call.method === 'sendChatAction' && call.params.action === 'typing');
      assert.ok(typing >= 0 && typing < fake.calls.indexOf(reply), 'typing is sent before the reply');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('downloads a photo and hands it to the model as image bytes, never the token-bearing URL', async () => {
    const fake = await startFakeTelegram();
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    fake.addFile('photo-1', jpeg);
    const model = new TestModel({ responses: () => 'nice photo' });
    const moduleRef = await bootModule({ agent: { model }, interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await running(moduleRef, fake);
      fake.pushUpdate({
        message: {
          message_id: 50,
          date: 0,
          chat: { id: 11, type: 'private' },
          from: { id: 11, is_bot: false, first_name: 'P' },
          caption: 'look',
          photo: [{ file_id: 'photo-1', file_unique_id: 'p1', width: 10, height: 10, file_size: jpeg.length }],
        },
      });
      await fake.waitForCall((call) => call.method === 'sendMessage');
      const user = model.calls[0].messages.at(-1)!;
      assert.deepEqual(user.content, [{ type: 'text', text: 'look' }, { type: 'image', url: `data:image/jpeg;base64,${jpeg.toString('base64')}` }]);
      assert.doesNotMatch(JSON.stringify(model.calls[0].messages), new RegExp(TOKEN));
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('splits a long reply into messages within 4096 characters', async () => {
    const fake = await startFakeTelegram();
    const long = Array.from({ length: 900 }, (_, i) => `word${i}`).join(' ');
    const moduleRef = await bootModule({ agent: { model: new TestModel({ responses: () => long }) }, interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot, parseMode: null })] });
    try {
      await running(moduleRef, fake);
      fake.sendUserMessage({ chatId: 1, userId: 1, text: 'long' });
      await fake.waitForCall((call) => call.method === 'sendMessage' && String(call.params.text).endsWith('word899'));
      const texts = fake.sentTexts(1);
      assert.ok(texts.length >= 2);
      assert.ok(texts.every((text) => text.length <= 4096));
      assert.equal(texts.join(' '), long);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('ignores a duplicate update and confirms offsets only after handing updates over', async () => {
    const fake = await startFakeTelegram();
    const model = new TestModel({ responses: () => 'once' });
    const moduleRef = await bootModule({ agent: { model }, interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await running(moduleRef, fake);
      const first = fake.sendUserMessage({ chatId: 3, userId: 3, text: 'hi', messageId: 77 });
      fake.sendUserMessage({ chatId: 3, userId: 3, text: 'hi', messageId: 77 });
      const marker = fake.sendUserMessage({ chatId: 3, userId: 3, text: 'after', messageId: 78 });
      await fake.waitForCall((call) => call.method === 'sendMessage' && fake.sentTexts(3).length === 2);
      assert.equal(model.calls.length, 2, 'the duplicate of message 77 was not answered');
      await fake.waitForCall((call) => call.method === 'getUpdates' && Number(call.params.offset) > marker);
      assert.ok(fake.confirmedOffset > first);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('falls back to plain text when Telegram cannot parse the markup, and retries after a 429', async () => {
    const fake = await startFakeTelegram();
    const moduleRef = await bootModule({ agent: { model: new TestModel({ responses: () => 'a *broken markup' }) }, interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await running(moduleRef, fake);
      fake.fail('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 });
      fake.sendUserMessage({ chatId: 9, userId: 9, text: 'go' });
      const plain = await fake.waitForCall((call) => call.method === 'sendMessage' && call.params.parse_mode === undefined);
      assert.equal(plain.params.text, 'a *broken markup');
      const attempts = fake.calls.filter((call) => call.method === 'sendMessage');
      assert.deepEqual(attempts.map((call) => call.params.parse_mode ?? 'plain'), ['Markdown', 'Markdown', 'plain'], '429, then the parse error, then plain');
      assert.ok(attempts[1].at - attempts[0].at >= 900, 'waited retry_after before retrying');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('parks the interface as failed when the token is refused (401), without retrying', async () => {
    const fake = await startFakeTelegram({ tokens: ['other:token'] });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await fake.waitForCall((call) => call.method === 'getMe');
      while (moduleRef.get(InterfaceSupervisor).status()[0].state === 'starting') await flush();
      const status = moduleRef.get(InterfaceSupervisor).status()[0];
      assert.equal(status.state, 'failed');
      assert.match(status.lastError ?? '', /401/);
      assert.equal(fake.calls.filter((call) => call.method === 'getMe').length, 1);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('restarts a poller that fails after start-up (409 Conflict) and answers again', async () => {
    const fake = await startFakeTelegram({ maxHoldMs: 50 });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: fake.apiRoot })] });
    try {
      await running(moduleRef, fake);
      fake.fail('getUpdates', { error_code: 409, description: 'Conflict: terminated by other getUpdates request' });
      // telegraf keeps its getMe answer, so a relaunch shows as a second deleteWebhook.
      await fake.waitForCall((call) => call.method === 'deleteWebhook' && fake.calls.filter((c) => c.method === 'deleteWebhook').length === 2);
      const status = moduleRef.get(InterfaceSupervisor).status()[0];
      assert.equal(status.restarts, 1);
      assert.match(status.lastError ?? '', /409 Conflict/);
      fake.sendUserMessage({ chatId: 5, userId: 5, text: 'still there?' });
      const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
      assert.equal(reply.params.text, 'echo: still there?');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it("attaches to nestjs-telegraf's bot instead of polling a second time", withNest11Integrations, async () => {
    const { TelegrafModule } = await import('nestjs-telegraf');
    const fake = await startFakeTelegram();
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new TelegramInterface()] }, [
      TelegrafModule.forRoot({ token: TOKEN, options: { telegram: { apiRoot: fake.apiRoot } }, launchOptions: false }),
    ]);
    try {
      await running(moduleRef, fake);
      fake.sendUserMessage({ chatId: 8, userId: 8, text: 'via nestjs-telegraf' });
      const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
      assert.equal(reply.params.text, 'echo: via nestjs-telegraf');
      assert.equal(fake.calls.filter((call) => call.method === 'getMe').length, 1, 'one bot, one poller');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });
});

describe('TelegramInterface in webhook mode', { timeout: 60_000 }, () => {
  for (const platform of PLATFORMS) {
    it(`serves the update route inside Nest routing and checks the secret (${platform})`, async () => {
      const fake = await startFakeTelegram();
      const telegram = new TelegramInterface({
        botToken: TOKEN,
        apiRoot: fake.apiRoot,
        mode: 'webhook',
        webhookUrl: 'https://bot.example.com/telegram/webhook',
        webhookSecret: 'webhook-secret-1',
      });
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo(), interfaces: [telegram] })] });
      try {
        const setWebhook = await fake.waitForCall((call) => call.method === 'setWebhook');
        assert.equal(setWebhook.params.url, 'https://bot.example.com/telegram/webhook');
        assert.equal(setWebhook.params.secret_token, 'webhook-secret-1');
        while (server.app.get(InterfaceSupervisor).status()[0].state !== 'running') await flush();
        const update = { update_id: 1, message: { message_id: 3, date: 0, chat: { id: 77, type: 'private' }, from: { id: 77, is_bot: false, first_name: 'A' }, text: 'via webhook' } };
        assert.equal((await post(`${server.url}/telegram/webhook`, update)).status, 401);
        assert.equal((await post(`${server.url}/telegram/webhook`, update, { 'x-telegram-bot-api-secret-token': 'wrong' })).status, 401);
        const accepted = await post(`${server.url}/telegram/webhook`, update, { 'x-telegram-bot-api-secret-token': 'webhook-secret-1' });
        assert.equal(accepted.status, 200);
        const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
        assert.equal(reply.params.text, 'echo: via webhook');
      } finally {
        await server.close();
        await fake.close();
      }
    });
  }

  it('refuses webhook mode without a secret', () => {
    assert.throws(() => new TelegramInterface({ botToken: TOKEN, mode: 'webhook', webhookUrl: 'https://x.example/hook' }), /webhookSecret/);
  });
});
