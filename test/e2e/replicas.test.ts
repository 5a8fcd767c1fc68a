import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { Agent, Cron, DefinableModule, DiscordInterface, InterfaceSupervisor, postgresStores, redisCluster, TelegramInterface, TriggerEvent } from '../../lib';
import { FakeOpenAIServer, startFakeDiscord, startFakeOpenAI, startFakeTelegram, TestModel } from '../../lib/testing';
import { modelFor } from '../support/fixtures';
import { bootModule, post, readSse, SseEvent, startApp, TestApp } from '../support/nest';
import { PG_URL, pgSchema, redisPrefix, REDIS_URL } from '../support/replicas';
import { startTcpProxy, TcpProxy } from '../support/tcp-proxy';

const WORDS = Array.from({ length: 60 }, (_, index) => `w${index} `);

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

/** Two replicas in this process — A on Fastify, B on Express — on one Redis prefix and one PostgreSQL schema. */
describe('two replicas sharing Redis (cluster) and PostgreSQL (stores)', () => {
  const keys = redisPrefix();
  const pg = pgSchema();
  let fake: FakeOpenAIServer;
  let a: TestApp;
  let b: TestApp;

  const replica = (platform: 'fastify' | 'express') =>
    startApp(platform, {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'main', model: modelFor(fake) }),
          cluster: redisCluster({ connection: REDIS_URL, prefix: keys.prefix, leaseTtl: 3000 }),
          stores: postgresStores({ connectionString: PG_URL, schema: pg.schema }),
        }),
      ],
    });

  before(async () => {
    fake = await startFakeOpenAI();
    a = await replica('fastify');
    b = await replica('express');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await fake?.close();
    await keys.cleanup();
    await pg.cleanup();
  });

  it('a session continued through A, then B, sees its history', async () => {
    const first = await post(`${a.url}/run`, { input: 'my name is Ada', session_id: 'shared-session', user_id: 'ada' });
    assert.equal(first.status, 200);
    const second = await post(`${b.url}/run`, { input: 'what is my name?', session_id: 'shared-session', user_id: 'ada' });
    assert.equal(second.status, 200);
    const sent = fake.requests.at(-1)!.body.messages.map((message: any) => message.content);
    assert.deepEqual(sent.slice(-3), ['my name is Ada', 'You said: my name is Ada', 'what is my name?'], 'B sent the model the history A wrote');
  });

  it('a run started on A is streamed and cancelled through B', async () => {
    // A slow stream: the run is still going when B cancels it.
    fake.enqueue({ content: WORDS.join(''), chunks: WORDS, chunkDelayMs: 50 });
    const started = await post(`${a.url}/run`, { input: 'a long answer', background: true });
    assert.equal(started.status, 202);
    const runId = started.body.run_id;
    const response = await fetch(`${b.url}/runs/${runId}/events`, { headers: { accept: 'text/event-stream' } });
    assert.equal(response.status, 200);
    const events: SseEvent[] = [];
    let cancelled: Promise<{ status: number; body: any }> | undefined;
    for await (const event of readSse(response)) {
      events.push(event);
      if (event.event === 'RunContent' && !cancelled) cancelled = post(`${b.url}/runs/${runId}/cancel`, {});
    }
    const cancel = await cancelled!;
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.status, 'cancelled', 'the cancel reached the replica that runs it; B answers with the ended run');
    assert.equal(events.at(-1)?.event, 'RunCancelled', 'the stream read through B ends with the cancel');
    assert.ok(events.filter((event) => event.event === 'RunContent').length < WORDS.length, 'cut before the end');
    assert.equal((await getJson(`${a.url}/runs/${runId}`)).body.status, 'cancelled');
  });

  it('shows the cluster and the stores in /health, ready while Redis and PostgreSQL answer', async () => {
    const health = (await getJson(`${b.url}/health`)).body;
    assert.equal(health.cluster.redis, 'up');
    assert.match(health.cluster.replica, /\S/);
    assert.equal(health.stores, 'up');
    assert.deepEqual(await getJson(`${a.url}/health/ready`), { status: 200, body: { status: 'ready' } });
  });
});

describe('a replica whose Redis and PostgreSQL do not answer', () => {
  let fake: FakeOpenAIServer;
  let app: TestApp;
  before(async () => {
    fake = await startFakeOpenAI();
    app = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'main', model: modelFor(fake) }),
          // Ports that refuse: the app starts anyway and says it is not ready.
          cluster: redisCluster({ connection: 'redis://127.0.0.1:1', prefix: 'definable-test-unreachable' }),
          stores: postgresStores({ connectionString: 'postgres://postgres@127.0.0.1:1/test' }),
        }),
      ],
    });
  });
  after(async () => {
    await app?.close();
    await fake?.close();
  });

  it('starts, and answers /health/ready 503 naming Redis and the database', async () => {
    const ready = await getJson(`${app.url}/health/ready`);
    assert.deepEqual(ready, { status: 503, body: { status: 'unavailable', unreachable: ['redis', 'database'] } });
    const health = (await getJson(`${app.url}/health`)).body;
    assert.equal(health.status, 'ok', '/health is liveness: the process lives');
    assert.notEqual(health.cluster.redis, 'up');
    assert.equal(health.stores, 'down');
  });
});

/** What a tick job asked the model: the instants (ms) of the ticks run, with how many runs each. */
function ticksRun(fake: FakeOpenAIServer): Map<number, number> {
  const runs = new Map<number, number>();
  for (const request of fake.requests) {
    const match = /^tick (\S+)$/.exec(String(request.body?.messages?.at(-1)?.content ?? ''));
    if (match) runs.set(Date.parse(match[1]), (runs.get(Date.parse(match[1])) ?? 0) + 1);
  }
  return runs;
}

@Controller()
class EverySecond {
  @Cron('* * * * * *', { name: 'restart-tick' })
  tick(event: TriggerEvent) {
    return `tick ${event.timestamp.toISOString()}`;
  }
}

describe('Redis and PostgreSQL restarting under two replicas (each reaching them through a proxy the test cuts)', { timeout: 120_000 }, () => {
  const keys = redisPrefix();
  const pg = pgSchema();
  let fake: FakeOpenAIServer;
  const proxies: TcpProxy[] = [];
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
    for (const proxy of proxies) await proxy.close();
    await fake?.close();
    await keys.cleanup();
    await pg.cleanup();
  });

  const ready = async (app: TestApp) => (await fetch(`${app.url}/health/ready`)).status;
  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('become unready while the engines are away, reconnect without a restart, and run each cron tick at most once throughout', async () => {
    fake = await startFakeOpenAI();
    for (const platform of ['fastify', 'express'] as const) {
      const redis = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379));
      const postgres = await startTcpProxy(Number(new URL(PG_URL).port || 5432));
      proxies.push(redis, postgres);
      apps.push(
        await startApp(platform, {
          imports: [
            DefinableModule.forRoot({
              agent: new Agent({ name: 'main', model: modelFor(fake) }),
              cluster: redisCluster({ connection: `redis://127.0.0.1:${redis.port}`, prefix: keys.prefix, leaseTtl: 2000 }),
              stores: postgresStores({ connectionString: PG_URL.replace(/:\d+\//, `:${postgres.port}/`), schema: pg.schema }),
            }),
          ],
          controllers: [EverySecond],
        }),
      );
    }
    const first = await post(`${apps[0].url}/run`, { input: 'before', session_id: 'restart', user_id: 'u' });
    assert.equal(first.status, 200);
    await until(async () => ticksRun(fake).size >= 2, 'ticks before the outage');

    // Both engines go away for every replica, as when the services restart.
    for (const proxy of proxies) await proxy.cut();
    const cutAt = Date.now();
    for (const app of apps) {
      const body = await (await fetch(`${app.url}/health/ready`)).json();
      assert.deepEqual(body, { status: 'unavailable', unreachable: ['redis', 'database'] });
    }
    const during = await post(`${apps[1].url}/run`, { input: 'during', session_id: 'restart', user_id: 'u' });
    assert.ok(during.status >= 500 && during.status < 600 && typeof during.body?.error?.code === 'string', `a run during the outage fails cleanly: ${during.status} ${JSON.stringify(during.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 2500));

    for (const proxy of proxies) await proxy.restore();
    const restoredAt = Date.now();
    for (const app of apps) await until(async () => (await ready(app)) === 200, 'readiness after the restart');
    const after = await post(`${apps[1].url}/run`, { input: 'after', session_id: 'restart', user_id: 'u' });
    assert.equal(after.status, 200, JSON.stringify(after.body));
    const sent = fake.requests.at(-1)!.body.messages.map((message: any) => message.content);
    assert.ok(sent.includes('before'), 'the session written before the outage is read after it');
    await until(async () => [...ticksRun(fake).keys()].some((instant) => instant > restoredAt + 1000), 'ticks after the restart');

    const runs = ticksRun(fake);
    assert.deepEqual([...runs].filter(([, count]) => count !== 1), [], 'no tick ran twice, before, during or after');
    assert.equal([...runs.keys()].filter((instant) => instant > cutAt + 500 && instant < restoredAt - 500).length, 0, 'no tick ran while Redis was away (not claimable: not run, never twice)');
  });
});

describe('a Discord bot on two replicas: one gateway session, handed over when its replica stops', { timeout: 60_000 }, () => {
  const keys = redisPrefix();
  after(() => keys.cleanup());

  it('identifies once, answers from the leader, and the standby takes over when the leader shuts down', async () => {
    const TOKEN = 'discord-replicas-token';
    const fake = await startFakeDiscord({ token: TOKEN });
    const boot = () =>
      bootModule({
        agent: { model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) },
        interfaces: [
          new DiscordInterface({
            botToken: TOKEN,
            clientOptions: { rest: { api: fake.api }, ws: { buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }) as never } },
          }),
        ],
        cluster: redisCluster({ connection: REDIS_URL, prefix: keys.prefix, leaseTtl: 1500 }),
      });
    const modules: TestingModule[] = [];
    try {
      modules.push(await boot(), await boot());
      const roles = () => modules.map((moduleRef) => moduleRef.get(InterfaceSupervisor).status()[0]);
      const settled = async () => {
        for (;;) {
          const states = roles();
          if (states.some((state) => state.state === 'running') && states.some((state) => state.role === 'standby')) return states;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const states = await settled();
      assert.deepEqual(states.map((state) => state.role).sort(), ['leader', 'standby']);
      assert.equal(fake.identifies, 1, 'one gateway session for the token');
      fake.sendGuildMessage({ authorId: '5', content: `<@${fake.bot.id}> first` });
      await fake.waitForCall((call) => call.method === 'POST' && call.body?.content === 'echo: first');

      const leader = modules[states.findIndex((state) => state.role === 'leader')];
      const standby = modules.find((moduleRef) => moduleRef !== leader)!;
      await leader.close();
      modules.splice(modules.indexOf(leader), 1);
      while (standby.get(InterfaceSupervisor).status()[0].state !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(standby.get(InterfaceSupervisor).status()[0].role, 'leader');
      assert.equal(fake.identifies, 2, 'the standby opened the one session after the leader closed its own');
      fake.sendGuildMessage({ authorId: '5', content: `<@${fake.bot.id}> second` });
      await fake.waitForCall((call) => call.method === 'POST' && call.body?.content === 'echo: second');
      assert.equal(fake.calls.filter((call) => call.method === 'POST' && /^echo: /.test(call.body?.content ?? '')).length, 2, 'each message answered once');
    } finally {
      for (const moduleRef of modules) await moduleRef.close();
      await fake.close();
    }
  });
});

describe('a Telegram bot in webhook mode on two replicas (no leader: the shared inbox and the chat locks decide)', { timeout: 60_000 }, () => {
  const keys = redisPrefix();
  const pg = pgSchema();
  after(async () => {
    await keys.cleanup();
    await pg.cleanup();
  });

  it('answers each update once when Telegram delivers it to both, and one chat in order when its updates land on either', async () => {
    const fake = await startFakeTelegram();
    const replica = (platform: 'fastify' | 'express') =>
      startApp(platform, {
        imports: [
          DefinableModule.forRoot({
            // A slow answer: updates of one chat reach both replicas while earlier ones are being answered.
            agent: { model: new TestModel({ responses: (call) => ({ content: `echo: ${call.messages.at(-1)?.content}`, delayMs: 40 }) }) },
            interfaces: [
              new TelegramInterface({ botToken: 'webhook-replicas-token', apiRoot: fake.apiRoot, mode: 'webhook', webhookUrl: 'https://bot.example.com/telegram/webhook', webhookSecret: 'replica-secret' }),
            ],
            cluster: redisCluster({ connection: REDIS_URL, prefix: keys.prefix, leaseTtl: 2000 }),
            stores: postgresStores({ connectionString: PG_URL, schema: pg.schema }),
          }),
        ],
      });
    const apps = [await replica('fastify'), await replica('express')];
    try {
      // Each replica sets the webhook up after it starts (not awaited by bootstrap): updates are taken once it runs.
      for (const app of apps) {
        while ((await getJson(`${app.url}/health`)).body.interfaces[0].state !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal((await getJson(`${app.url}/health`)).body.interfaces[0].role, 'shared', 'every replica receives in webhook mode');
      }
      const update = (id: number, chat: number, text: string) => ({ update_id: id, message: { message_id: id, date: 0, chat: { id: chat, type: 'private' }, from: { id: chat, is_bot: false, first_name: 'A' }, text } });
      const deliver = (app: TestApp, body: unknown) => post(`${app.url}/telegram/webhook`, body, { 'x-telegram-bot-api-secret-token': 'replica-secret' });
      // The same update to both replicas at once (a re-delivery racing the first): answered once.
      const twice = update(1, 500, 'only once');
      const statuses = await Promise.all(apps.map((app) => deliver(app, twice)));
      assert.deepEqual(statuses.map((response) => response.status), [200, 200]);
      // Ten updates of one chat, alternating between the replicas, each delivered in turn.
      for (let n = 0; n < 10; n++) assert.equal((await deliver(apps[n % 2], update(10 + n, 600, `m${n}`))).status, 200);
      const answers = (chat: number) => fake.sentTexts(chat).filter((text) => text.startsWith('echo: '));
      const deadline = Date.now() + 30_000;
      while ((answers(500).length < 1 || answers(600).length < 10) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      // Both replicas idle (nothing queued or being answered): a second answer of the raced update would have been sent.
      for (const app of apps) {
        while ((await getJson(`${app.url}/health`)).body.interfaces[0].pending !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(answers(500), ['echo: only once']);
      assert.deepEqual(answers(600), Array.from({ length: 10 }, (_, n) => `echo: m${n}`), 'answered once each, in the order sent');
    } finally {
      for (const app of apps) await app.close();
      await fake.close();
    }
  });
});
