import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { echoReply, startFakeOpenAI, startFakeTelegram } from '../../lib/testing';
import type { FakeOpenAIServer, FakeTelegramServer } from '../../lib/testing';
import { killHard } from '../support/child-process';
import { health, PG_URL, pgSchema, redisPrefix, Replica, startReplica, stopReplicas } from '../support/replicas';

/** The instants (ms) of the ticks the fake model was asked about, each with how many runs asked. */
function tickRuns(openai: FakeOpenAIServer): Map<number, number> {
  const runs = new Map<number, number>();
  for (const request of openai.requests) {
    const text = request.body?.messages?.at(-1)?.content;
    const match = typeof text === 'string' ? /^tick (\S+)$/.exec(text) : null;
    if (match) runs.set(Date.parse(match[1]), (runs.get(Date.parse(match[1])) ?? 0) + 1);
  }
  return runs;
}

const until = (time: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));

// Hang guards, not timing assertions: 60 ticks of a job every second take a minute.
describe('three replicas on one Redis (each a child process; one killed with SIGKILL)', { timeout: 240_000 }, () => {
  const replicas: (Replica | undefined)[] = [];
  const keys = redisPrefix();
  let openai: FakeOpenAIServer;
  after(async () => {
    await stopReplicas(replicas);
    await openai?.close();
    await keys.cleanup();
  });

  it('runs each of 60 ticks of a `* * * * * *` job exactly once (60 runs, not 180), while one replica is SIGKILLed and restarted midway', { timeout: 200_000 }, async () => {
    openai = await startFakeOpenAI();
    const env = { REPLICA_OPENAI_URL: openai.baseURL, REPLICA_PREFIX: keys.prefix, REPLICA_JOBS: 'cron' };
    replicas.push(...(await Promise.all([0, 1, 2].map(() => startReplica(env)))));
    // The window: 60 whole seconds from the second after all three run.
    const first = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const window = Array.from({ length: 60 }, (_, index) => first + index * 1000);
    // Half-way between two ticks, so no tick is between its claim and its model call when the replica dies.
    await until(first + 20_500);
    await killHard(replicas[1]!.child);
    await until(first + 35_500);
    replicas[1] = await startReplica(env);
    // The last tick's run has time to reach the model.
    await until(first + 62_000);
    const runs = tickRuns(openai);
    const counts = window.map((instant) => runs.get(instant) ?? 0);
    const wrong = window.flatMap((instant, index) => (counts[index] === 1 ? [] : [`${new Date(instant).toISOString()}: ${counts[index]}`]));
    assert.deepEqual(wrong, [], 'every tick in the window ran once');
    assert.equal(counts.reduce((sum, count) => sum + count, 0), 60);
  });
});

describe("a tick missed while no replica was up (missedTicks: 'once')", { timeout: 120_000 }, () => {
  const replicas: (Replica | undefined)[] = [];
  const keys = redisPrefix();
  let openai: FakeOpenAIServer | undefined;
  after(async () => {
    await stopReplicas(replicas);
    await openai?.close();
    await keys.cleanup();
  });

  it('runs the latest missed tick once when a replica starts again, and the schedule on from there', { timeout: 100_000 }, async () => {
    openai = await startFakeOpenAI();
    const env = { REPLICA_OPENAI_URL: openai.baseURL, REPLICA_PREFIX: keys.prefix, REPLICA_JOBS: 'cron', REPLICA_CRON: '*/5 * * * * *', REPLICA_MISSED_TICKS: 'once' };
    replicas.push(await startReplica(env));
    const ran = async (instant: number) => {
      const deadline = Date.now() + 20_000;
      while (!tickRuns(openai!).has(instant)) {
        if (Date.now() > deadline) throw new Error(`the tick of ${new Date(instant).toISOString()} did not run`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const first = Math.ceil(Date.now() / 5000) * 5000;
    await ran(first);
    await killHard(replicas[0]!.child);
    // Two ticks pass with no replica up; it starts again before the third.
    await until(first + 10_500);
    replicas[0] = await startReplica(env);
    await ran(first + 15_000);
    const runs = tickRuns(openai);
    assert.deepEqual(
      [first, first + 5_000, first + 10_000, first + 15_000].map((instant) => runs.get(instant) ?? 0),
      [1, 0, 1, 1],
      'the missed tick at +5 s is not run, the latest missed one (+10 s) is caught up once, +15 s runs on schedule',
    );
  });
});

describe('a Telegram bot polled by one of three replicas (the leader SIGKILLed mid-traffic)', { timeout: 240_000 }, () => {
  const replicas: (Replica | undefined)[] = [];
  const keys = redisPrefix();
  const pg = pgSchema();
  let openai: FakeOpenAIServer | undefined;
  let telegram: FakeTelegramServer | undefined;
  after(async () => {
    await stopReplicas(replicas);
    await openai?.close();
    await telegram?.close();
    await keys.cleanup();
    await pg.cleanup();
  });

  /** Resolves with the replica whose interface is the leader once exactly one is and the others stand by. */
  async function leader(among: Replica[], deadline = Date.now() + 60_000): Promise<Replica> {
    for (;;) {
      const roles = await Promise.all(among.map(async (replica) => (await health(replica))?.interfaces?.[0]?.role));
      const leaders = among.filter((_, index) => roles[index] === 'leader');
      if (leaders.length === 1 && roles.filter((role) => role === 'standby').length === among.length - 1) return leaders[0];
      if (Date.now() > deadline) throw new Error(`no single leader: ${roles.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('answers 300 messages over 30 chats, each at least once and in chat order, with one poller at a time and a takeover after the kill', { timeout: 200_000 }, async () => {
    // A slow model: runs are in flight when the leader dies.
    openai = await startFakeOpenAI({ defaultReply: (body) => ({ ...echoReply(body), delayMs: 30 }) });
    telegram = await startFakeTelegram({ maxHoldMs: 500 });
    const leaseTtl = 3000;
    const env = {
      REPLICA_OPENAI_URL: openai.baseURL,
      REPLICA_PREFIX: keys.prefix,
      REPLICA_JOBS: 'telegram',
      REPLICA_TELEGRAM_API: telegram.apiRoot,
      REPLICA_PG_URL: PG_URL,
      REPLICA_PG_SCHEMA: pg.schema,
      REPLICA_LEASE_TTL: String(leaseTtl),
    };
    replicas.push(...(await Promise.all([0, 1, 2].map(() => startReplica(env)))));
    const first = await leader(replicas as Replica[]);

    const CHATS = 30;
    const PER_CHAT = 10;
    let killedAt = 0;
    for (let index = 0; index < CHATS * PER_CHAT; index++) {
      const chat = index % CHATS;
      telegram.sendUserMessage({ chatId: 1000 + chat, userId: 2000 + chat, text: `m${chat}-${Math.floor(index / CHATS)}` });
      if (index === 100) {
        killedAt = Date.now();
        await killHard(first.child);
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    const survivors = replicas.filter((replica) => replica !== first) as Replica[];
    await leader(survivors);

    const answers = (chat: number) => telegram!.sentTexts(1000 + chat).filter((text) => text.startsWith('You said: '));
    const expected = (chat: number) => Array.from({ length: PER_CHAT }, (_, n) => `You said: m${chat}-${n}`);
    const deadline = Date.now() + 90_000;
    while (!Array.from({ length: CHATS }, (_, chat) => expected(chat).every((text) => answers(chat).includes(text))).every(Boolean)) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    let duplicates = 0;
    for (let chat = 0; chat < CHATS; chat++) {
      const got = answers(chat);
      const firsts = got.filter((text, position) => got.indexOf(text) === position);
      assert.deepEqual(firsts, expected(chat), `chat ${chat}: every message answered, in the order sent`);
      duplicates += got.length - firsts.length;
    }
    const firstPollAfterKill = telegram.calls.find((call) => call.method === 'getUpdates' && call.at > killedAt);
    assert.ok(firstPollAfterKill, 'a surviving replica polls after the kill');
    // The takeover time is reported, not asserted: no timing thresholds in tests.
    const takeover = firstPollAfterKill.at - killedAt;
    process.stdout.write(`# telegram failover: takeover after ${takeover} ms (lease TTL ${leaseTtl} ms), ${duplicates} duplicate answer(s)\n`);
    assert.equal(telegram.pollConflicts, 0, 'no 409: never two pollers');
    assert.equal(telegram.maxConcurrentPolls, 1, 'one getUpdates open at a time');
    // The leader answers at most 10 chats at once (maxConcurrentRuns): what was in flight at the kill.
    assert.ok(duplicates <= 10, `${duplicates} duplicates`);
  });
});
