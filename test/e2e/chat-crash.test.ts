import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeSignalServer, FakeTelegramServer, startFakeOpenAI, startFakeSignal, startFakeTelegram } from '../../lib/testing';
import { killHard as kill, startChild } from '../support/child-process';
import { tempDir } from '../support/fixtures';

const MESSAGES = 200;
const CHATS = 20;
const CONCURRENCY = 4;
const MODES = ['telegram-polling', 'telegram-webhook', 'signal'] as const;
type Mode = (typeof MODES)[number];

const dir = tempDir();
after(() => dir.cleanup());

/** Starts the bot process; resolves once it runs, with its URL. */
async function startBot(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const { child, said } = await startChild(join(__dirname, '../support/crash-bot.js'), env, (line) => (line.startsWith('ready ') ? line.slice(6) : undefined));
  return { child, url: said };
}

/** A Telegram message update, as Telegram posts it to a webhook. */
const update = (index: number, chat: number) => ({
  update_id: index,
  message: { message_id: index, from: { id: chat, is_bot: false, first_name: `user${chat}` }, chat: { id: chat, type: 'private' }, date: 1_700_000_000, text: `m${index}` },
});

/** The platform side of one mode: feeds the messages and reads which were answered, in order, per chat. */
interface Platform {
  env: Record<string, string>;
  /** Hands the bot message `index` of chat `chat`; `false` if the bot did not take it (it is delivered again later). */
  feed(index: number, chat: number, botUrl: string): Promise<boolean>;
  /** Every answer so far: the message it answers and its chat, in the order they were sent. */
  answers(): { message: number; chat: number }[];
  close(): Promise<void>;
}

async function platformFor(mode: Mode): Promise<Platform> {
  if (mode === 'signal') {
    const signal: FakeSignalServer = await startFakeSignal({ maxHoldMs: 200 });
    return {
      env: { CRASH_BOT_SIGNAL_URL: signal.baseUrl },
      feed: async (index, chat) => {
        signal.receiveMessage({ number: '+15550001', from: `+1666000${String(chat).padStart(4, '0')}`, text: `m${index}`, timestamp: 1_700_000_000_000 + index });
        return true;
      },
      answers: () =>
        signal.calls
          .filter((call) => call.path === '/v2/send')
          .map((call) => ({ message: Number(/re m(\d+)/.exec(String(call.body?.message))?.[1]), chat: Number(String(call.body?.recipients?.[0]).slice(-4)) })),
      close: () => signal.close(),
    };
  }
  const telegram: FakeTelegramServer = await startFakeTelegram({ maxHoldMs: 200 });
  return {
    env: { CRASH_BOT_TELEGRAM_URL: telegram.apiRoot },
    feed: async (index, chat, botUrl) => {
      if (mode === 'telegram-polling') {
        telegram.sendUserMessage({ chatId: chat, userId: chat, text: `m${index}`, messageId: index });
        return true;
      }
      try {
        const response = await fetch(`${botUrl}/telegram/webhook`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'crash-secret' },
          body: JSON.stringify(update(index, chat)),
        });
        return response.status === 200;
      } catch {
        return false;
      }
    },
    answers: () =>
      telegram.calls
        .filter((call) => call.method === 'sendMessage')
        .map((call) => ({ message: Number(call.params.reply_parameters?.message_id), chat: Number(call.params.chat_id) })),
    close: () => telegram.close(),
  };
}

// A hang guard, not a timing assertion.
describe('chat across a crash (the bot as a child process, killed with SIGKILL)', { timeout: 400_000 }, () => {
  for (const mode of MODES) {
    it(`${mode}: answers every one of ${MESSAGES} messages over ${CHATS} chats at least once, twice at most for the runs in flight at the kill, in chat order`, { timeout: 150_000 }, async () => {
      const platform = await platformFor(mode);
      // A slow model: runs are in flight when the process dies.
      const openai = await startFakeOpenAI({ defaultReply: (body) => ({ content: `re ${body.messages.at(-1).content}`, delayMs: 25 }) });
      const env = { ...platform.env, CRASH_BOT_MODE: mode, CRASH_BOT_DB: join(dir.path, `${mode}.db`), CRASH_BOT_OPENAI_URL: openai.baseURL, CRASH_BOT_CONCURRENCY: String(CONCURRENCY) };
      const chatOf = (index: number) => 1 + (index % CHATS);
      const answered = () => new Set(platform.answers().map((answer) => answer.message));
      let bot = await startBot(env);
      try {
        // Delivered in order, eight at a time (a webhook sender's concurrency); what the bot did not take is delivered again after the restart.
        const feedAll = async (indexes: number[]) => {
          const missed: number[] = [];
          for (let start = 0; start < indexes.length; start += 8) {
            const batch = indexes.slice(start, start + 8);
            const taken = await Promise.all(batch.map((index) => platform.feed(index, chatOf(index), bot.url)));
            batch.forEach((index, at) => taken[at] || missed.push(index));
          }
          return missed;
        };
        const feeding = feedAll(Array.from({ length: MESSAGES }, (_, index) => index + 1));
        while (platform.answers().length < MESSAGES / 3) await new Promise((resolve) => setTimeout(resolve, 5));
        await kill(bot.child);
        const missed = await feeding;
        assert.ok(answered().size < MESSAGES, 'the kill came midway');
        bot = await startBot(env);
        assert.deepEqual(await feedAll(missed), [], 'the restarted bot takes what the dead one did not');
        while (answered().size < MESSAGES) await new Promise((resolve) => setTimeout(resolve, 20));
        // Let anything still queued finish, then count.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const counts = new Map<number, number>();
        for (const { message } of platform.answers()) counts.set(message, (counts.get(message) ?? 0) + 1);
        const twice = [...counts.values()].filter((count) => count > 1).length;
        assert.ok([...counts.values()].every((count) => count <= 2), 'none more than twice');
        assert.ok(twice <= CONCURRENCY, `${twice} messages answered twice; at most the ${CONCURRENCY} in flight at the kill`);
        for (let chat = 1; chat <= CHATS; chat++) {
          const firsts: number[] = [];
          for (const answer of platform.answers()) if (answer.chat === chat && !firsts.includes(answer.message)) firsts.push(answer.message);
          assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `chat ${chat} answered in order`);
        }
      } finally {
        await kill(bot.child);
        await platform.close();
        await openai.close();
      }
    });
  }
});
