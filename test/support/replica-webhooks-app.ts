// One replica of an app with an async webhook, run on several (test/e2e/scale-out-webhooks starts three, kills
// them with SIGKILL and starts them again): its deliveries are BullMQ jobs in the test's Redis, its runs in the
// test's PostgreSQL schema. Settings come from the environment; it prints its URL once it listens.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { Agent, DefinableModule, OpenAIChat, PostgresRunStore, redisCluster, TriggerEvent, Webhook } from '../../lib';
import { requiredEnv, serveChild } from './child-app';

const env = requiredEnv('replica-webhooks-app');

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

serveChild(ReplicaWebhooksModule, { shutdownHooks: true });
