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
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { Agent, ApiKeyAuth, defineTool, OpenAIChat, SqliteSessionStore } from '../lib';
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
  const sessionStore = new SqliteSessionStore({ path: process.env.DEFINABLE_DB ?? './sample-agent.db' });
  const agent = new Agent({
    name: 'sample',
    model,
    instructions: 'You are a helpful assistant. Use current_time when asked about the time somewhere.',
    tools: [currentTime],
    sessionStore,
  });
  const apiKey = process.env.API_KEY ?? randomBytes(12).toString('hex');
  const server = await agent.serve({
    auth: new ApiKeyAuth({ keys: [apiKey] }),
    controllers: [SampleHooks],
    providers: [Reports],
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
    await fake?.close();
  };
  server.app.getHttpServer().once('close', () => void cleanup());
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
