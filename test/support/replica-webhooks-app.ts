// One replica of an app with an async webhook, run on several (test/e2e/scale-out-webhooks starts three, kills
// them with SIGKILL and starts them again): its deliveries are BullMQ jobs in the test's Redis, its runs in the
// test's PostgreSQL schema. Settings come from the environment; it prints its URL once it listens.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Agent, DefinableModule, OpenAIChat, PostgresRunStore, redisCluster, TriggerEvent, Webhook } from '../../lib';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`replica-webhooks-app needs ${name}`);
  return value;
};

/** A delivery's prompt names it, so the fake model counts the runs of each. Its key: the Idempotency-Key header. */
@Controller()
class Deliveries {
  @Webhook('/deliveries', { auth: false, mode: 'async', retryDelay: 100 })
  onDelivery(event: TriggerEvent<{ id: string }>) {
    return `delivery ${event.body.id}`;
  }
}

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('REPLICA_OPENAI_URL'), maxRetries: 0 }) }),
      runStore: new PostgresRunStore({ connectionString: env('REPLICA_PG_URL'), schema: env('REPLICA_PG_SCHEMA') }),
      cluster: redisCluster({
        connection: process.env.REPLICA_REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: env('REPLICA_PREFIX'),
        replicaId: env('REPLICA_ID'),
        leaseTtl: Number(process.env.REPLICA_LEASE_TTL ?? 3000),
        jobLockDuration: Number(process.env.REPLICA_JOB_LOCK ?? 2000),
      }),
    }),
  ],
  controllers: [Deliveries],
})
class ReplicaWebhooksModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(ReplicaWebhooksModule, new FastifyAdapter(), { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  process.stdout.write(`${(await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1')}\n`);
}
main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
