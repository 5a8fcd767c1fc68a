// A chat bot as its own process, for crash tests: the test kills it with SIGKILL and starts it
// again on the same files. Settings come from the environment; it prints "ready" once running.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Agent, DefinableModule, OpenAIChat, SqliteRunStore, SqliteSessionStore, TelegramInterface } from '../../lib';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`crash-bot needs ${name}`);
  return value;
};
const db = env('CRASH_BOT_DB');

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({
        model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('CRASH_BOT_OPENAI_URL'), maxRetries: 0 }),
        sessionStore: new SqliteSessionStore({ path: db }),
      }),
      interfaces: [new TelegramInterface({ botToken: '123456:crash-test', apiRoot: env('CRASH_BOT_TELEGRAM_URL'), maxConcurrentRuns: Number(env('CRASH_BOT_CONCURRENCY')), parseMode: null })],
      runStore: new SqliteRunStore({ path: db }),
    }),
  ],
})
class CrashBotModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(CrashBotModule, new FastifyAdapter(), { logger: ['error'] });
  await app.init();
  process.stdout.write('ready\n');
}
main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
