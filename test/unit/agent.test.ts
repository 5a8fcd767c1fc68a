import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { Agent, AgentRunError, defineTool, RunContext, RunOutput } from '../../lib';
import { TestModel } from '../../lib/testing';
import { collect, MemoryLogger } from '../support/fixtures';

describe('Agent with the scripted TestModel', () => {
  it('runs hooks before and after, and a throwing hook is logged, never fatal', async () => {
    const logger = new MemoryLogger();
    const agent = new Agent({ model: new TestModel({ responses: ['fine'] }), logger });
    const seen: string[] = [];
    agent.beforeRequest(function explode() {
      throw new Error('before boom');
    });
    agent.beforeRequest(async (ctx: RunContext) => {
      seen.push(`before:${ctx.input}:${ctx.userId}:${ctx.metadata.source}`);
    });
    agent.afterResponse(async function explodeLater() {
      throw new Error('after boom');
    });
    agent.afterResponse((out: RunOutput) => {
      seen.push(`after:${out.status}:${out.content}`);
    });
    const out = await agent.run('hi', { userId: 'u1', metadata: { source: 'test' } });
    assert.equal(out.content, 'fine');
    assert.deepEqual(out.metadata, { source: 'test' });
    assert.deepEqual(seen, ['before:hi:u1:test', 'after:completed:fine']);
    assert.ok(logger.lines.some((line) => /error: beforeRequest hook explode failed: before boom/.test(line)), logger.lines.join('\n'));
    assert.ok(logger.lines.some((line) => /error: afterResponse hook explodeLater failed: after boom/.test(line)));
  });

  it('calls afterResponse hooks for failed runs too, and a removed hook no longer runs', async () => {
    const agent = new Agent({ model: new TestModel({ responses: [{ error: new Error('kaput') }, 'ok'] }), logger: new MemoryLogger() });
    const statuses: string[] = [];
    const remove = agent.afterResponse((out) => void statuses.push(out.status));
    await assert.rejects(agent.run('x'), (error: AgentRunError) => error.code === 'internal');
    remove();
    await agent.run('y');
    assert.deepEqual(statuses, ['error']);
  });

  it('calls afterResponse hooks once when the consumer leaves a stream early (status cancelled), and once after the last event', async () => {
    const agent = new Agent({ model: new TestModel({ responses: [{ chunks: ['a ', 'b ', 'c'] }, { chunks: ['d'] }] }) });
    const statuses: string[] = [];
    agent.afterResponse((out) => void statuses.push(`${out.status}:${out.content}`));
    for await (const event of agent.stream('x')) {
      if (event.event === 'RunContent') break;
    }
    assert.deepEqual(statuses, ['cancelled:a ']);
    for await (const event of agent.stream('y')) {
      if (event.event === 'RunCompleted') break;
    }
    assert.deepEqual(statuses, ['cancelled:a ', 'completed:d'], 'leaving at the last event does not run them twice');
  });

  it('hands tools their context and the run signal', async () => {
    let ctxSeen: unknown;
    const whoami = defineTool({
      name: 'whoami',
      description: 'Returns the caller',
      parameters: z.object({}),
      execute: (_args, ctx) => {
        ctxSeen = { runId: ctx.runId, userId: ctx.userId, sessionId: ctx.sessionId, toolCallId: ctx.toolCallId, aborted: ctx.signal.aborted, metadata: ctx.metadata };
        return ctx.userId;
      },
    });
    const model = new TestModel({ responses: [{ toolCalls: [{ id: 't1', name: 'whoami' }] }, 'done'] });
    const out = await new Agent({ model, tools: [whoami] }).run('who?', { userId: 'u9', sessionId: 's9', runId: 'r9', metadata: { k: 1 } });
    assert.deepEqual(ctxSeen, { runId: 'r9', userId: 'u9', sessionId: 's9', toolCallId: 't1', aborted: false, metadata: { k: 1 } });
    assert.equal(out.toolCalls[0].result, 'u9');
    assert.equal(model.calls[1].messages.at(-1)?.role, 'tool');
  });

  it('serialises tool results: strings as they are, objects as JSON', async () => {
    const echo = defineTool({ name: 'echo', description: 'Echo', parameters: z.object({ v: z.unknown() }), execute: ({ v }) => v });
    const model = new TestModel({
      responses: [
        { toolCalls: [{ name: 'echo', args: { v: 'plain' } }, { name: 'echo', args: { v: { n: 1 } } }, { name: 'echo', args: { v: 3 } }] },
        'ok',
      ],
    });
    const out = await new Agent({ model, tools: [echo] }).run('x');
    assert.deepEqual(out.toolCalls.map((call) => call.result).sort(), ['3', 'plain', '{"n":1}']);
  });

  it('sends the system message first and never stores it', async () => {
    const model = new TestModel({ responses: ['a', 'b'] });
    const agent = new Agent({ model, instructions: 'Rules.' });
    await agent.run('one', { sessionId: 's' });
    await agent.run('two', { sessionId: 's' });
    assert.deepEqual(model.calls[1].messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
    assert.deepEqual((await agent.sessionStore.getMessages('s')).map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
  });

  it('sends at most historyLimit stored messages', async () => {
    const model = new TestModel({ responses: ['a', 'b', 'c'] });
    const agent = new Agent({ model, historyLimit: 2 });
    await agent.run('one', { sessionId: 's' });
    await agent.run('two', { sessionId: 's' });
    await agent.run('three', { sessionId: 's' });
    assert.deepEqual(model.calls[2].messages.map((m) => m.content), ['two', 'b', 'three']);
  });

  it('does not store a failed run', async () => {
    const model = new TestModel({ responses: [{ error: new Error('x') }] });
    const agent = new Agent({ model, logger: new MemoryLogger() });
    await assert.rejects(agent.run('one', { sessionId: 'failed' }));
    assert.equal(await agent.sessionStore.getSession('failed'), null);
  });

  it('passes videos to a model that takes them, and never drops them silently', async () => {
    const model = new TestModel({ responses: ['seen'] });
    await new Agent({ model }).run('describe', { videos: [{ url: 'https://example.com/clip.mp4' }, { data: Buffer.from('vid'), mimeType: 'video/mp4' }] });
    assert.deepEqual(model.calls[0].messages.at(-1)?.content, [
      { type: 'text', text: 'describe' },
      { type: 'video', url: 'https://example.com/clip.mp4' },
      { type: 'video', data: Buffer.from('vid').toString('base64'), mimeType: 'video/mp4' },
    ]);
    const blind = new TestModel({ responses: ['x'], capabilities: { video: false } });
    await assert.rejects(new Agent({ model: blind }).run('describe', { videos: [{ url: 'https://example.com/clip.mp4' }] }), { code: 'unsupported_media' });
    assert.equal(blind.calls.length, 0);
  });

  it('refuses a non-string input with invalid_input', async () => {
    const events = await collect(new Agent({ model: new TestModel() }).stream(42 as unknown as string));
    const last = events.at(-1);
    assert.ok(last?.event === 'RunError');
    assert.equal(last.error.code, 'invalid_input');
  });

  it('a cancelled signal before the start cancels without calling the model', async () => {
    const model = new TestModel({ responses: ['never'] });
    const error = await new Agent({ model }).run('x', { signal: AbortSignal.abort('user left') }).catch((e) => e);
    assert.ok(error instanceof AgentRunError);
    assert.equal(error.code, 'cancelled');
    assert.equal(error.message, 'user left');
    assert.equal(model.calls.length, 0);
  });

  it('fails fast on configuration mistakes with a message that says what to do', () => {
    assert.throws(() => new Agent({} as never), /needs a model/);
    const tool = defineTool({ name: 't', description: 'd', parameters: z.object({}), execute: () => 1 });
    assert.throws(() => new Agent({ model: new TestModel(), tools: [tool, tool] }), /two tools named "t"/);
    assert.throws(() => new Agent({ model: new TestModel(), maxSteps: 0 }), /maxSteps must be a whole number of at least 1/);
    assert.throws(() => new Agent({ model: new TestModel(), historyLimit: -1 }), /historyLimit/);
  });

  it('can switch to another logger', async () => {
    const agent = new Agent({ model: new TestModel({ responses: ['x'] }) });
    assert.equal(agent.usesDefaultLogger, true);
    const logger = new MemoryLogger();
    agent.useLogger(logger);
    agent.beforeRequest(function failing() {
      throw new Error('logged elsewhere');
    });
    await agent.run('x');
    assert.equal(agent.usesDefaultLogger, false);
    assert.ok(logger.lines.some((line) => /logged elsewhere/.test(line)));
  });

  it('reports a TestModel that ran out of script clearly', async () => {
    const error = await new Agent({ model: new TestModel(), logger: new MemoryLogger() }).run('x').catch((e) => e);
    assert.match(error.message, /no scripted response for call #1/);
  });
});

describe('defineTool', () => {
  it('derives the JSON Schema from zod once', () => {
    const tool = defineTool({
      name: 'get_weather',
      description: 'Weather',
      parameters: z.object({ city: z.string().describe('City name'), unit: z.enum(['c', 'f']).optional() }),
      execute: () => '',
    });
    assert.deepEqual(tool.jsonSchema, {
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' }, unit: { type: 'string', enum: ['c', 'f'] } },
      required: ['city'],
      additionalProperties: false,
    });
  });

  it('rejects bad definitions with a clear message', () => {
    const execute = () => '';
    assert.throws(() => defineTool({ name: 'has space', description: 'd', parameters: z.object({}), execute }), /invalid/);
    assert.throws(() => defineTool({ name: 'ok', description: '', parameters: z.object({}), execute }), /needs a description/);
    assert.throws(() => defineTool({ name: 'ok', description: 'd', parameters: z.string(), execute }), /z\.object/);
    assert.throws(() => defineTool({ name: 'ok', description: 'd', parameters: {} as never, execute }), /zod schema/);
  });
});

describe('leaving a stream early', () => {
  it('aborts the tools still running', async () => {
    const aborted: string[] = [];
    const wait = defineTool({
      name: 'wait',
      description: 'Waits until aborted',
      parameters: z.object({}),
      execute: (_args, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.push(ctx.toolCallId);
            resolve('stopped');
          });
        }),
    });
    const model = new TestModel({ responses: [{ toolCalls: [{ id: 'w1', name: 'wait' }, { id: 'w2', name: 'wait' }] }] });
    for await (const event of new Agent({ model, tools: [wait] }).stream('go')) {
      if (event.event === 'ToolCallStarted') break;
    }
    assert.deepEqual(aborted.sort(), ['w1', 'w2']);
    assert.equal(model.calls.length, 1);
  });

  it('stops a scripted model mid-stream when the signal aborts', async () => {
    const controller = new AbortController();
    const model = new TestModel({ responses: [{ chunks: ['a', 'b', 'c'], chunkDelayMs: 60_000 }] });
    const names: string[] = [];
    for await (const event of new Agent({ model }).stream('go', { signal: controller.signal })) {
      names.push(event.event);
      if (event.event === 'RunContent') controller.abort('stop');
    }
    assert.deepEqual(names, ['RunStarted', 'RunContent', 'RunCancelled']);
  });
});
