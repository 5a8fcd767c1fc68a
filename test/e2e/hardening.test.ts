import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import OpenAI from 'openai';
import { Agent, ApiKeyAuth, DefinableExceptionFilter, DefinableModule, OpenAIChat, serve, Webhook, type TriggerEvent } from '../../lib';
import { startFakeOpenAI, TestModel } from '../../lib/testing';
import { MemoryInterface } from '../support/memory-interface';
import { flush, PLATFORMS, post, readSse, startApp, type SseEvent } from '../support/nest';

const KEY = 'hardening-key-01';
const echo = () => new Agent({ model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });

/** Records what Nest logs, by level. */
function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  return { lines, logger: { log: at('log'), error: at('error'), warn: at('warn'), debug: at('debug'), verbose: at('verbose') } };
}

describe('nothing sensitive leaves', () => {
  it("/health shows interface states and restart counts, never an interface's raw error", async () => {
    const chat = new MemoryInterface();
    chat.failStarts.push(new Error('signal-cli at http://10.0.0.7:8080 refused +4915112345678'));
    const server = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: echo(), interfaces: [chat] })] });
    try {
      while (chat.starts === 0) await flush();
      const body = await (await fetch(`${server.url}/health`)).text();
      assert.match(body, /"restarts"/);
      assert.doesNotMatch(body, /4915112345678|10\.0\.0\.7|lastError/);
    } finally {
      await server.close();
    }
  });

  for (const platform of PLATFORMS) {
    it(`a provider's error reaches the caller as code, fixed message and request id; its text only in the log, redacted (${platform})`, async () => {
      const echoed = 'Incorrect API key provided: sk-live-abcdef1234567890. Authorization: Bearer sk-live-abcdef1234567890';
      const fake = await startFakeOpenAI({ defaultReply: () => ({ status: 401, errorMessage: echoed }) });
      const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', client: new OpenAI({ apiKey: 'sk-live-abcdef1234567890', baseURL: fake.baseURL, maxRetries: 0 }) }) });
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent })] });
      const { lines, logger } = recordingLogger();
      server.app.useLogger(logger);
      try {
        const json = await post(`${server.url}/run`, { input: 'hi' });
        assert.equal(json.status, 502);
        assert.equal(json.body.error.code, 'model_auth');
        assert.equal(json.body.error.message, "The model provider refused the server's credentials.");
        assert.match(json.body.error.request_id, /^req_[0-9a-f]{20}$/);
        assert.doesNotMatch(JSON.stringify(json.body), /sk-live|Incorrect API key/);
        const logged = lines.find((line) => line.message.includes(json.body.error.request_id));
        assert.ok(logged, 'the details are logged under the request id');
        assert.match(logged.message, /Incorrect API key/);
        assert.doesNotMatch(logged.message, /abcdef1234567890/, 'the key is redacted in the log');

        const stream = await fetch(`${server.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 'hi', stream: true }) });
        const events: SseEvent[] = [];
        for await (const event of readSse(stream)) events.push(event);
        assert.doesNotMatch(JSON.stringify(events), /sk-live|Incorrect API key/);
        const failed = events.find((event) => event.event === 'RunError');
        assert.equal(failed?.data.error.code, 'model_auth');
        assert.match(failed?.data.error.request_id, /^req_/);
        assert.equal(failed?.data.output.error.request_id, failed?.data.error.request_id);
      } finally {
        await server.close();
        await fake.close();
      }
    });
  }
});

@Controller('hooks')
class Hooks {
  @Webhook('/json')
  json(event: TriggerEvent<{ text?: string }>) {
    return `json ${event.body?.text}`;
  }

  @Webhook('/form', { contentTypes: ['application/x-www-form-urlencoded'] })
  form(event: TriggerEvent<{ text?: string }>) {
    return `form ${event.body?.text}`;
  }

  @Webhook('/as')
  as(event: TriggerEvent<{ userId?: string }>) {
    return { input: 'who am I?', ...(event.body?.userId ? { userId: event.body.userId } : {}) };
  }
}

for (const platform of PLATFORMS) {
  describe(`edges (${platform})`, () => {
    it('a webhook takes JSON unless it accepts more: a form body gets 415, or reaches a webhook that accepts it', async () => {
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo() })], controllers: [Hooks] });
      try {
        const form = { 'content-type': 'application/x-www-form-urlencoded' };
        const refused = await post(`${server.url}/hooks/json`, 'text=hello', form);
        assert.equal(refused.status, 415);
        assert.equal(refused.body.error.code, 'unsupported_media_type');
        assert.equal((await post(`${server.url}/hooks/json`, { text: 'hi' })).body.content, 'echo: json hi');
        if (platform === 'express') {
          // Fastify has no form parser unless the app adds one (it answers 415 itself).
          assert.equal((await post(`${server.url}/hooks/form`, 'text=hello', form)).body.content, 'echo: form hello');
        }
      } finally {
        await server.close();
      }
    });

    it("empty X-API-Key headers do not hide a valid bearer key", async () => {
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo(), auth: new ApiKeyAuth({ keys: [KEY] }) })] });
      try {
        // Two empty X-API-Key lines (Node joins them as ", ") and the key as a bearer token.
        const status = await new Promise<number>((resolve, reject) => {
          const req = request(`${server.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.setHeader('x-api-key', ['', '']);
          req.on('error', reject);
          req.end(JSON.stringify({ input: 'hi' }));
        });
        assert.equal(status, 200);
      } finally {
        await server.close();
      }
    });

    it("a webhook run of an authenticated caller is that caller's; another userId only for trusted principals (else 403)", async () => {
      const untrusted = new ApiKeyAuth({ keys: [{ key: KEY, userId: 'alice' }], trusted: false });
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo(), auth: untrusted })], controllers: [Hooks] });
      try {
        const own = await post(`${server.url}/hooks/as`, {}, { 'x-api-key': KEY });
        assert.equal(own.status, 200);
        const runs = await post(`${server.url}/run`, { input: 'x', session_id: own.body.session_id }, { 'x-api-key': KEY });
        assert.equal(runs.body.user_id, 'alice', "the webhook's session belongs to the caller");
        const other = await post(`${server.url}/hooks/as`, { userId: 'bob' }, { 'x-api-key': KEY });
        assert.equal(other.status, 403);
        assert.equal(other.body.error.code, 'forbidden');
      } finally {
        await server.close();
      }
      const trusted = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent: echo(), auth: new ApiKeyAuth({ keys: [{ key: KEY, userId: 'backend' }] }) })],
        controllers: [Hooks],
      });
      try {
        assert.equal((await post(`${trusted.url}/hooks/as`, { userId: 'bob' }, { 'x-api-key': KEY })).status, 200);
      } finally {
        await trusted.close();
      }
    });

    it('a chunked /run body nested 5,000 levels deep gets a 4xx, never a 5xx', async () => {
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo() })] });
      try {
        const deep = `{"input":"hi","metadata":${'['.repeat(5000)}${']'.repeat(5000)}}`;
        // A stream body: no Content-Length, sent chunked.
        const body = new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(deep));
            controller.close();
          },
        });
        const response = await fetch(`${server.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
        assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
        const answer = (await response.json()) as { error: { code: string; message: string } };
        assert.equal(typeof answer.error.code, 'string');
      } finally {
        await server.close();
      }
    });
  });
}

describe('serve() timeouts', () => {
  it('ends a connection whose body never finishes arriving (slowloris) with 408 once requestMs has passed', async () => {
    const server = await serve(echo(), { port: 0, host: '127.0.0.1', logger: false, handleSignals: false, timeouts: { requestMs: 500, headersMs: 250 } });
    try {
      const { port } = new URL(server.url);
      const socket = connect(Number(port), '127.0.0.1');
      await once(socket, 'connect');
      // Headers complete, then 10 of the 100 announced body bytes, and nothing more.
      socket.write('POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"input":"');
      const received: Buffer[] = [];
      socket.on('data', (chunk) => received.push(chunk));
      // A hang guard, not a timing assertion: without a request timeout the server holds the connection forever.
      const held = setTimeout(() => socket.destroy(new Error('the server held the connection open')), 20_000);
      const [closeError] = await Promise.race([once(socket, 'close'), once(socket, 'error')]);
      clearTimeout(held);
      assert.notEqual(closeError instanceof Error ? closeError.message : '', 'the server held the connection open');
      assert.match(Buffer.concat(received).toString(), /^HTTP\/1\.1 408/);
    } finally {
      await server.close();
    }
  });
});

/** A small deterministic generator (mulberry32), so a failing body can be reproduced from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY_STRINGS = ['', ' ', '\u0000', '\ud800', '💥'.repeat(50), '<script>alert(1)</script>', '../../etc/passwd', '%00', 'a'.repeat(5000), '{"input":1}', 'null', '1e309'];
const NASTY_KEYS = ['input', 'session_id', 'user_id', 'stream', 'agent', 'metadata', '__proto__', 'constructor', 'prototype', 'toString', ''];

function value(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 4 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return next() < 0.5;
    case 2: return [0, -1, 1e308, -1e-308, 2 ** 53 + 1, 0.1][Math.floor(next() * 6)];
    case 3: case 4: return NASTY_STRINGS[Math.floor(next() * NASTY_STRINGS.length)];
    case 5: return `text ${Math.floor(next() * 1e6)}`;
    case 6: return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(next() * 5) }, () => [NASTY_KEYS[Math.floor(next() * NASTY_KEYS.length)], value(next, depth + 1)]));
  }
}

/** A generated request body: mostly JSON objects with the /run fields in odd shapes, some raw text. */
function fuzzBody(next: () => number): { body: string; contentType: string } {
  const roll = next();
  if (roll < 0.1) return { body: NASTY_STRINGS[Math.floor(next() * NASTY_STRINGS.length)], contentType: 'application/json' };
  if (roll < 0.15) return { body: '{"input": "hi"', contentType: 'application/json' };
  if (roll < 0.2) return { body: 'input=hi', contentType: ['text/plain', 'application/x-www-form-urlencoded', 'application/xml'][Math.floor(next() * 3)] };
  const fields: Record<string, unknown> = next() < 0.6 ? { input: value(next, 0) } : {};
  for (let i = Math.floor(next() * 4); i > 0; i--) fields[NASTY_KEYS[Math.floor(next() * NASTY_KEYS.length)]] = value(next, 0);
  if (next() < 0.3) fields.input = `question ${Math.floor(next() * 100)}`;
  return { body: JSON.stringify(fields), contentType: next() < 0.9 ? 'application/json' : 'application/json; charset=utf-8' };
}

@Controller('fuzz')
class FuzzHooks {
  @Webhook('/hook')
  hook(event: TriggerEvent<Record<string, unknown> | undefined>) {
    const input = event.body?.input;
    return typeof input === 'string' ? { input, ...(typeof event.body?.session === 'string' ? { sessionId: event.body.session } : {}) } : null;
  }
}

for (const platform of PLATFORMS) {
  describe(`fuzzing /run and a webhook (${platform})`, () => {
    it('2,000 generated bodies: never a 5xx, every error in the module shape', async () => {
      // As the README recommends: parser errors (before any route) in the module's shape too.
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: echo() })], controllers: [FuzzHooks] }, (app) =>
        app.useGlobalFilters(new DefinableExceptionFilter(app.get(HttpAdapterHost))),
      );
      const next = random(platform === 'fastify' ? 1 : 2);
      const problems: string[] = [];
      try {
        for (let i = 0; i < 2000; i++) {
          const { body, contentType } = fuzzBody(next);
          const path = i % 2 ? '/fuzz/hook' : '/run';
          const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
          const text = await response.text();
          let parsed: { error?: { code?: unknown; message?: unknown } } | undefined;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* checked below */
          }
          if (response.status >= 500) problems.push(`#${i} ${path} ${response.status} ${body.slice(0, 120)} -> ${text.slice(0, 200)}`);
          else if (response.status >= 400 && (typeof parsed?.error?.code !== 'string' || typeof parsed.error.message !== 'string')) {
            problems.push(`#${i} ${path} ${response.status} not in the error shape: ${text.slice(0, 200)}`);
          }
        }
      } finally {
        await server.close();
      }
      assert.deepEqual(problems, []);
    });
  });
}
