import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it, mock } from 'node:test';
import { Controller, Injectable } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { Agent, Cron, defineTool, DefinableModule, Knowledge, Memory, TelegramInterface, TriggerEvent, Webhook } from '../../lib';
import { fakeEmbedding, startFakeTelegram, TestModel } from '../../lib/testing';
import { modelFor, useFakeOpenAI } from '../support/fixtures';
import { PLATFORMS, post, startApp } from '../support/nest';

// The app's side, as a Nest app configures the OpenTelemetry SDK: a provider, a context manager
// and the W3C propagator, registered globally; spans go to an in-memory exporter.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
before(() => {
  contextManager.enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
after(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});
beforeEach(() => exporter.reset());

const fake = useFakeOpenAI();

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

const add = defineTool({
  name: 'add',
  description: 'Adds two numbers',
  parameters: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => ({ sum: a + b }),
});

const spans = () => exporter.getFinishedSpans();
const named = (name: string) => spans().filter((span) => span.name === name);
const one = (name: string): ReadableSpan => {
  const found = named(name);
  assert.equal(found.length, 1, `one "${name}" span (spans: ${spans().map((span) => span.name).join(', ')})`);
  return found[0];
};
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
/** Waits until a span named `name` has ended (spans of background work end after the answer). */
async function ended(name: string): Promise<ReadableSpan> {
  for (let i = 0; i < 200 && named(name).length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
  return one(name);
}

for (const platform of PLATFORMS) {
  describe(`OpenTelemetry traces of POST /run (${platform})`, () => {
    it('makes one trace per run: invoke_agent under the incoming traceparent, a chat span per model call, an execute_tool span per tool call', async () => {
      const agent = new Agent({ name: 'calc', model: modelFor(fake), tools: [add] });
      const app = await startApp(platform, { imports: [DefinableModule.forRoot({ agent })] });
      try {
        fake.enqueue({ toolCalls: [{ id: 'call_1', name: 'add', arguments: { a: 2, b: 3 } }], usage: { prompt_tokens: 50, completion_tokens: 7 } }, { content: 'It is 5.', usage: { prompt_tokens: 70, completion_tokens: 4 } });
        const response = await post(`${app.url}/run`, { input: 'What is 2 + 3?', session_id: 's-1' }, { traceparent: TRACEPARENT });
        assert.equal(response.status, 200);
        const run = await ended('invoke_agent calc');
        assert.equal(run.spanContext().traceId, TRACE_ID, 'the run joins the caller trace');
        assert.equal(parentOf(run), PARENT_SPAN_ID);
        assert.equal(run.kind, SpanKind.INTERNAL);
        assert.deepEqual(
          { ...run.attributes },
          {
            'gen_ai.operation.name': 'invoke_agent',
            'gen_ai.agent.name': 'calc',
            'gen_ai.agent.id': agent.id,
            'gen_ai.conversation.id': 's-1',
            'gen_ai.request.model': agent.model.id,
            'gen_ai.provider.name': 'openai',
            'gen_ai.response.model': agent.model.id,
            'gen_ai.usage.input_tokens': 120,
            'gen_ai.usage.output_tokens': 11,
            'definable.agent': 'calc',
            'definable.trigger': 'POST /run',
            'definable.run_id': response.body.run_id,
            'definable.session_id': 's-1',
            'definable.status': 'completed',
            'definable.tool_calls': 1,
            'definable.cost_usd': response.body.metrics.cost,
            'definable.time_to_first_token': response.body.metrics.time_to_first_token,
          },
        );
        const calls = named(`chat ${agent.model.id}`).sort((a, b) => Number(a.attributes['definable.step']) - Number(b.attributes['definable.step']));
        assert.equal(calls.length, 2);
        for (const call of calls) {
          assert.equal(parentOf(call), run.spanContext().spanId);
          assert.equal(call.spanContext().traceId, TRACE_ID);
          assert.equal(call.kind, SpanKind.CLIENT);
          assert.equal(call.attributes['gen_ai.operation.name'], 'chat');
          assert.equal(call.attributes['gen_ai.request.model'], agent.model.id);
        }
        assert.deepEqual([calls[0].attributes['gen_ai.usage.input_tokens'], calls[0].attributes['gen_ai.usage.output_tokens']], [50, 7]);
        assert.deepEqual(calls[0].attributes['gen_ai.response.finish_reasons'], ['tool_calls']);
        assert.deepEqual([calls[1].attributes['gen_ai.usage.input_tokens'], calls[1].attributes['gen_ai.usage.output_tokens']], [70, 4]);
        assert.deepEqual(calls[1].attributes['gen_ai.response.finish_reasons'], ['stop']);
        const tool = one('execute_tool add');
        assert.equal(parentOf(tool), run.spanContext().spanId);
        assert.deepEqual({ ...tool.attributes }, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'add', 'gen_ai.tool.call.id': 'call_1', 'gen_ai.tool.type': 'function' });
        // No message contents unless asked for.
        assert.doesNotMatch(JSON.stringify(spans().map((span) => span.attributes)), /What is 2|It is 5|"a":2/);
      } finally {
        await app.close();
      }
    });
  });
}

describe('OpenTelemetry traces: contents, errors, streams, webhooks, cron and chat', () => {
  it('records message contents only with tracing.recordContent', async () => {
    const agent = new Agent({ name: 'calc', model: new TestModel({ responses: [{ toolCalls: [{ id: 'c1', name: 'add', args: { a: 1, b: 2 } }] }, 'Three.'] }), tools: [add] });
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent, tracing: { recordContent: true } })] });
    try {
      await post(`${app.url}/run`, { input: 'Add 1 and 2' });
      const run = await ended('invoke_agent calc');
      assert.deepEqual(JSON.parse(String(run.attributes['gen_ai.input.messages'])), [{ role: 'user', parts: [{ type: 'text', content: 'Add 1 and 2' }] }]);
      assert.deepEqual(JSON.parse(String(run.attributes['gen_ai.output.messages'])), [{ role: 'assistant', parts: [{ type: 'text', content: 'Three.' }] }]);
      const tool = one('execute_tool add');
      assert.equal(tool.attributes['gen_ai.tool.call.arguments'], '{"a":1,"b":2}');
      assert.equal(tool.attributes['gen_ai.tool.call.result'], '{"sum":3}');
    } finally {
      await app.close();
    }
  });

  it('makes no span with tracing.enabled false', async () => {
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: { model: new TestModel({ responses: () => 'ok' }) }, tracing: { enabled: false } })] });
    try {
      assert.equal((await post(`${app.url}/run`, { input: 'hi' })).status, 200);
      assert.equal(spans().length, 0);
    } finally {
      await app.close();
    }
  });

  it('sets the error status on the run and on the failing model call; a failing tool marks its span', async () => {
    const failing = new Error('boom');
    const tools = [defineTool({ name: 'broken', description: 'fails', parameters: z.object({}), execute: () => Promise.reject(new Error('disk full')) })];
    const agent = new Agent({ name: 'err', model: new TestModel({ responses: [{ toolCalls: [{ name: 'broken', args: {} }] }, { error: failing }] }), tools });
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent })] });
    try {
      const response = await post(`${app.url}/run`, { input: 'go' });
      assert.equal(response.status, 500);
      const run = await ended('invoke_agent err');
      assert.equal(run.status.code, SpanStatusCode.ERROR);
      assert.equal(run.attributes['error.type'], 'internal');
      assert.equal(run.attributes['definable.status'], 'error');
      const calls = named('chat test-model');
      assert.equal(calls.length, 2);
      assert.equal(calls.filter((span) => span.status.code === SpanStatusCode.ERROR).length, 1);
      const tool = one('execute_tool broken');
      assert.equal(tool.status.code, SpanStatusCode.ERROR);
      assert.match(String(tool.status.message), /disk full/);
    } finally {
      await app.close();
    }
  });

  it('traces a streamed run the same way, and ends the span of a stream its client left', async () => {
    const agent = new Agent({ name: 'streamer', model: new TestModel({ responses: [{ chunks: ['a', 'b', 'c'] }, { chunks: ['x'], delayMs: 60_000 }] }) });
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent })] });
    try {
      const response = await fetch(`${app.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', traceparent: TRACEPARENT }, body: JSON.stringify({ input: 'hi' }) });
      await response.text();
      const run = await ended('invoke_agent streamer');
      assert.equal(run.spanContext().traceId, TRACE_ID);
      assert.equal(run.attributes['definable.status'], 'completed');
      assert.equal(one('chat test-model').attributes['definable.stream'], true);
      exporter.reset();
      const controller = new AbortController();
      const left = await fetch(`${app.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ input: 'again' }), signal: controller.signal });
      const reader = left.body!.getReader();
      await reader.read(); // RunStarted is out: the model call is waiting
      controller.abort();
      const cut = await ended('invoke_agent streamer');
      assert.notEqual(cut.attributes['definable.status'], 'completed');
    } finally {
      await app.close();
    }
  });

  it('traces memory recall, knowledge search and the memory update as children of the run', async () => {
    const knowledge = new Knowledge({ embedder: { id: 'fake-embedder', embed: async (texts) => texts.map(fakeEmbedding) }, topK: 1 });
    await knowledge.add({ text: 'Hotel nights are reimbursed up to 150 euros.', source: 'handbook' });
    const memory = new Memory();
    const model = new TestModel({
      responses: (call) =>
        call.responseFormat ? JSON.stringify({ operations: [{ op: 'add', id: '', text: 'Travels for work' }] }) : 'Up to 150 euros.',
    });
    const agent = new Agent({ name: 'helpdesk', model, memory, knowledge });
    const app = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent })] });
    try {
      const response = await post(`${app.url}/run`, { input: 'How much for a hotel night?', user_id: 'alice' });
      assert.equal(response.status, 200);
      const run = await ended('invoke_agent helpdesk');
      const recall = one('definable.memory.recall');
      const search = one('definable.knowledge.search');
      assert.equal(parentOf(recall), run.spanContext().spanId);
      assert.equal(parentOf(search), run.spanContext().spanId);
      assert.equal(search.attributes['definable.count'], 1);
      assert.equal(search.attributes['definable.knowledge.query'], undefined, 'no query text without recordContent');
      // run() updates the memory after the answer: its span ends later, still under the run.
      const update = await ended('definable.memory.update');
      assert.equal(parentOf(update), run.spanContext().spanId);
      assert.equal(update.attributes['definable.count'], 1);
    } finally {
      await app.close();
    }
  });

  it('traces a webhook run under the delivery traceparent, with the route as its trigger', async () => {
    @Controller('hooks')
    class Hooks {
      @Webhook('/deploy', { auth: false })
      onDeploy(event: TriggerEvent<{ service: string }>) {
        return `Summarize the deploy of ${event.body.service}`;
      }
    }
    const app = await startApp('express', { imports: [DefinableModule.forRoot({ agent: { name: 'ops', model: new TestModel({ responses: () => 'done' }) } })], controllers: [Hooks] });
    try {
      const response = await post(`${app.url}/hooks/deploy`, { service: 'api' }, { traceparent: TRACEPARENT });
      assert.equal(response.status, 200);
      const run = await ended('invoke_agent ops');
      assert.equal(run.spanContext().traceId, TRACE_ID);
      assert.equal(parentOf(run), PARENT_SPAN_ID);
      assert.equal(run.attributes['definable.trigger'], 'POST /hooks/deploy');
      assert.equal(parentOf(one('chat test-model')), run.spanContext().spanId);
    } finally {
      await app.close();
    }
  });

  describe('a cron tick', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.UTC(2026, 2, 28, 7, 0, 0) }));
    afterEach(() => mock.timers.reset());

    it('starts a new trace: the run span is its root', async () => {
      @Injectable()
      class Ticks {
        @Cron('* * * * * *', { name: 'tick' })
        tick() {
          return 'tick';
        }
      }
      const moduleRef = await Test.createTestingModule({
        imports: [DefinableModule.forRoot({ agent: { name: 'clock', model: new TestModel({ responses: () => 'tock' }) }, server: { enabled: false } }), ScheduleModule.forRoot()],
        providers: [Ticks],
      }).compile();
      moduleRef.useLogger(false);
      await moduleRef.init();
      try {
        mock.timers.tick(1000);
        const run = await ended('invoke_agent clock');
        assert.equal(parentOf(run), undefined);
        assert.equal(run.attributes['definable.trigger'], 'cron(* * * * * *)');
        assert.equal(parentOf(one('chat test-model')), run.spanContext().spanId);
      } finally {
        await moduleRef.close();
      }
    });
  });

  it('traces a Telegram message: a message span holding the run and the reply sent to the platform', async () => {
    const token = '123456:trace-token';
    const telegram = await startFakeTelegram({ tokens: [token] });
    const moduleRef = await Test.createTestingModule({
      imports: [
        DefinableModule.forRoot({
          agent: { name: 'bot', model: new TestModel({ responses: () => 'hello there' }) },
          interfaces: [new TelegramInterface({ botToken: token, apiRoot: telegram.apiRoot })],
          server: { enabled: false },
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      await telegram.waitForCall((call) => call.method === 'getUpdates');
      telegram.sendUserMessage({ chatId: 42, userId: 7, text: 'Hi', messageId: 5 });
      await telegram.waitForCall((call) => call.method === 'sendMessage');
      const message = await ended('telegram message');
      assert.equal(parentOf(message), undefined);
      assert.equal(message.attributes['definable.platform'], 'telegram');
      const run = one('invoke_agent bot');
      assert.equal(parentOf(run), message.spanContext().spanId);
      assert.equal(run.attributes['definable.trigger'], 'telegram(42)');
      assert.equal(parentOf(one('chat test-model')), run.spanContext().spanId);
      const reply = one('telegram reply');
      assert.equal(parentOf(reply), message.spanContext().spanId);
    } finally {
      await moduleRef.close();
      await telegram.close();
    }
  });
});

