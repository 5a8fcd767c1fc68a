// An app with an approval-gated tool as its own process, for restart tests: the test pauses a run in
// one process, stops it, and decides in a new one on the same SQLite file. Settings come from the
// environment; it prints its URL. The tool's executions are appended to APPROVALS_LOG (one line each).
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import { Module } from '@nestjs/common';
import { z } from 'zod';
import { Agent, ApiKeyAuth, DefinableModule, defineTool, OpenAIChat, SqliteRunStore } from '../../lib';
import { requiredEnv, serveChild } from './child-app';

const env = requiredEnv('approvals-app');

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

serveChild(ApprovalsAppModule, { shutdownHooks: true });
