import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { Agent, ApiKeyAuth, CompositeAuth, DefinableModule, JwtAuth, Model, ModelChunk, ModelError, ModelRequest } from '../../lib';
import { TestModel } from '../../lib/testing';
import { deferred } from '../support/fixtures';
import { PLATFORMS, post, readSse, startApp, TestApp } from '../support/nest';

const API_KEY = 'test-api-key-0001';
const SECRET = 'jwt-test-secret-with-enough-length';

/** A model whose stream waits for the test's go-ahead between chunks, and reports when it is aborted. */
class GatedModel implements Model {
  readonly id = 'gated';
  readonly provider = 'test';
  readonly capabilities = { images: false, audio: false, video: false };
  gate = deferred();
  aborted = deferred();
  cost() {
    return null;
  }
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    request.signal?.addEventListener('abort', () => this.aborted.resolve(), { once: true });
    yield { type: 'content', delta: 'first ' };
    await Promise.race([this.gate.promise, this.aborted.promise]);
    if (request.signal?.aborted) return;
    yield { type: 'content', delta: 'second' };
    yield { type: 'finish', reason: 'stop' };
  }
}

for (const platform of PLATFORMS) {
  describe(`HTTP API on ${platform}`, () => {
    describe('without auth', () => {
      let server: TestApp;
      let gated: GatedModel;
      const scripted = new TestModel({
        responses: (call) => {
          const text = JSON.stringify(call.messages.at(-1)?.content ?? '');
          if (text.includes('provider down')) return { error: new ModelError('model_unavailable', 'Model test failed (HTTP 503): try again later.') };
          if (text.includes('bug')) return { error: new TypeError('cannot read properties of undefined') };
          return { chunks: ['Hello', ' there'], usage: { inputTokens: 3, outputTokens: 2 } };
        },
      });
      before(async () => {
        gated = new GatedModel();
        server = await startApp(platform, {
          imports: [
            DefinableModule.forRoot({
              agent: new Agent({ name: 'main', model: scripted }),
              agents: { gated: new Agent({ name: 'gated', model: gated }) },
              bodyLimit: 2048,
            }),
          ],
        });
      });
      after(() => server.close());

      it('POST /run answers with the output in snake_case', async () => {
        const res = await post(`${server.url}/run`, { input: 'hi', session_id: 'http-s1', user_id: 'u1' });
        assert.equal(res.status, 200);
        assert.equal(res.body.content, 'Hello there');
        assert.equal(res.body.content_type, 'text');
        assert.equal(res.body.session_id, 'http-s1');
        assert.equal(res.body.user_id, 'u1');
        assert.equal(res.body.status, 'completed');
        assert.equal(res.body.model, 'test-model');
        assert.equal(typeof res.body.run_id, 'string');
        assert.deepEqual(
          { ...res.body.metrics, duration: 0, time_to_first_token: 0 },
          { input_tokens: 3, output_tokens: 2, total_tokens: 5, reasoning_tokens: null, cost: null, duration: 0, time_to_first_token: 0 },
        );
      });

      it('streams Server-Sent Events as they happen, ending with RunCompleted', async () => {
        gated.gate = deferred();
        const response = await fetch(`${server.url}/run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: 'go', agent: 'gated', stream: true }),
        });
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
        const seen: string[] = [];
        let text = '';
        for await (const frame of readSse(response)) {
          seen.push(frame.event);
          if (frame.event === 'RunContent') text += frame.data.content;
          // The run cannot finish before this: proves the first events were flushed while it was running.
          if (frame.event === 'RunContent' && frame.data.content === 'first ') gated.gate.resolve();
          if (frame.event === 'RunCompleted') {
            assert.equal(frame.data.output.status, 'completed');
            assert.equal(typeof frame.data.run_id, 'string');
          }
        }
        assert.equal(text, 'first second');
        assert.deepEqual(seen, ['RunStarted', 'RunContent', 'RunContent', 'RunContentCompleted', 'RunCompleted']);
      });

      it('speaks the lean SSE wire: ids once in RunStarted and the terminal event, content frames carry only the delta, every frame numbered', async () => {
        const response = await fetch(`${server.url}/run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: 'hi', stream: true, session_id: 'lean-1' }),
        });
        const text = await response.text();
        const frames = text.split('\n\n').filter(Boolean);
        frames.forEach((frame, index) => assert.match(frame, new RegExp(`^id:${index + 1}\nevent:\\w+\ndata:`), `frame ${index + 1} is numbered and named`));
        const parsed = frames.map((frame) => ({ event: /event:(\w+)/.exec(frame)![1], data: JSON.parse(frame.slice(frame.indexOf('data:') + 5)) }));
        const started = parsed[0];
        assert.equal(started.event, 'RunStarted');
        assert.deepEqual(Object.keys(started.data).sort(), ['agent_id', 'agent_name', 'created_at', 'model', 'run_id', 'session_id', 'user_id']);
        assert.equal(started.data.session_id, 'lean-1');
        for (const content of parsed.filter((frame) => frame.event === 'RunContent')) assert.deepEqual(Object.keys(content.data), ['content']);
        assert.ok(frames.some((frame) => /^id:\d+\nevent:RunContent\ndata:\{"content":"[^"]*"\}$/.test(frame)), 'a content frame is exactly its delta');
        // The streamed text is not sent again at its end; GET /runs/:id has it whole.
        const ended = parsed.find((frame) => frame.event === 'RunContentCompleted')!;
        assert.deepEqual(ended.data, {});
        const completed = parsed.at(-1)!;
        assert.equal(completed.event, 'RunCompleted');
        assert.equal(completed.data.run_id, started.data.run_id);
        assert.equal(completed.data.session_id, 'lean-1');
        assert.equal(completed.data.output.run_id, started.data.run_id);
        assert.equal('content' in completed.data.output, false);
        assert.equal(completed.data.output.content_type, 'text');
        const streamed = parsed.filter((frame) => frame.event === 'RunContent').map((frame) => frame.data.content).join('');
        const recorded: any = await (await fetch(`${server.url}/runs/${started.data.run_id}`)).json();
        assert.equal(recorded.output.content, streamed);
        const middle = parsed.slice(1, -1);
        assert.ok(middle.every((frame) => !('run_id' in frame.data) && !('session_id' in frame.data) && !('created_at' in frame.data) && !('event' in frame.data)));
      });

      it('streams when the client accepts text/event-stream', async () => {
        const response = await fetch(`${server.url}/run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ input: 'hi' }),
        });
        const events = [];
        for await (const frame of readSse(response)) events.push(frame.event);
        assert.equal(events.at(-1), 'RunCompleted');
      });

      it('aborts the run when the streaming client disconnects', async () => {
        gated.gate = deferred();
        gated.aborted = deferred();
        const client = new AbortController();
        const response = await fetch(`${server.url}/run`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: 'go', agent: 'gated', stream: true }),
          signal: client.signal,
        });
        for await (const frame of readSse(response)) {
          if (frame.event === 'RunContent') break;
        }
        client.abort();
        await gated.aborted.promise;
      });

      const badRequests: [string, unknown, RegExp][] = [
        ['missing input', { session_id: 's' }, /"input" is required/],
        ['empty input', { input: '   ' }, /must not be empty/],
        ['non-string input', { input: 42 }, /must be a string, got a number/],
        ['wrong session_id type', { input: 'x', session_id: 5 }, /"session_id" must be a non-empty string/],
        ['wrong stream type', { input: 'x', stream: 'yes' }, /"stream" must be true or false/],
        ['an array body', [1, 2], /must be a JSON object/],
      ];
      for (const [name, body, message] of badRequests) {
        it(`answers 400 for ${name}`, async () => {
          const res = await post(`${server.url}/run`, body);
          assert.equal(res.status, 400);
          assert.equal(res.body.error.code, 'invalid_request');
          assert.match(res.body.error.message, message);
        });
      }

      it('answers 400 for malformed JSON (the platform parser refuses it before routing)', async () => {
        const res = await post(`${server.url}/run`, '{"input": ');
        assert.equal(res.status, 400);
      });

      it('answers 400 for an unknown agent', async () => {
        const res = await post(`${server.url}/run`, { input: 'x', agent: 'nobody' });
        assert.equal(res.status, 400);
        assert.equal(res.body.error.code, 'unknown_agent');
      });

      it('answers 413 for a body over the limit', async () => {
        const res = await post(`${server.url}/run`, { input: 'x'.repeat(4096) });
        assert.equal(res.status, 413);
        assert.equal(res.body.error.code, 'payload_too_large');
      });

      it('answers 502 when the model provider fails', async () => {
        const res = await post(`${server.url}/run`, { input: 'provider down' });
        assert.equal(res.status, 502);
        assert.equal(res.body.error.code, 'model_unavailable');
        assert.equal(res.body.error.message, 'The model provider is unavailable; retry later.', "a fixed message, never the provider's text");
        assert.match(res.body.error.request_id, /^req_[0-9a-f]{20}$/);
      });

      it('answers 500 for a bug, without a stack trace', async () => {
        const res = await post(`${server.url}/run`, { input: 'bug' });
        assert.equal(res.status, 500);
        assert.equal(res.body.error.code, 'internal');
        assert.doesNotMatch(JSON.stringify(res.body), /at .*\.js|TypeError|cannot read/);
      });

      it('GET /health reports the agents', async () => {
        const res = await fetch(`${server.url}/health`);
        const body = (await res.json()) as any;
        assert.equal(res.status, 200);
        assert.equal(body.status, 'ok');
        assert.equal(body.agent, 'main');
        assert.deepEqual(body.agents, ['main', 'gated']);
        assert.deepEqual(body.interfaces, []);
        assert.equal(typeof body.uptime_s, 'number');
      });
    });

    describe('with auth', () => {
      let server: TestApp;
      before(async () => {
        server = await startApp(platform, {
          imports: [
            DefinableModule.forRoot({
              agent: new Agent({ model: new TestModel({ responses: () => 'ok' }) }),
              auth: new CompositeAuth(
                new ApiKeyAuth({ keys: [API_KEY] }),
                new JwtAuth({ secret: SECRET, audience: 'definable', issuer: 'tests' }),
              ),
            }),
          ],
        });
      });
      after(() => server.close());
      const token = (claims: object, options: jwt.SignOptions = {}) =>
        jwt.sign(claims, SECRET, { audience: 'definable', issuer: 'tests', ...('exp' in claims ? {} : { expiresIn: 60 }), ...options });

      it('keeps /health public', async () => {
        assert.equal((await fetch(`${server.url}/health`)).status, 200);
      });

      it('accepts the API key in X-API-Key or as a bearer token, refuses a wrong or missing one', async () => {
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, { 'x-api-key': API_KEY })).status, 200);
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, { authorization: `Bearer ${API_KEY}` })).status, 200);
        const wrong = await post(`${server.url}/run`, { input: 'x' }, { 'x-api-key': 'wrong-key-123456' });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.body.error.code, 'unauthorized');
        assert.equal((await post(`${server.url}/run`, { input: 'x' })).status, 401);
      });

      it('lets a trusted API key run for a user it names', async () => {
        const res = await post(`${server.url}/run`, { input: 'x', user_id: 'end-user-7' }, { 'x-api-key': API_KEY });
        assert.equal(res.status, 200);
        assert.equal(res.body.user_id, 'end-user-7');
      });

      it('accepts a valid JWT and runs as its subject', async () => {
        const res = await post(`${server.url}/run`, { input: 'x' }, { authorization: `Bearer ${token({ sub: 'alice' })}` });
        assert.equal(res.status, 200);
        assert.equal(res.body.user_id, 'alice');
      });

      it('refuses an expired JWT, a wrong audience and alg none', async () => {
        const expired = token({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 10 });
        const wrongAudience = token({ sub: 'alice' }, { audience: 'someone-else' });
        const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
          JSON.stringify({ sub: 'alice', aud: 'definable', iss: 'tests', exp: Math.floor(Date.now() / 1000) + 60 }),
        ).toString('base64url')}.`;
        for (const bad of [expired, wrongAudience, none]) {
          const res = await post(`${server.url}/run`, { input: 'x' }, { authorization: `Bearer ${bad}` });
          assert.equal(res.status, 401, bad);
        }
      });

      it('refuses a JWT user who claims another user_id with 403', async () => {
        const res = await post(`${server.url}/run`, { input: 'x', user_id: 'bob' }, { authorization: `Bearer ${token({ sub: 'alice' })}` });
        assert.equal(res.status, 403);
        assert.equal(res.body.error.code, 'forbidden');
        const own = await post(`${server.url}/run`, { input: 'x', user_id: 'alice' }, { authorization: `Bearer ${token({ sub: 'alice' })}` });
        assert.equal(own.status, 200);
      });

      it("answers for another user's session id exactly as for an unused one (sessions are keyed per user)", async () => {
        const alice = { authorization: `Bearer ${token({ sub: 'alice' })}` };
        const mallory = { authorization: `Bearer ${token({ sub: 'mallory' })}` };
        assert.equal((await post(`${server.url}/run`, { input: 'x', session_id: 'alices' }, alice)).status, 200);
        const foreign = await post(`${server.url}/run`, { input: 'x', session_id: 'alices' }, mallory);
        const unused = await post(`${server.url}/run`, { input: 'x', session_id: 'never-used' }, mallory);
        assert.equal(foreign.status, 200);
        assert.equal(foreign.status, unused.status);
        assert.equal(foreign.body.status, unused.body.status);
        assert.equal(foreign.body.session_id, 'alices');
        assert.equal(foreign.body.content, unused.body.content);
      });
    });
  });
}
