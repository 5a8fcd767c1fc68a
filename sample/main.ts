/**
 * The sample agent server: `npm start` (port 8000, or PORT).
 *
 * It shows every piece: an agent with a tool and persistent sessions, API-key auth, POST /run
 * (JSON and streaming), a webhook, a cron job with a time zone, an event trigger and both hooks.
 *
 * With OPENAI_API_KEY (or OPENAI_BASE_URL for Ollama, vLLM, LM Studio...) it talks to that model
 * (OPENAI_MODEL, default gpt-4o-mini). Without either it runs an offline demo model — the test
 * kit's fake OpenAI-compatible server, which echoes — and says so in the banner and in /health.
 * API_KEY sets the key clients must send (one is generated and printed when it is not set).
 * Chat platforms join when configured: TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN, SIGNAL_URL + SIGNAL_NUMBER.
 * Users get long-term memory (runs with a user id), and the agent answers from a small knowledge base.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  Agent,
  ApiKeyAuth,
  defineTool,
  DiscordInterface,
  Knowledge,
  Memory,
  MessagingInterface,
  OpenAIChat,
  OpenAIEmbedder,
  SignalInterface,
  SqliteIdentityResolver,
  SqliteMemoryStore,
  SqliteSessionStore,
  TelegramInterface,
} from '../lib';
import { startFakeOpenAI } from '../lib/testing';
import { Reports, SampleHooks } from './sample-triggers';

const currentTime = defineTool({
  name: 'current_time',
  description: 'The current date and time in an IANA time zone, e.g. Europe/Paris.',
  parameters: z.object({ timeZone: z.string().describe('IANA time zone name') }),
  execute: ({ timeZone }) => {
    try {
      return new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeStyle: 'long', timeZone }).format(new Date());
    } catch {
      throw new Error(`Unknown time zone "${timeZone}"; use an IANA name such as Europe/Paris.`);
    }
  },
});

async function main(): Promise<void> {
  const demo = !(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
  const fake = demo ? await startFakeOpenAI() : undefined;
  const model = fake
    ? new OpenAIChat({ id: 'demo-echo', apiKey: 'demo', baseURL: fake.baseURL })
    : new OpenAIChat({ id: process.env.OPENAI_MODEL ?? 'gpt-4o-mini' });
  const database = process.env.DEFINABLE_DB ?? './sample-agent.db';
  const sessionStore = new SqliteSessionStore({ path: database });
  const memoryStore = new SqliteMemoryStore({ path: database });
  const knowledge = new Knowledge({
    embedder: new OpenAIEmbedder(fake ? { id: 'demo-embed', apiKey: 'demo', baseURL: fake.baseURL } : { id: 'text-embedding-3-small' }),
    chunker: { size: 400, overlap: 50 },
    topK: 2,
  });
  await knowledge.add({
    source: 'about-this-sample',
    text:
      'This sample agent runs on nestjs-definable. It answers POST /run (JSON or streaming), a GitHub webhook at /hooks/github, ' +
      'a signup webhook at /hooks/signup that emits the user_signup event, and a weekday 09:00 Europe/Paris summary. ' +
      'It remembers facts about users who send a user_id, and it can tell the time in any IANA time zone.',
  });
  const agent = new Agent({
    name: 'sample',
    model,
    instructions: 'You are a helpful assistant. Use current_time when asked about the time somewhere.',
    tools: [currentTime],
    sessionStore,
    memory: new Memory({ store: memoryStore }),
    knowledge,
  });
  const interfaces: MessagingInterface[] = [];
  if (process.env.TELEGRAM_BOT_TOKEN) interfaces.push(new TelegramInterface({ botToken: process.env.TELEGRAM_BOT_TOKEN }));
  if (process.env.DISCORD_BOT_TOKEN) interfaces.push(new DiscordInterface({ botToken: process.env.DISCORD_BOT_TOKEN, respondTo: 'mentions' }));
  if (process.env.SIGNAL_URL && process.env.SIGNAL_NUMBER) {
    interfaces.push(new SignalInterface({ baseUrl: process.env.SIGNAL_URL, number: process.env.SIGNAL_NUMBER }));
  }
  const identityResolver = interfaces.length ? new SqliteIdentityResolver({ path: database }) : undefined;
  const apiKey = process.env.API_KEY ?? randomBytes(12).toString('hex');
  const server = await agent.serve({
    auth: new ApiKeyAuth({ keys: [apiKey] }),
    controllers: [SampleHooks],
    providers: [Reports],
    interfaces,
    identityResolver,
    dev: process.env.DEFINABLE_DEV === '1',
    notice: demo
      ? 'DEMO MODE: no OPENAI_API_KEY or OPENAI_BASE_URL, so an offline demo model answers (it echoes). Set one to use a real model.'
      : undefined,
    module: { health: { demo } },
  });
  process.stdout.write(
    `\nTry it:\n  curl -s ${server.url}/run -H "X-API-Key: ${process.env.API_KEY ? '$API_KEY' : apiKey}" -H 'content-type: application/json' -d '{"input":"What time is it in Tokyo?"}'\n\n`,
  );
  const cleanup = async () => {
    await sessionStore.close();
    await memoryStore.close();
    await identityResolver?.close();
    await fake?.close();
  };
  server.app.getHttpServer().once('close', () => void cleanup());
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
