// An app with an async webhook as its own process, for crash tests: the test kills it with SIGKILL
// and starts it again on the same file. Settings come from the environment; it prints its URL.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { Agent, DefinableModule, OpenAIChat, SqliteRunStore, TriggerEvent, Webhook } from '../../lib';
import { requiredEnv, serveChild } from './child-app';

const env = requiredEnv('crash-webhooks');

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

serveChild(CrashWebhooksModule);
