import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { z } from 'zod';
import { Agent, ApiKeyAuth, DefinableModule, defineTool, Message, messageText, ModelError } from '../../lib';
import { createOpenAICompatController } from '../../lib/http/openai-compat.controller';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp, TestApp } from '../support/nest';

const API_KEY = 'openai-compat-key-0001';

/** The text of the last user message a model call received. */
function lastUserText(messages: Message[]): string {
  const last = [...messages].reverse().find((message) => message.role === 'user');
  return last ? messageText(last) : '';
}

/** A model call's messages as `role: text` lines (system prompt and tool messages included). */
function transcript(messages: Message[]): string[] {
  return messages.map((message) => `${message.role}: ${messageText(message)}`);
}

for (const platform of PLATFORMS) {
  describe(`OpenAI-compatible API on ${platform}`, () => {
    let server: TestApp;
    let client: OpenAI;
    const model = new TestModel({
      responses: (call) => {
        const last = call.messages.at(-1);
        if (last?.role === 'tool') {
          if (last.name === 'explode') return { error: new ModelError('model_unavailable', 'HTTP 503 from upstream sk-secret-detail') };
          return { chunks: ['It is ', 'sunny in ', 'Paris.'], usage: { inputTokens: 20, outputTokens: 3 } };
        }
        const text = lastUserText(call.messages);
        if (text === 'hello') return { chunks: ['Hello', ' world'], usage: { inputTokens: 7, outputTokens: 2 } };
        if (text === 'weather') return { content: 'Let me check.', toolCalls: [{ name: 'get_weather', args: { city: 'Paris' } }], usage: { inputTokens: 10, outputTokens: 5 } };
        if (text === 'explode later') return { chunks: ['Checking'], toolCalls: [{ name: 'explode', args: {} }] };
        if (text === 'think') return { reasoning: ['Let me', ' think'], content: 'Done thinking.' };
        if (text === 'history') return `seen: ${transcript(call.messages).join(' | ')}`;
        return `echo: ${text}`;
      },
    });
    const weatherCalls: string[] = [];
    const getWeather = defineTool({
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        weatherCalls.push(city);
        return { city, tempC: 21 };
      },
    });
    const explode = defineTool({ name: 'explode', description: 'Does nothing', parameters: z.object({}), execute: async () => 'ok' });

    before(async () => {
      server = await startApp(platform, {
        imports: [
          DefinableModule.forRoot({
            agent: new Agent({ name: 'support', instructions: 'You are support.', model, tools: [getWeather, explode] }),
            agents: { other: new Agent({ name: 'other', model: new TestModel({ responses: () => 'from other' }) }) },
            auth: new ApiKeyAuth({ keys: [{ key: API_KEY, userId: 'alice' }], trusted: false }),
            server: { openai: true },
          }),
        ],
      });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: API_KEY, maxRetries: 0 });
    });
    after(() => server.close());

    it('lists the agents as models', async () => {
      const models = [];
      for await (const entry of client.models.list()) models.push(entry);
      assert.deepEqual(
        models.map((entry) => entry.id),
        ['support', 'other'],
      );
      assert.equal(models[0].object, 'model');
      assert.equal(models[0].owned_by, 'nestjs-definable');
      assert.equal((await client.models.retrieve('other')).id, 'other');
      await assert.rejects(client.models.retrieve('gpt-4o'), (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found');
    });

    it('answers a completion with the official client: content, usage, ids', async () => {
      const { data: completion, response } = await client.chat.completions
        .create({ model: 'support', messages: [{ role: 'user', content: 'hello' }] })
        .withResponse();
      assert.equal(completion.object, 'chat.completion');
      assert.equal(completion.model, 'support');
      assert.equal(completion.choices.length, 1);
      assert.equal(completion.choices[0].message.role, 'assistant');
      assert.equal(completion.choices[0].message.content, 'Hello world');
      assert.equal(completion.choices[0].finish_reason, 'stop');
      assert.deepEqual(
        { prompt: completion.usage?.prompt_tokens, completion: completion.usage?.completion_tokens, total: completion.usage?.total_tokens },
        { prompt: 7, completion: 2, total: 9 },
      );
      const runId = response.headers.get('x-run-id');
      assert.ok(runId);
      assert.equal(completion.id, `chatcmpl-${runId}`);
      const run = await fetch(`${server.url}/runs/${runId}`, { headers: { authorization: `Bearer ${API_KEY}` } }).then((res) => res.json() as Promise<any>);
      assert.equal(run.user_id, 'alice');
      assert.equal(run.trigger, 'POST /v1/chat/completions');
    });

    it('streams chunks the official client parses, with include_usage', async () => {
      const stream = await client.chat.completions.create({
        model: 'support',
        messages: [{ role: 'user', content: 'hello' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.ok(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && chunk.model === 'support' && chunk.id === chunks[0].id));
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, 'Hello world');
      const finish = chunks.at(-2)!;
      assert.equal(finish.choices[0].finish_reason, 'stop');
      assert.equal(finish.usage, null);
      const usage = chunks.at(-1)!;
      assert.deepEqual(usage.choices, []);
      assert.equal(usage.usage?.prompt_tokens, 7);
      assert.equal(usage.usage?.completion_tokens, 2);
      assert.equal(usage.usage?.total_tokens, 9);
      // Without include_usage there is no usage chunk, and no usage field.
      const plain = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hello' }], stream: true });
      const plainChunks = [];
      for await (const chunk of plain) plainChunks.push(chunk);
      assert.equal(plainChunks.at(-1)!.choices[0].finish_reason, 'stop');
      assert.ok(plainChunks.every((chunk) => !('usage' in chunk)));
    });

    it("folds a stream with the official client's ChatCompletionStream helper", async () => {
      const runner = client.chat.completions.stream({ model: 'support', messages: [{ role: 'user', content: 'weather' }], stream_options: { include_usage: true } });
      const deltas: string[] = [];
      runner.on('content', (delta) => deltas.push(delta));
      const final = await runner.finalChatCompletion();
      // Streamed, the run is one message: what the model said before and after its tool call, as paragraphs.
      assert.equal(final.choices[0].message.content, 'Let me check.\n\nIt is sunny in Paris.');
      assert.equal(deltas.join(''), final.choices[0].message.content);
      // The agent's tool ran on the server; no tool call reaches the client.
      assert.equal(final.choices[0].message.tool_calls, undefined);
      assert.equal(final.choices[0].finish_reason, 'stop');
      assert.equal(final.usage?.prompt_tokens, 30);
      assert.deepEqual(weatherCalls, ['Paris']);
    });

    it('runs the tools on the server and answers with the final text (JSON)', async () => {
      const completion = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'weather' }] });
      // The answer is the run's final text, as POST /run's content.
      assert.equal(completion.choices[0].message.content, 'It is sunny in Paris.');
      assert.equal(completion.choices[0].message.tool_calls, undefined);
    });

    it('sends reasoning as reasoning_content', async () => {
      const completion = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'think' }] });
      assert.equal(completion.choices[0].message.content, 'Done thinking.');
      assert.equal((completion.choices[0].message as any).reasoning_content, 'Let me think');
      const stream = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'think' }], stream: true });
      let reasoning = '';
      for await (const chunk of stream) reasoning += (chunk.choices[0]?.delta as any)?.reasoning_content ?? '';
      assert.equal(reasoning, 'Let me think');
    });

    it('takes the earlier messages as the history, keeping nothing on the server', async () => {
      const completion = await client.chat.completions.create({
        model: 'support',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: 'history' },
        ],
      });
      assert.equal(
        completion.choices[0].message.content,
        'seen: system: You are support. | system: Be brief. | user: first question | assistant: first answer | user: history',
      );
      // A request without a session leaves no session behind.
      const again = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'history' }] });
      assert.equal(again.choices[0].message.content, 'seen: system: You are support. | user: history');
    });

    it('continues a session named by X-Session-Id, whose stored turns are the history', async () => {
      const sessionId = randomUUID();
      const first = await client.chat.completions
        .create({ model: 'support', messages: [{ role: 'user', content: 'weather' }] }, { headers: { 'x-session-id': sessionId } })
        .withResponse();
      assert.equal(first.response.headers.get('x-session-id'), sessionId);
      // The client sends only the new message: the server has the rest, tool call and result included.
      const second = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'history' }] }, { headers: { 'x-session-id': sessionId } });
      const seen = second.choices[0].message.content!;
      assert.match(seen, /user: weather \| assistant: Let me check\. \| tool: \{"city":"Paris","tempC":21\} \| assistant: It is sunny in Paris\. \| user: history$/);
      // A new session is seeded from the client's earlier messages.
      const seeded = randomUUID();
      await client.chat.completions.create(
        { model: 'support', messages: [{ role: 'user', content: 'earlier' }, { role: 'assistant', content: 'reply' }, { role: 'user', content: 'hi' }] },
        { headers: { 'x-session-id': seeded } },
      );
      const next = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'history' }] }, { headers: { 'x-session-id': seeded } });
      assert.equal(next.choices[0].message.content, 'seen: system: You are support. | user: earlier | assistant: reply | user: hi | assistant: echo: hi | user: history');
    });

    it('maps "user" under the rule of user_id', async () => {
      const own = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'mine' }], user: 'alice' });
      assert.equal(own.choices[0].message.content, 'echo: mine');
      await assert.rejects(
        client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }], user: 'bob' }),
        (error: unknown) => error instanceof OpenAI.PermissionDeniedError && error.code === 'forbidden' && /"user" must be your own/.test(error.message),
      );
    });

    it("answers errors in OpenAI's shape, which the client raises as its typed errors", async () => {
      const stranger = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-the-key-0000', maxRetries: 0 });
      await assert.rejects(stranger.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.AuthenticationError);
        assert.equal(error.status, 401);
        assert.equal(error.type, 'authentication_error');
        return true;
      });
      await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError);
        assert.equal(error.code, 'model_not_found');
        assert.match(error.message, /"support", "other"/);
        return true;
      });
      const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
      await assert.rejects(client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }], tools }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.type, 'invalid_request_error');
        assert.equal(error.param, 'tools');
        return true;
      });
      await assert.rejects(
        client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'x' }] }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && /last message must be the user's new message/.test(error.message),
      );
      const raw = await post(`${server.url}/v1/chat/completions`, { messages: [] }, { authorization: `Bearer ${API_KEY}` });
      assert.equal(raw.status, 400);
      assert.deepEqual(Object.keys(raw.body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(raw.body.error.param, 'model');
    });

    it('ends a stream whose run fails with an error frame the client raises, without the provider detail', async () => {
      const stream = await client.chat.completions.create({ model: 'support', messages: [{ role: 'user', content: 'explode later' }], stream: true });
      let text = '';
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        })(),
        (error: unknown) => {
          assert.ok(error instanceof OpenAI.APIError);
          assert.equal((error.error as any).code, 'model_unavailable');
          assert.match(error.message, /unavailable/);
          assert.doesNotMatch(error.message, /sk-secret/);
          return true;
        },
      );
      assert.equal(text, 'Checking');
    });

    it("works with the AI SDK's OpenAI-compatible provider (generateText and streamText)", async () => {
      const provider = createOpenAICompatible({ name: 'definable', baseURL: `${server.url}/v1`, apiKey: API_KEY, includeUsage: true });
      const generated = await generateText({ model: provider.chatModel('support'), prompt: 'hello' });
      assert.equal(generated.text, 'Hello world');
      assert.equal(generated.usage.inputTokens, 7);
      assert.equal(generated.usage.outputTokens, 2);
      assert.equal(generated.finishReason, 'stop');
      const streamed = streamText({ model: provider.chatModel('support'), messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'think' }] });
      let text = '';
      for await (const delta of streamed.textStream) text += delta;
      assert.equal(text, 'Done thinking.');
      assert.equal(await streamed.reasoningText, 'Let me think');
      assert.equal(await streamed.finishReason, 'stop');
    });
  });
}

describe('OpenAI-compatible routes mounted by hand, under another path, without auth', () => {
  let server: TestApp;
  before(async () => {
    server = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'echo', model: new TestModel({ responses: (call) => `echo: ${lastUserText(call.messages)}` }) }),
          quotas: { user: { requests: { limit: 2, window: 3600 } } },
        }),
      ],
      controllers: [createOpenAICompatController('/compat/openai/')],
    });
  });
  after(() => server.close());

  it('serves under the path, and takes images as content parts', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/compat/openai`, apiKey: 'unused', maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'echo',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what is this' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
      ],
    });
    assert.equal(completion.choices[0].message.content, 'echo: what is this');
    const models = await fetch(`${server.url}/compat/openai/models`).then((res) => res.json() as Promise<any>);
    assert.deepEqual(models.data.map((entry: any) => entry.id), ['echo']);
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 404);
  });

  it('answers a run over its quota 429 with Retry-After, which the client raises as a RateLimitError', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/compat/openai`, apiKey: 'unused', maxRetries: 0 });
    const request = { model: 'echo', messages: [{ role: 'user' as const, content: 'hi' }], user: 'carol' };
    await client.chat.completions.create(request);
    await client.chat.completions.create(request);
    for (const stream of [false, true]) {
      await assert.rejects(client.chat.completions.create({ ...request, stream }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.RateLimitError);
        assert.equal(error.code, 'quota_exceeded');
        assert.equal(error.type, 'rate_limit_error');
        assert.ok(Number(error.headers?.get('retry-after')) > 0);
        return true;
      });
    }
  });
});
