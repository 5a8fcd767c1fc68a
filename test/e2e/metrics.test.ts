import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Counter, register } from 'prom-client';
import { z } from 'zod';
import { Agent, defineTool, DefinableMetrics, DefinableModule, TelegramInterface, TriggerEvent, Webhook } from '../../lib';
import { startFakeTelegram, TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp } from '../support/nest';

/** One sample of the Prometheus text exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (what Prometheus scrapes). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a valid exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with this name whose labels include `labels`; `undefined` when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))?.value;
}

async function scrape(url: string): Promise<{ samples: Sample[]; text: string; contentType: string | null }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  return { samples: parse(text), text, contentType: response.headers.get('content-type') };
}

const add = defineTool({ name: 'add', description: 'Adds', parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
const broken = defineTool({ name: 'broken', description: 'Fails', parameters: z.object({}), execute: () => Promise.reject(new Error('nope')) });

@Controller('hooks')
class Hooks {
  @Webhook('/push/:repo', { auth: false })
  onPush(event: TriggerEvent<{ ref: string }>) {
    return `Summarize ${event.body.ref}`;
  }
}

for (const platform of PLATFORMS) {
  describe(`Prometheus metrics (${platform})`, () => {
    it('GET /metrics serves the default registry: runs by agent, trigger kind and status, durations, tokens, cost, tool calls, gauges', async () => {
      register.clear();
      // The app's own metric in the default registry, as @willsoto/nestjs-prometheus or an app's code registers one.
      const own = new Counter({ name: 'app_orders_total', help: 'Orders' });
      own.inc(3);
      const model = new TestModel({
        id: 'gpt-4o-mini',
        price: { input: 1, output: 2 },
        responses: (call, index) =>
          call.messages.at(-1)?.content === 'fail'
            ? { error: new Error('model down') }
            : index % 3 === 0 && call.messages.at(-1)?.role === 'user'
              ? { toolCalls: [{ name: 'add', args: { a: 1, b: 2 } }, { name: 'broken', args: {} }], usage: { inputTokens: 100, outputTokens: 10 } }
              : { content: 'ok', usage: { inputTokens: 40, outputTokens: 5 } },
      });
      const agent = new Agent({ name: 'main', model, tools: [add, broken] });
      const app = await startApp(platform, { imports: [DefinableModule.forRoot({ agent, metrics: { route: true } })], controllers: [Hooks] });
      try {
        assert.equal((await post(`${app.url}/run`, { input: 'sum please', user_id: 'alice-secret-id', session_id: 'session-secret' })).status, 200);
        assert.equal((await post(`${app.url}/run`, { input: 'hello' })).status, 200);
        assert.equal((await post(`${app.url}/run`, { input: 'fail' })).status, 500);
        assert.equal((await post(`${app.url}/hooks/push/secret-repo`, { ref: 'main' })).status, 200);
        const { samples, text, contentType } = await scrape(app.url);
        assert.match(String(contentType), /^text\/plain/);
        assert.equal(value(samples, 'app_orders_total'), 3, "the app's own metrics are served beside ours");
        assert.equal(value(samples, 'definable_runs_total', { agent: 'main', trigger: 'http', status: 'completed' }), 2);
        assert.equal(value(samples, 'definable_runs_total', { agent: 'main', trigger: 'http', status: 'error' }), 1);
        assert.equal(value(samples, 'definable_runs_total', { agent: 'main', trigger: 'webhook', status: 'completed' }), 1);
        assert.equal(value(samples, 'definable_run_duration_seconds_count', { agent: 'main', trigger: 'http', status: 'completed' }), 2);
        assert.equal(value(samples, 'definable_tool_calls_total', { agent: 'main', tool: 'add', outcome: 'ok' }), 1);
        assert.equal(value(samples, 'definable_tool_calls_total', { agent: 'main', tool: 'broken', outcome: 'error' }), 1);
        // Tokens of the completed runs and of the failed one's calls: 100+40 (tool run) + 40 (hello) + 40 (webhook).
        assert.equal(value(samples, 'definable_model_tokens_total', { agent: 'main', model: 'gpt-4o-mini', type: 'input' }), 220);
        assert.equal(value(samples, 'definable_model_tokens_total', { agent: 'main', model: 'gpt-4o-mini', type: 'output' }), 25);
        assert.ok((value(samples, 'definable_model_cost_usd_total', { agent: 'main', model: 'gpt-4o-mini' }) ?? 0) > 0);
        assert.equal(value(samples, 'definable_runs_in_flight'), 0);
        assert.equal(value(samples, 'definable_queue_depth', { queue: 'webhooks' }), 0);
        // No per-user, per-session or per-path labels.
        assert.doesNotMatch(text, /alice-secret-id|session-secret|secret-repo/);
      } finally {
        await app.close();
        register.clear();
      }
    });
  });
}

describe('Prometheus metrics: wiring', () => {
  it('reports each interface state and restarts, and the chat queue', async () => {
    register.clear();
    const token = '123456:metrics-token';
    const telegram = await startFakeTelegram({ tokens: [token] });
    const moduleRef = await Test.createTestingModule({
      imports: [
        DefinableModule.forRoot({
          agent: { model: new TestModel({ responses: () => 'hi' }) },
          interfaces: [new TelegramInterface({ botToken: token, apiRoot: telegram.apiRoot })],
          metrics: true,
          server: { enabled: false },
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      await telegram.waitForCall((call) => call.method === 'getUpdates');
      const scraped = await moduleRef.get(DefinableMetrics).scrape();
      const samples = parse(scraped!.body);
      assert.equal(value(samples, 'definable_interface_state', { interface: 'telegram', state: 'running' }), 1);
      assert.equal(value(samples, 'definable_interface_restarts', { interface: 'telegram' }), 0);
      assert.equal(value(samples, 'definable_queue_depth', { queue: 'chat:telegram' }), 0);
    } finally {
      await moduleRef.close();
      await telegram.close();
      register.clear();
    }
  });

  it('serves GET /metrics from forRootAsync with server.metrics, and leaves no route when metrics are off', async () => {
    register.clear();
    const app = await startApp('fastify', {
      imports: [DefinableModule.forRootAsync({ useFactory: () => ({ agent: { model: new TestModel({ responses: () => 'ok' }) }, metrics: true }), server: { metrics: true } })],
    });
    try {
      await post(`${app.url}/run`, { input: 'hi' });
      const { samples } = await scrape(app.url);
      assert.equal(value(samples, 'definable_runs_total', { trigger: 'http', status: 'completed' }), 1);
    } finally {
      await app.close();
      register.clear();
    }
    const off = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: { model: new TestModel({ responses: () => 'ok' }) } })] });
    try {
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
    } finally {
      await off.close();
    }
  });

  it('registers in a registry of the app’s choosing and survives a second app on it', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const boot = () => startApp('express', { imports: [DefinableModule.forRoot({ agent: { model: new TestModel({ responses: () => 'ok' }) }, metrics: { registry, route: '/internal/metrics' } })] });
    const first = await boot();
    const second = await boot();
    try {
      await post(`${first.url}/run`, { input: 'a' });
      await post(`${second.url}/run`, { input: 'b' });
      const response = await fetch(`${second.url}/internal/metrics`);
      const samples = parse(await response.text());
      assert.equal(value(samples, 'definable_runs_total', { trigger: 'http', status: 'completed' }), 2);
      assert.equal(register.getSingleMetric('definable_runs_total'), undefined, 'nothing in the default registry');
    } finally {
      await first.close();
      await second.close();
    }
  });
});
