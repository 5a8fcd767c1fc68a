import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentLogger } from '../../lib';
import { OpenAIChat, OpenAIChatOptions, RunEvent } from '../../lib';
import { after, afterEach, before } from 'node:test';
import { FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing';

/** An OpenAIChat on the real `openai` client, pointed at a fake server, with no retries. */
export function modelFor(fake: FakeOpenAIServer, options: Partial<OpenAIChatOptions> = {}): OpenAIChat {
  return new OpenAIChat({ id: 'gpt-4o', apiKey: 'test-key', baseURL: fake.baseURL, maxRetries: 0, ...options });
}

/** Collects every event of a stream. */
export async function collect(events: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

/** A logger that keeps what it is told. */
export class MemoryLogger implements AgentLogger {
  readonly lines: string[] = [];
  log(message: string): void {
    this.lines.push(`log: ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn: ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'definable-test-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A promise with its resolve function, to let one async party wait for another. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * A fake OpenAI server for one test file: started in `before`, reset after
 * each test, closed in `after`. The returned object forwards to it.
 */
export function useFakeOpenAI(): FakeOpenAIServer {
  let server: FakeOpenAIServer | undefined;
  const current = () => {
    if (!server) throw new Error('The fake OpenAI server starts in before(); use it inside tests.');
    return server;
  };
  before(async () => {
    server = await startFakeOpenAI();
  });
  afterEach(() => server?.reset());
  after(() => server?.close());
  return {
    get baseURL() {
      return current().baseURL;
    },
    get port() {
      return current().port;
    },
    get requests() {
      return current().requests;
    },
    enqueue: (...replies) => current().enqueue(...replies),
    reset: () => current().reset(),
    close: () => current().close(),
  };
}
