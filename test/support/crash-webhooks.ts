// An app with an async webhook as its own process, for crash tests: the test kills it with SIGKILL
// and starts it again on the same file. Settings come from the environment; it prints its URL.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Agent, DefinableModule, OpenAIChat, SqliteRunStore, TriggerEvent, Webhook } from '../../lib';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`crash-webhooks needs ${name}`);
  return value;
};

@Controller()
class Deliveries {
  @Webhook('/deliveries', { auth: false, mode: 'async', idempotencyKey: (event) => event.headers['x-delivery'], retryDelay: 10 })
  onDelivery(event: TriggerEvent<{ id: string }>) {
    return `delivery ${event.body.id}`;
  }
}

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('CRASH_OPENAI_URL'), maxRetries: 0 }) }),
      runStore: new SqliteRunStore({ path: env('CRASH_DB') }),
    }),
  ],
  controllers: [Deliveries],
})
class CrashWebhooksModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(CrashWebhooksModule, new FastifyAdapter(), { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  process.stdout.write(`${(await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1')}\n`);
}
main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
