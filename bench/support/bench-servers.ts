/**
 * The processes of the benchmarks. `node bench-servers.js fake` starts the fake OpenAI server;
 * `... bare <baseURL>` a bare Fastify route calling the openai client; `... module <baseURL>` the
 * agent through DefinableModule on Fastify (serve()). Each prints its URL. `... tg-bare <baseURL>
 * <apiRoot>` a bare telegraf bot calling the openai client; `... tg-module <baseURL> <apiRoot>` the
 * agent behind TelegramInterface in a Nest application context. Both print "ready" and answer
 * an IPC "rss" message with their resident set size.
 */
import { NestFactory } from '@nestjs/core';
import Fastify from 'fastify';
import OpenAI from 'openai';
import { Telegraf } from 'telegraf';
import { Agent, DefinableModule, InterfaceSupervisor, OpenAIChat, serve, TelegramInterface } from '../../lib';
import { startFakeOpenAI } from '../../lib/testing';

export const REPLY = 'Revenue grew twelve percent on strong subscription sales. Costs were flat, so margins improved.';

async function main(): Promise<void> {
  const [kind, baseURL] = process.argv.slice(2);
  if (kind === 'fake') {
    const fake = await startFakeOpenAI({ defaultReply: () => ({ content: REPLY }) });
    return void process.stdout.write(`${fake.baseURL}\n`);
  }
  const client = new OpenAI({ apiKey: 'bench', baseURL, maxRetries: 0 });
  if (kind === 'bare') {
    const app = Fastify();
    app.post('/run', async (request) => {
      const { input } = request.body as { input: string };
      const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: input }] });
      return { content: completion.choices[0].message.content };
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return void process.stdout.write(`${url}\n`);
  }
  if (kind === 'module') {
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client }) });
    const server = await serve(agent, { port: 0, host: '127.0.0.1', logger: false });
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
