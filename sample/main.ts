/**
 * The sample agent, on the command line (the HTTP server arrives with the Nest runtime).
 *
 *   npm start                      # chat in the terminal (one line per message; Ctrl-D to quit)
 *   npm start -- "What time is it in Tokyo?"   # one question, streamed answer
 *
 * With OPENAI_API_KEY (or OPENAI_BASE_URL for Ollama, vLLM, LM Studio...) it talks to that
 * model (OPENAI_MODEL, default gpt-4o-mini). Without either it starts the test kit's local
 * fake OpenAI-compatible server, which echoes, so the sample runs on a machine with no key.
 * History is kept in ./sample-agent.db (DEFINABLE_DB to change), so it survives a restart.
 */
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { Agent, defineTool, OpenAIChat, SqliteSessionStore } from '../lib';
import { startFakeOpenAI } from '../lib/testing';

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
  const useReal = Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
  const fake = useReal ? undefined : await startFakeOpenAI();
  if (fake) {
    process.stderr.write(
      `No OPENAI_API_KEY or OPENAI_BASE_URL set: answering with the local fake OpenAI-compatible server at ${fake.baseURL} (it echoes).\n` +
        'Set OPENAI_API_KEY (or OPENAI_BASE_URL for a local model server) to talk to a real model.\n',
    );
  }
  const sessionStore = new SqliteSessionStore({ path: process.env.DEFINABLE_DB ?? './sample-agent.db' });
  const agent = new Agent({
    name: 'sample',
    model: new OpenAIChat(
      fake ? { id: 'gpt-4o-mini', apiKey: 'fake', baseURL: fake.baseURL } : { id: process.env.OPENAI_MODEL ?? 'gpt-4o-mini' },
    ),
    instructions: 'You are a helpful assistant. Use current_time when asked about the time somewhere.',
    tools: [currentTime],
    sessionStore,
  });
  const userId = userInfo().username;
  const sessionId = process.env.DEFINABLE_SESSION ?? `cli-${userId}`;

  const ask = async (input: string): Promise<void> => {
    for await (const event of agent.stream(input, { sessionId, userId })) {
      switch (event.event) {
        case 'RunContent':
          process.stdout.write(event.content);
          break;
        case 'ToolCallStarted':
          process.stderr.write(`[tool ${event.toolName} ${JSON.stringify(event.args)}]\n`);
          break;
        case 'RunCompleted': {
          const { metrics } = event.output;
          process.stdout.write('\n');
          process.stderr.write(`[${metrics.totalTokens} tokens, ${metrics.duration.toFixed(2)} s]\n`);
          break;
        }
        case 'RunError':
          process.stderr.write(`\n[error ${event.error.code}] ${event.error.message}\n`);
          process.exitCode = 1;
          break;
      }
    }
  };

  try {
    const question = process.argv.slice(2).join(' ').trim();
    if (question) {
      await ask(question);
    } else {
      const lines = createInterface({ input: process.stdin, terminal: process.stdin.isTTY });
      if (process.stdin.isTTY) process.stderr.write(`Agent "${agent.name}" ready (session ${sessionId}). Type a message; Ctrl-D to quit.\n> `);
      for await (const line of lines) {
        if (line.trim()) await ask(line.trim());
        if (process.stdin.isTTY) process.stderr.write('> ');
      }
    }
  } finally {
    await sessionStore.close();
    await fake?.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
