import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestingModule } from '@nestjs/testing';
import { DiscordInterface, InterfaceSupervisor } from '../../lib';
import { FakeDiscordServer, startFakeDiscord, TestModel } from '../../lib/testing';
import { bootModule, flush, withNest11Integrations } from '../support/nest';

const TOKEN = 'discord-test-token';

/** discord.js pointed at the fake, with no identify throttling. */
const clientOptions = (fake: FakeDiscordServer) => ({
  rest: { api: fake.api },
  ws: { buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }) as never },
});

const echo = () => ({ model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });

async function runningState(moduleRef: TestingModule): Promise<void> {
  while (moduleRef.get(InterfaceSupervisor).status()[0].state !== 'running') await new Promise((resolve) => setTimeout(resolve, 5));
}

// A hang guard, not a timing assertion.
describe('DiscordInterface through the real discord.js client', { timeout: 60_000 }, () => {
  it('answers mentions in a guild channel and direct messages, typing first', async () => {
    const fake = await startFakeDiscord({ token: TOKEN });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new DiscordInterface({ botToken: TOKEN, clientOptions: clientOptions(fake) })] });
    try {
      await fake.waitForReady(1);
      await runningState(moduleRef);
      fake.sendGuildMessage({ authorId: '5', content: 'no mention, no answer' });
      const mentionId = fake.sendGuildMessage({ authorId: '5', content: `<@${fake.bot.id}> hello there` });
      const reply = await fake.waitForCall((call) => call.method === 'POST' && call.path === `/channels/${fake.guild.channelId}/messages`);
      assert.equal(reply.body.content, 'echo: hello there');
      assert.equal(reply.body.message_reference?.message_id, mentionId);
      const typing = fake.calls.findIndex((call) => call.path === `/channels/${fake.guild.channelId}/typing`);
      assert.ok(typing >= 0 && typing < fake.calls.indexOf(reply), 'typing before the reply');
      fake.sendDirectMessage({ authorId: '6', content: 'a private word' });
      const dm = await fake.waitForCall((call) => call.method === 'POST' && /\/channels\/\d+\/messages$/.test(call.path) && call.body.content === 'echo: a private word');
      assert.notEqual(dm.path, `/channels/${fake.guild.channelId}/messages`);
      assert.equal(fake.calls.filter((call) => call.method === 'POST' && /\/messages$/.test(call.path)).length, 2, 'the unmentioned message got no answer');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('hands image attachments to the model as images', async () => {
    const fake = await startFakeDiscord();
    const model = new TestModel({ responses: () => 'a cat' });
    const moduleRef = await bootModule({ agent: { model }, interfaces: [new DiscordInterface({ botToken: TOKEN, respondTo: 'all', clientOptions: clientOptions(fake) })] });
    try {
      await fake.waitForReady(1);
      await runningState(moduleRef);
      fake.sendGuildMessage({ authorId: '5', content: 'what is this?', attachments: [{ filename: 'cat.png', url: 'https://cdn.example/cat.png', contentType: 'image/png', size: 10 }] });
      await fake.waitForCall((call) => call.method === 'POST' && /\/messages$/.test(call.path));
      const user = model.calls[0].messages.at(-1)!;
      assert.deepEqual(user.content, [{ type: 'text', text: 'what is this?' }, { type: 'image', url: 'https://cdn.example/cat.png' }]);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('restarts when the gateway closes for good after start-up (4004 after READY)', async () => {
    const fake = await startFakeDiscord();
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new DiscordInterface({ botToken: TOKEN, respondTo: 'all', clientOptions: clientOptions(fake) })] });
    try {
      await fake.waitForReady(1);
      await runningState(moduleRef);
      fake.closeGateway(4004);
      await fake.waitForReady(2);
      const status = moduleRef.get(InterfaceSupervisor).status()[0];
      assert.equal(status.restarts, 1);
      assert.match(status.lastError ?? '', /4004/);
      await runningState(moduleRef);
      fake.sendGuildMessage({ authorId: '5', content: 'back?' });
      const reply = await fake.waitForCall((call) => call.method === 'POST' && /\/messages$/.test(call.path));
      assert.equal(reply.body.content, 'echo: back?');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });

  it('parks the interface as failed when the token is refused', async () => {
    const fake = await startFakeDiscord({ token: TOKEN });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new DiscordInterface({ botToken: 'wrong-token', clientOptions: clientOptions(fake) })] });
    try {
      while (['starting', 'stopped'].includes(moduleRef.get(InterfaceSupervisor).status()[0].state)) await flush();
      const status = moduleRef.get(InterfaceSupervisor).status()[0];
      assert.equal(status.state, 'failed', status.lastError);
      assert.equal(fake.identifies, 0);
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });
});

describe('DiscordInterface with necord', { timeout: 60_000 }, () => {
  it("uses necord's client instead of opening a second gateway connection", withNest11Integrations, async () => {
    const { NecordModule } = await import('necord');
    const { GatewayIntentBits, Partials } = await import('discord.js');
    const fake = await startFakeDiscord({ token: TOKEN });
    const moduleRef = await bootModule({ agent: echo(), interfaces: [new DiscordInterface({ respondTo: 'all' })] }, [
      NecordModule.forRoot({
        token: TOKEN,
        intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
        partials: [Partials.Channel],
        skipRegistration: true,
        ...clientOptions(fake),
      }),
    ]);
    try {
      await runningState(moduleRef);
      fake.sendGuildMessage({ authorId: '9', content: 'through necord' });
      const reply = await fake.waitForCall((call) => call.method === 'POST' && /\/messages$/.test(call.path));
      assert.equal(reply.body.content, 'echo: through necord');
      assert.equal(fake.identifies, 1, 'one client, one gateway session');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });
});
