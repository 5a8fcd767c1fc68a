/**
 * Messages per second through the Telegram pipeline (TelegramInterface + DefinableModule) vs a
 * bare telegraf handler calling the openai client directly; both poll the same kind of fake Bot
 * API (in this process) and call the same fake model server (in its own process). Then the
 * resident memory of each after answering 1,000 users (1,000 active sessions for the module).
 * BENCH_TG_MESSAGES (default 2000) and BENCH_TG_CHATS (default 50) tune the throughput run.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startProcess, stopProcess as stop } from './support/processes';
import { FakeTelegramServer, startFakeTelegram } from '../lib/testing';

const MESSAGES = Number(process.env.BENCH_TG_MESSAGES ?? 2000);
const CHATS = Number(process.env.BENCH_TG_CHATS ?? 50);
const SESSIONS = 1000;

const start = (args: string[]) => startProcess(args, ['--expose-gc']);

async function rss(child: ChildProcess): Promise<number> {
  child.send('rss');
  const [message] = (await once(child, 'message')) as [{ rss: number }];
  return message.rss;
}

/** Sends `count` messages spread over `chats` chats; resolves with the seconds until all were answered. */
async function deliver(fake: FakeTelegramServer, count: number, chats: number, firstChat: number): Promise<number> {
  const answered = () => fake.calls.filter((call) => call.method === 'sendMessage').length;
  const before = answered();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) fake.sendUserMessage({ chatId: firstChat + (i % chats), userId: firstChat + (i % chats), text: `Question ${i}: summarise the report.` });
  await fake.waitForCall(() => answered() >= before + count);
  return (performance.now() - t0) / 1000;
}

async function measure(kind: 'tg-bare' | 'tg-module', modelURL: string) {
  const fake = await startFakeTelegram({ maxHoldMs: 1000 });
  const { child } = await start([kind, modelURL, fake.apiRoot]);
  try {
    await deliver(fake, Math.min(200, MESSAGES), CHATS, 1); // warm-up
    const idle = await rss(child);
    const seconds = await deliver(fake, MESSAGES, CHATS, 1);
    await deliver(fake, SESSIONS, SESSIONS, 100_000); // 1,000 distinct users
    return { rate: MESSAGES / seconds, idle, loaded: await rss(child) };
  } finally {
    await stop(child);
    await fake.close();
  }
}

async function main(): Promise<void> {
  const model = await start(['fake']);
  try {
    console.log(`Telegram pipeline benchmark: ${MESSAGES} messages over ${CHATS} chats, then ${SESSIONS} users, Node ${process.version}`);
    const bare = await measure('tg-bare', model.line);
    const ours = await measure('tg-module', model.line);
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    console.log('\n                          msgs/s   RSS warm   RSS after 1,000 users');
    console.log(`  bare telegraf + openai  ${bare.rate.toFixed(0).padStart(6)}   ${mb(bare.idle).padStart(9)}   ${mb(bare.loaded).padStart(9)}`);
    console.log(`  TelegramInterface       ${ours.rate.toFixed(0).padStart(6)}   ${mb(ours.idle).padStart(9)}   ${mb(ours.loaded).padStart(9)}`);
    console.log(`  throughput ratio interface/bare: ${(ours.rate / bare.rate).toFixed(3)}`);
    console.log(`  RSS growth for 1,000 sessions: ${mb(ours.loaded - ours.idle)} (bare: ${mb(bare.loaded - bare.idle)})`);
  } finally {
    await stop(model.child);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
