/**
 * The processes of the benchmarks; each prints its URL (or "ready") on its first line.
 *
 * - `fake`: the fake OpenAI server (answers per bench-payloads' `benchReply`).
 * - `bare <baseURL>`: a bare Fastify route calling the openai client; POST /run with `"stream": true`
 *   relays the model's deltas as SSE frames (`data: {"content":"..."}`, then `data: [DONE]`).
 * - `nest-fastify <baseURL>` / `nest-express <baseURL>`: a plain Nest app, one controller whose
 *   POST /run calls the openai client directly (no nestjs-definable), on Fastify / on Express.
 * - `module <baseURL>`: the agent through DefinableModule on Fastify (serve()); runs recorded in the
 *   default InMemoryRunStore.
 * - `module-sqlite <baseURL>`: the same, recording runs and their events in a SqliteRunStore (a temp file).
 * - `module-express <baseURL>`: a user's Express Nest app whose AppModule imports
 *   DefinableModule.forRoot({ agent }).
 * - `module-before <baseURL> <libDir>`: serve() from an earlier build of the library.
 * - `module-untraced`, `module-metrics`, `module-quotas`, `module-traced <baseURL>`: the `module` arm
 *   with tracing turned off (`tracing: { enabled: false }`: the plain module the operations arms are
 *   measured against); with Prometheus metrics on; with in-memory quotas (requests, tokens and cost
 *   per user, agent and globally, never reached); with an OpenTelemetry SDK registered
 *   (BasicTracerProvider, a SimpleSpanProcessor and an in-memory exporter, emptied every second).
 * - `module-distributed <baseURL> <redisURL> <prefix> <pgURL> <schema>`: the `module` arm as one replica
 *   of several: `cluster: redisCluster({ connection, prefix })` and
 *   `stores: postgresStores({ connectionString, schema })` (runs, their events and sessions in PostgreSQL).
 * - `cron <baseURL>` / `cron-distributed <baseURL> <redisURL> <prefix> <pgURL> <schema>`: the agent with
 *   one `* * * * * *` cron trigger whose handler sends the parent (IPC) `{ kind: 'tick', instant,
 *   latencyMs }` — the time from the tick's scheduled instant to the handler starting — and returns
 *   undefined (no run, no model call); embedded defaults, or as `module-distributed` (where
 *   `TriggerEvent.timestamp` is the scheduled instant; embedded it is the time the tick fired, so the
 *   instant is that time's whole second). The distributed one also reports each claim of a tick
 *   (`{ kind: 'claim', key, won }`).
 * - `tg-bare <baseURL> <apiRoot>`: a bare telegraf bot calling the openai client;
 *   `tg-module <baseURL> <apiRoot>`: the agent behind TelegramInterface in a Nest application
 *   context. Both print "ready" and answer an IPC "rss" message with their resident set size.
 */
import { Body, Controller, HttpCode, Module, Post, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Fastify from 'fastify';
import OpenAI from 'openai';
import { Telegraf } from 'telegraf';
import { Agent, DefinableModule, InterfaceSupervisor, OpenAIChat, postgresStores, redisCluster, serve, SqliteRunStore, TelegramInterface } from '../../lib';
import { DefinableCluster } from '../../lib/module/cluster/definable-cluster';
import { startFakeOpenAI } from '../../lib/testing';
import { benchReply } from './bench-payloads';

type Lib = typeof import('../../lib');

/** A plain Nest module: one controller whose POST /run calls the openai client, as an app without nestjs-definable would. */
function plainNestModule(client: OpenAI): Type {
  @Controller()
  class RunController {
    @Post('run')
    @HttpCode(200)
    async run(@Body() body: { input: string }): Promise<{ content: string | null }> {
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: body.input }] });
      return { content: completion.choices[0].message.content };
    }
  }
  @Module({ controllers: [RunController] })
  class PlainAppModule {}
  return PlainAppModule;
}

/** Starts the bare Fastify floor: JSON, or a minimal SSE relay of the model's deltas with `"stream": true`. */
async function startBare(client: OpenAI): Promise<string> {
  const app = Fastify();
  app.post('/run', async (request, reply) => {
    const { input, stream } = request.body as { input: string; stream?: boolean };
    const messages = [{ role: 'user' as const, content: input }];
    if (!stream) {
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages });
      return { content: completion.choices[0].message.content };
    }
    // The same upstream request as the agent's (usage included), relayed delta by delta.
    const chunks = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true } });
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    for await (const chunk of chunks) {
      if (raw.destroyed) break; // leaving the loop aborts the upstream request
      const content = chunk.choices[0]?.delta?.content;
      if (content) raw.write(`data: ${JSON.stringify({ content })}\n\n`);
    }
    if (!raw.destroyed) raw.end('data: [DONE]\n\n');
  });
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** Registers an OpenTelemetry SDK as an app would: a provider exporting every span (to memory), the async-hooks context manager, W3C propagation. */
function registerTracing(): void {
  const { context, propagation, trace } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const sdk = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const exporter = new sdk.InMemorySpanExporter();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  setInterval(() => exporter.reset(), 1000).unref();
}

/** The module options of a replica of several: `[redisURL, prefix, pgURL, schema]` from the command line. */
function distributed([connection, prefix, connectionString, schema]: string[]) {
  return { cluster: redisCluster({ connection, prefix }), stores: postgresStores({ connectionString, schema }) };
}

/** Serves an agent with a `* * * * * *` cron trigger that reports how late each tick's handler started (see the kinds above). */
async function startCron(client: OpenAI, cluster: string[] | undefined): Promise<string> {
  const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
  agent.on({ cron: '* * * * * *' }, (event) => {
    const now = Date.now();
    const instant = cluster ? event.timestamp.getTime() : Math.floor(event.timestamp.getTime() / 1000) * 1000;
    process.send?.({ kind: 'tick', instant, latencyMs: now - instant });
    return undefined;
  });
  const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false, handleSignals: false, module: cluster ? distributed(cluster) : {} });
  if (cluster) {
    // Counts every claim of a tick, won or lost (the sweep of dead replicas claims too: not counted).
    const coordinator = server.app.get(DefinableCluster);
    const claim = coordinator.claim.bind(coordinator);
    coordinator.claim = async (key, ttl) => {
      const won = await claim(key, ttl);
      if (key.includes(':cron:')) setImmediate(() => process.send?.({ kind: 'claim', key, won }));
      return won;
    };
  }
  return server.url;
}

async function main(): Promise<void> {
  const [kind, baseURL] = process.argv.slice(2);
  if (kind === 'fake') {
    const fake = await startFakeOpenAI({ defaultReply: benchReply });
    return void process.stdout.write(`${fake.baseURL}\n`);
  }
  const client = new OpenAI({ apiKey: 'bench', baseURL, maxRetries: 0 });
  if (kind === 'bare') return void process.stdout.write(`${await startBare(client)}\n`);
  if (kind === 'nest-fastify' || kind === 'nest-express') {
    const root = plainNestModule(client);
    // Loaded on use, so the other processes (whose memory the Telegram benchmark measures) do not carry it.
    const fastify = () => new (require('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify')).FastifyAdapter();
    const app = kind === 'nest-fastify' ? await NestFactory.create(root, fastify(), { logger: false }) : await NestFactory.create(root, { logger: false });
    await app.listen(0, '127.0.0.1');
    return void process.stdout.write(`${await app.getUrl()}\n`);
  }
  if (kind === 'module') {
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false });
    return void process.stdout.write(`${server.url}\n`);
  }
  if (kind === 'module-untraced' || kind === 'module-metrics' || kind === 'module-quotas' || kind === 'module-traced') {
    if (kind === 'module-traced') registerTracing();
    const far = { requests: { limit: 1e9, window: 60 }, tokensPerDay: 1e12, costPerDay: 1e9 };
    const options = {
      'module-untraced': { tracing: { enabled: false } },
      'module-metrics': { metrics: true },
      'module-quotas': { quotas: { user: far, agent: far, global: far } },
      'module-traced': {},
    }[kind];
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false, module: options });
    return void process.stdout.write(`${server.url}\n`);
  }
  if (kind === 'module-distributed') {
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false, module: distributed(process.argv.slice(4)) });
    return void process.stdout.write(`${server.url}\n`);
  }
  if (kind === 'cron' || kind === 'cron-distributed') {
    return void process.stdout.write(`${await startCron(client, kind === 'cron-distributed' ? process.argv.slice(4) : undefined)}\n`);
  }
  if (kind === 'module-sqlite') {
    const { mkdtempSync } = require('node:fs') as typeof import('node:fs');
    const { join } = require('node:path') as typeof import('node:path');
    const { tmpdir } = require('node:os') as typeof import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'bench-runs-')), 'runs.db');
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false, module: { runStore: new SqliteRunStore({ path }) } });
    return void process.stdout.write(`${server.url}\n`);
  }
  if (kind === 'module-express') {
    @Module({ imports: [DefinableModule.forRoot({ agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) }) })] })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    return void process.stdout.write(`${await app.getUrl()}\n`);
  }
  if (kind === 'module-before') {
    // An earlier build of the library, with the same openai client.
    const before = require(process.argv[4]) as Lib;
    const agent = new before.Agent({ model: new before.OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await before.serve(agent, { port: 0, host: '127.0.0.1', logger: false });
    return void process.stdout.write(`${server.url}\n`);
  }
  const apiRoot = process.argv[4];
  process.on('message', (message) => {
    if (message !== 'rss') return;
    // Measured after a full collection, so the figure is what stays, not garbage not yet collected.
    (globalThis as { gc?: () => void }).gc?.();
    process.send?.({ rss: process.memoryUsage().rss });
  });
  if (kind === 'tg-bare') {
    const bot = new Telegraf('1:bench', { telegram: { apiRoot } });
    bot.on('message', async (ctx) => {
      const text = (ctx.message as { text?: string }).text ?? '';
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: text }] });
      await ctx.reply(completion.choices[0].message.content ?? '');
    });
    bot.catch((error) => console.error(error));
    void bot.launch({}, () => process.stdout.write('ready\n'));
    return;
  }
  if (kind === 'tg-module') {
    const telegram = new TelegramInterface({ botToken: '1:bench', apiRoot, parseMode: null, maxConcurrentRuns: 64 });
    const app = await NestFactory.createApplicationContext(
      DefinableModule.forRoot({ agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) }), interfaces: [telegram], server: { enabled: false } }),
      { logger: false },
    );
    await app.init();
    const supervisor = app.get(InterfaceSupervisor);
    const wait = setInterval(() => {
      if (supervisor.status()[0].state === 'running') {
        clearInterval(wait);
        process.stdout.write('ready\n');
      }
    }, 20);
    return;
  }
  throw new Error(`unknown server kind ${kind}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
