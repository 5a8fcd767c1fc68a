/**
 * The processes of the HTTP benchmark. `node bench-servers.js fake` starts the fake OpenAI
 * server; `... bare <baseURL>` a bare Fastify route calling the openai client; `... module
 * <baseURL>` the agent through DefinableModule on Fastify (serve()). Each prints its URL.
 */
import Fastify from 'fastify';
import OpenAI from 'openai';
import { Agent, OpenAIChat, serve } from '../../lib';
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
  throw new Error(`unknown server kind ${kind}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
