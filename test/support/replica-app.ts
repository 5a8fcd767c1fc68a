// One replica of an app run on several (the scale-out tests start three, kill them with SIGKILL and
// start them again). Settings come from the environment; it prints its URL once it listens.
import 'reflect-metadata';
import { Controller, Module } from '@nestjs/common';
import { Agent, Cron, DefinableModule, MessagingInterface, OpenAIChat, postgresStores, redisCluster, TelegramInterface, TriggerEvent } from '../../lib';
import { requiredEnv, serveChild } from './child-app';

const env = requiredEnv('replica-app');

/** A job every second (or on REPLICA_CRON): its prompt names the tick, so the fake model counts runs per tick. */
@Controller()
class EverySecond {
  @Cron(process.env.REPLICA_CRON ?? '* * * * * *', { name: 'every-second' })
  tick(event: TriggerEvent) {
    return `tick ${event.timestamp.toISOString()}`;
  }
}

const jobs = (process.env.REPLICA_JOBS ?? '').split(',');

/** A Telegram bot polling the parent's fake Bot API (its chat inbox: the shared stores'). */
function interfaces(): MessagingInterface[] {
  if (!jobs.includes('telegram')) return [];
  return [new TelegramInterface({ botToken: 'replica-token', apiRoot: env('REPLICA_TELEGRAM_API'), maxConcurrentRuns: 10 })];
}

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('REPLICA_OPENAI_URL'), maxRetries: 0 }) }),
      cluster: redisCluster({
        connection: process.env.REPLICA_REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: env('REPLICA_PREFIX'),
        leaseTtl: Number(process.env.REPLICA_LEASE_TTL ?? 3000),
        missedTicks: process.env.REPLICA_MISSED_TICKS === 'once' ? 'once' : 'skip',
      }),
      interfaces: interfaces(),
      ...(process.env.REPLICA_PG_SCHEMA ? { stores: postgresStores({ connectionString: env('REPLICA_PG_URL'), schema: env('REPLICA_PG_SCHEMA') }) } : {}),
    }),
  ],
  controllers: jobs.includes('cron') ? [EverySecond] : [],
})
class ReplicaModule {}

serveChild(ReplicaModule, { logger: ['error', 'warn'], shutdownHooks: true });
