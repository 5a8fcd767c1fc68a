// A chat bot as its own process, for crash tests: the test kills it with SIGKILL and starts it
// again on the same files. Settings come from the environment; it prints "ready" once running.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { Agent, DefinableModule, MessagingInterface, OpenAIChat, SignalInterface, SqliteRunStore, SqliteSessionStore, TelegramInterface } from '../../lib';
import { requiredEnv, serveChild } from './child-app';

const env = requiredEnv('crash-bot');
const db = env('CRASH_BOT_DB');
const mode = env('CRASH_BOT_MODE');
const maxConcurrentRuns = Number(env('CRASH_BOT_CONCURRENCY'));

/** The interface under test: Telegram polling, Telegram webhook (the test posts the updates), or Signal. */
function chatInterface(): MessagingInterface {
  if (mode === 'signal') return new SignalInterface({ baseUrl: env('CRASH_BOT_SIGNAL_URL'), number: '+15550001', receiveTimeout: 1, maxConcurrentRuns });
  const telegram = { botToken: '123456:crash-test', apiRoot: env('CRASH_BOT_TELEGRAM_URL'), maxConcurrentRuns, parseMode: null };
  if (mode === 'telegram-webhook') {
    return new TelegramInterface({ ...telegram, mode: 'webhook', webhookUrl: 'https://bot.example.com/telegram/webhook', webhookSecret: 'crash-secret' });
  }
  return new TelegramInterface(telegram);
}

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({
        model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('CRASH_BOT_OPENAI_URL'), maxRetries: 0 }),
        sessionStore: new SqliteSessionStore({ path: db }),
      }),
      interfaces: [chatInterface()],
      runStore: new SqliteRunStore({ path: db }),
    }),
  ],
})
class CrashBotModule {}

serveChild(CrashBotModule, { prefix: 'ready ' });
