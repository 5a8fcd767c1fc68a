import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { Agent, AgentRunError, DefinableModule, OpenAIChat } from '../../lib';
import type { Model, ModelChunk, ModelRequest, RunEvent } from '../../lib';
import { FakeReply, startFakeOpenAI } from '../../lib/testing';
import { MemoryInterface } from '../support/memory-interface';
import { bootModule, flush, post, startApp } from '../support/nest';

/** An agent on the real openai client against a fake that answers `reply` once. */
async function agentAnswering(reply: FakeReply, idleTimeout = 300) {
  const fake = await startFakeOpenAI();
  fake.enqueue(reply);
  const client = new OpenAI({ apiKey: 'test', baseURL: fake.baseURL, maxRetries: 0 });
  const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client, idleTimeout }) });
  return { fake, agent };
}

async function streamed(agent: Agent, sessionId: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of agent.stream('Tell me a story', { sessionId })) events.push(event);
  return events;
}

const WORDS = { content: 'one two three four five six' };
// Hang guards, not timing assertions: before the idle timeout these runs never ended.
const guard = { timeout: 20_000 };

describe('an upstream that stalls mid-answer', () => {
  it('a streamed run ends with model_timeout, its partial content in the output, nothing stored', guard, async () => {
    const { fake, agent } = await agentAnswering({ ...WORDS, stallAfterChunks: 2 });
    try {
      const events = await streamed(agent, 'stall-stream');
      const last = events.at(-1)!;
      assert.equal(last.event, 'RunError');
      assert.equal(last.event === 'RunError' && last.error.code, 'model_timeout');
      assert.equal(last.event === 'RunError' && last.output.content, 'one two ');
      assert.deepEqual(await agent.sessionStore.getMessages('stall-stream'), []);
    } finally {
      await fake.close();
    }
  });

  it('a run() whose JSON body stalls after the headers ends with model_timeout', guard, async () => {
    const { fake, agent } = await agentAnswering({ ...WORDS, stallAfterChunks: 0 });
    try {
      await assert.rejects(agent.run('hi'), (error: unknown) => error instanceof AgentRunError && error.code === 'model_timeout');
    } finally {
      await fake.close();
    }
  });

  it('over HTTP, /run answers 502 model_timeout instead of hanging', guard, async () => {
    const { fake, agent } = await agentAnswering({ ...WORDS, stallAfterChunks: 0 });
    const server = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent })] });
    try {
      const res = await post(`${server.url}/run`, { input: 'hi' });
      assert.equal(res.status, 502);
      assert.equal(res.body.error.code, 'model_timeout');
    } finally {
      await server.close();
      await fake.close();
    }
  });

  it('a slow but steady stream is not cut: the idle clock restarts with every chunk', guard, async () => {
    // 6 chunks, 150 ms apart: 750 ms in all, over twice the 300 ms idle timeout.
    const { fake, agent } = await agentAnswering({ ...WORDS, chunkDelayMs: 150 });
    try {
      const events = await streamed(agent, 'steady');
      assert.equal(events.at(-1)!.event, 'RunCompleted');
    } finally {
      await fake.close();
    }
  });
});

const SSE = 'text/event-stream';
const BROKEN: { name: string; reply: FakeReply; code: string; partial?: string }[] = [
  { name: 'a JSON body to a streaming request', reply: { raw: { contentType: 'application/json', body: '{"choices":[{"message":{"content":"hi"}}]}' } }, code: 'model_bad_response' },
  { name: 'an HTML page with 200', reply: { raw: { contentType: 'text/html', body: '<html><body>Gateway says hello</body></html>' } }, code: 'model_bad_response' },
  { name: 'a chunk that is not JSON', reply: { ...WORDS, malformedAfterChunks: 2 }, code: 'model_bad_response', partial: 'one two ' },
  { name: 'chunks with empty choices', reply: { raw: { contentType: SSE, body: 'data: {"id":"x","choices":[]}\n\ndata: {"id":"x","choices":[]}\n\ndata: [DONE]\n\n' } }, code: 'model_bad_response' },
  { name: 'a stream that ends without finish_reason or [DONE]', reply: { ...WORDS, endAfterChunks: 3 }, code: 'model_stream_interrupted', partial: 'one two three ' },
  // What reaches the client before the drop varies: checked as a prefix below.
  { name: 'a connection dropped mid-stream', reply: { ...WORDS, dropAfterChunks: 3, chunkDelayMs: 20 }, code: 'model_stream_interrupted' },
];

describe('a stream must finish to count', () => {
  for (const { name, reply, code, partial } of BROKEN) {
    it(`${name} ends in RunError ${code}, with the partial content and nothing stored`, guard, async () => {
      const { fake, agent } = await agentAnswering(reply);
      try {
        const events = await streamed(agent, `broken-${code}`);
        const last = events.at(-1)!;
        assert.equal(last.event, 'RunError', `got ${events.map((event) => event.event).join(', ')}`);
        assert.equal(last.event === 'RunError' && last.error.code, code);
        const content = last.event === 'RunError' ? String(last.output.content) : '';
        if (partial !== undefined) assert.equal(content, partial);
        assert.ok(WORDS.content.startsWith(content), 'the partial content is what arrived');
        assert.deepEqual(await agent.sessionStore.getMessages(`broken-${code}`), [], 'nothing stored');
      } finally {
        await fake.close();
      }
    });
  }

  it('run() gives the same verdicts: an HTML 200 or a body that is not JSON is model_bad_response', guard, async () => {
    for (const raw of [
      { contentType: 'text/html', body: '<html>hello</html>' },
      { contentType: 'application/json', body: '{"choices": [' },
    ]) {
      const { fake, agent } = await agentAnswering({ raw });
      try {
        await assert.rejects(agent.run('hi'), (error: unknown) => error instanceof AgentRunError && error.code === 'model_bad_response');
      } finally {
        await fake.close();
      }
    }
  });
});

/** A model that answers nothing until its request is aborted (a stuck upstream or tool). */
class StuckModel implements Model {
  readonly id = 'stuck';
  readonly provider = 'test';
  readonly capabilities = { images: false, audio: false, video: false };
  cost() {
    return null;
  }
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    await new Promise<void>((resolve) => request.signal?.addEventListener('abort', () => resolve(), { once: true }));
    yield* [];
  }
}

describe('a deadline for the whole run', () => {
  it('timeout ends run() and stream() with model_timeout; a bad timeout is invalid_input', guard, async () => {
    const agent = new Agent({ model: new StuckModel() });
    await assert.rejects(agent.run('hi', { timeout: 100 }), (error: unknown) => error instanceof AgentRunError && error.code === 'model_timeout');
    const events: RunEvent[] = [];
    for await (const event of agent.stream('hi', { timeout: 100 })) events.push(event);
    const last = events.at(-1)!;
    assert.equal(last.event === 'RunError' && last.error.code, 'model_timeout');
    await assert.rejects(agent.run('hi', { timeout: -1 }), (error: unknown) => error instanceof AgentRunError && error.code === 'invalid_input');
  });

  it('a chat run past the interface runTimeout is cut, and the person gets the error message', guard, async () => {
    const chat = new MemoryInterface({ runTimeout: 100, errorMessage: 'That took too long.' });
    const moduleRef = await bootModule({ agent: { model: new StuckModel() }, interfaces: [chat] });
    try {
      while (chat.starts === 0) await flush();
      await chat.deliver({ text: 'are you there?', senderId: 'u1' });
      await chat.waitForSent(1);
      assert.equal(chat.sent[0].text, 'That took too long.');
    } finally {
      await moduleRef.close();
    }
  });
});
