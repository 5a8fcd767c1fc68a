// An app with an approval-gated tool as its own process, for restart tests: the test pauses a run in
// one process, stops it, and decides in a new one on the same SQLite file. Settings come from the
// environment; it prints its URL. The tool's executions are appended to APPROVALS_LOG (one line each).
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { z } from 'zod';
import { Agent, ApiKeyAuth, DefinableModule, defineTool, OpenAIChat, SqliteRunStore } from '../../lib';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`approvals-app needs ${name}`);
  return value;
};

const refund = defineTool({
  name: 'refund',
  description: 'Refunds an order',
  parameters: z.object({ order: z.string(), amount: z.number() }),
  approval: true,
  execute: ({ order, amount }) => {
    appendFileSync(env('APPROVALS_LOG'), `${order} ${amount}\n`);
    return `refunded ${amount} for ${order}`;
  },
});

@Module({
  imports: [
    DefinableModule.forRoot({
      agent: new Agent({ name: 'shop', model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: env('APPROVALS_OPENAI_URL'), maxRetries: 0 }), tools: [refund] }),
      auth: new ApiKeyAuth({ keys: [{ key: 'alice-key-0001', userId: 'alice' }], trusted: false }),
      runStore: new SqliteRunStore({ path: env('APPROVALS_DB') }),
    }),
  ],
})
class ApprovalsAppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(ApprovalsAppModule, new FastifyAdapter(), { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  process.stdout.write(`${(await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1')}\n`);
}
main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
