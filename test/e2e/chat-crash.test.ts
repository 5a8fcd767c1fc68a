import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startFakeOpenAI, startFakeTelegram } from '../../lib/testing';
import { killHard as kill, startChild } from '../support/child-process';
import { tempDir } from '../support/fixtures';

const MESSAGES = 200;
const CHATS = 20;
const CONCURRENCY = 4;

const dir = tempDir();
after(() => dir.cleanup());

/** Starts the bot process; resolves once it runs. */
async function startBot(env: Record<string, string>): Promise<ChildProcess> {
  return (await startChild(join(__dirname, '../support/crash-bot.js'), env, (line) => (line === 'ready' ? line : undefined))).child;
}

// A hang guard, not a timing assertion.
describe('chat across a crash (the bot as a child process, killed with SIGKILL)', { timeout: 180_000 }, () => {
  it(`answers every one of ${MESSAGES} messages over ${CHATS} chats at least once, twice at most for the runs in flight at the kill, in chat order`, { timeout: 150_000 }, async () => {
    const telegram = await startFakeTelegram({ maxHoldMs: 200 });
    // A slow model: runs are in flight when the process dies.
    const openai = await startFakeOpenAI({ defaultReply: (body) => ({ content: `re ${body.messages.at(-1).content}`, delayMs: 25 }) });
    const env = {
      CRASH_BOT_DB: join(dir.path, 'bot.db'),
      CRASH_BOT_OPENAI_URL: openai.baseURL,
      CRASH_BOT_TELEGRAM_URL: telegram.apiRoot,
      CRASH_BOT_CONCURRENCY: String(CONCURRENCY),
    };
    const answers = () => telegram.calls.filter((call) => call.method === 'sendMessage');
    const answered = () => {
      const counts = new Map<number, number>();
      for (const call of answers()) {
        const id = Number(call.params.reply_parameters?.message_id);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    };
    let bot = await startBot(env);
    try {
      for (let index = 1; index <= MESSAGES; index++) {
        const chat = 1 + (index % CHATS);
        telegram.sendUserMessage({ chatId: chat, userId: chat, text: `m${index}`, messageId: index });
      }
      await telegram.waitForCall(() => answers().length >= MESSAGES / 3);
      await kill(bot);
      const beforeRestart = answered().size;
      assert.ok(beforeRestart < MESSAGES, 'the kill came midway');
      bot = await startBot(env);
      await telegram.waitForCall(() => answered().size === MESSAGES);
      // Let anything still queued finish, then count.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const counts = answered();
      const missing = Array.from({ length: MESSAGES }, (_, index) => index + 1).filter((id) => !counts.has(id));
      assert.deepEqual(missing, [], 'every message is answered');
      const twice = [...counts.values()].filter((count) => count > 1).length;
      assert.ok([...counts.values()].every((count) => count <= 2), 'none more than twice');
      assert.ok(twice <= CONCURRENCY, `${twice} messages answered twice; at most the ${CONCURRENCY} in flight at the kill`);
      for (let chat = 1; chat <= CHATS; chat++) {
        const firsts: number[] = [];
        for (const call of answers()) {
          const id = Number(call.params.reply_parameters?.message_id);
          if (Number(call.params.chat_id) === chat && !firsts.includes(id)) firsts.push(id);
        }
        assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `chat ${chat} answered in order`);
      }
    } finally {
      await kill(bot);
      await telegram.close();
      await openai.close();
    }
  });
});
