import assert from 'node:assert/strict';
import Module from 'node:module';
import { describe, it } from 'node:test';
import * as client from 'prom-client';
import { Registry } from 'prom-client';
import { loadPromClient, metricsRoute, RunMetrics, triggerKind, type MetricsSources } from '../../lib/module/telemetry/run-metrics';

/** One sample of the text exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A tiny parser of the Prometheus text format (enough for prom-client's output). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with that name and (exactly) those labels; undefined when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `several samples for ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function sources(overrides: Partial<MetricsSources> = {}): MetricsSources {
  return {
    inFlight: () => 0,
    queueDepth: () => ({}),
    interfaces: () => [],
    ...overrides,
  };
}

async function scrape(metrics: RunMetrics): Promise<Sample[]> {
  const { contentType, body } = await metrics.scrape();
  assert.match(contentType, /^text\/plain/);
  return parse(body);
}

const baseRun = { agent: 'support', trigger: 'http', status: 'completed', model: 'gpt-4o-mini', duration: 1.5, timeToFirstToken: 0.3, inputTokens: 100, outputTokens: 20, cost: 0.002, toolCalls: [] };

describe('RunMetrics', () => {
  it('records ended runs: counters by labels, histograms, tokens, cost and tool calls', async () => {
    const registry = new Registry();
    const metrics = new RunMetrics({ registry }, sources(), client);
    metrics.runEnded({ ...baseRun, toolCalls: [{ name: 'search' }, { name: 'search', error: 'timeout' }, { name: 'lookup' }] });
    metrics.runEnded({ ...baseRun, duration: 0.2, timeToFirstToken: null, cost: null, inputTokens: 50, outputTokens: 5, toolCalls: [{ name: 'search' }] });
    metrics.runEnded({ ...baseRun, agent: 'triage', trigger: 'cron', status: 'error', model: 'llama3.1', duration: 40, timeToFirstToken: null, inputTokens: 7, outputTokens: 0, cost: null, toolCalls: [{ name: 'lookup', error: 'boom' }] });

    const s = await scrape(metrics);
    const p = 'definable_';
    assert.equal(value(s, `${p}runs_total`, { agent: 'support', trigger: 'http', status: 'completed' }), 2);
    assert.equal(value(s, `${p}runs_total`, { agent: 'triage', trigger: 'cron', status: 'error' }), 1);
    assert.equal(s.filter((x) => x.name === `${p}runs_total`).length, 2);

    assert.equal(value(s, `${p}run_duration_seconds_count`, { agent: 'support', trigger: 'http', status: 'completed' }), 2);
    assert.equal(value(s, `${p}run_duration_seconds_sum`, { agent: 'support', trigger: 'http', status: 'completed' }), 1.7);
    assert.equal(value(s, `${p}run_duration_seconds_bucket`, { agent: 'support', trigger: 'http', status: 'completed', le: '0.25' }), 1);
    assert.equal(value(s, `${p}run_duration_seconds_bucket`, { agent: 'support', trigger: 'http', status: 'completed', le: '2.5' }), 2);
    assert.equal(value(s, `${p}run_duration_seconds_bucket`, { agent: 'triage', trigger: 'cron', status: 'error', le: '30' }), 0);
    assert.equal(value(s, `${p}run_duration_seconds_bucket`, { agent: 'triage', trigger: 'cron', status: 'error', le: '60' }), 1);
    assert.equal(value(s, `${p}run_duration_seconds_bucket`, { agent: 'triage', trigger: 'cron', status: 'error', le: '+Inf' }), 1);
    assert.equal(value(s, `${p}run_duration_seconds_sum`, { agent: 'triage', trigger: 'cron', status: 'error' }), 40);

    // Time to first token: only the run that had one.
    assert.equal(value(s, `${p}time_to_first_token_seconds_count`, { agent: 'support', model: 'gpt-4o-mini' }), 1);
    assert.equal(value(s, `${p}time_to_first_token_seconds_sum`, { agent: 'support', model: 'gpt-4o-mini' }), 0.3);
    assert.equal(value(s, `${p}time_to_first_token_seconds_count`, { agent: 'triage', model: 'llama3.1' }), undefined);

    assert.equal(value(s, `${p}model_tokens_total`, { agent: 'support', model: 'gpt-4o-mini', type: 'input' }), 150);
    assert.equal(value(s, `${p}model_tokens_total`, { agent: 'support', model: 'gpt-4o-mini', type: 'output' }), 25);
    assert.equal(value(s, `${p}model_tokens_total`, { agent: 'triage', model: 'llama3.1', type: 'input' }), 7);
    assert.equal(value(s, `${p}model_tokens_total`, { agent: 'triage', model: 'llama3.1', type: 'output' }), 0);

    // Cost: only priced runs.
    assert.equal(value(s, `${p}model_cost_usd_total`, { agent: 'support', model: 'gpt-4o-mini' }), 0.002);
    assert.equal(value(s, `${p}model_cost_usd_total`, { agent: 'triage', model: 'llama3.1' }), undefined);

    assert.equal(value(s, `${p}tool_calls_total`, { agent: 'support', tool: 'search', outcome: 'ok' }), 2);
    assert.equal(value(s, `${p}tool_calls_total`, { agent: 'support', tool: 'search', outcome: 'error' }), 1);
    assert.equal(value(s, `${p}tool_calls_total`, { agent: 'support', tool: 'lookup', outcome: 'ok' }), 1);
    assert.equal(value(s, `${p}tool_calls_total`, { agent: 'triage', tool: 'lookup', outcome: 'error' }), 1);
    assert.equal(s.filter((x) => x.name === `${p}tool_calls_total`).length, 4);
  });

  it('reads the gauges from the sources at scrape time', async () => {
    const registry = new Registry();
    let inFlight = 3;
    let queues: Record<string, number> = { webhooks: 4, 'cron-jobs': 0 };
    let states = [
      { name: 'telegram', state: 'running', restarts: 2 },
      { name: 'discord', state: 'starting', restarts: 0 },
    ];
    const metrics = new RunMetrics({ registry, prefix: 'app_' }, sources({ inFlight: () => inFlight, queueDepth: () => queues, interfaces: () => states }), client);

    let s = await scrape(metrics);
    assert.equal(value(s, 'app_runs_in_flight'), 3);
    assert.equal(value(s, 'app_queue_depth', { queue: 'webhooks' }), 4);
    assert.equal(value(s, 'app_queue_depth', { queue: 'cron-jobs' }), 0);
    assert.equal(value(s, 'app_interface_state', { interface: 'telegram', state: 'running' }), 1);
    assert.equal(value(s, 'app_interface_state', { interface: 'discord', state: 'starting' }), 1);
    assert.equal(value(s, 'app_interface_restarts', { interface: 'telegram' }), 2);
    assert.equal(value(s, 'app_interface_restarts', { interface: 'discord' }), 0);
    assert.equal(s.filter((x) => x.name.startsWith('definable_')).length, 0);

    // Next scrape: new figures; a state left reads 0, a queue gone is gone.
    inFlight = 1;
    queues = { webhooks: 2 };
    states = [
      { name: 'telegram', state: 'crashed', restarts: 3 },
      { name: 'discord', state: 'running', restarts: 0 },
    ];
    s = await scrape(metrics);
    assert.equal(value(s, 'app_runs_in_flight'), 1);
    assert.equal(value(s, 'app_queue_depth', { queue: 'webhooks' }), 2);
    assert.equal(value(s, 'app_queue_depth', { queue: 'cron-jobs' }), undefined);
    assert.equal(value(s, 'app_interface_state', { interface: 'telegram', state: 'running' }), 0);
    assert.equal(value(s, 'app_interface_state', { interface: 'telegram', state: 'crashed' }), 1);
    assert.equal(value(s, 'app_interface_state', { interface: 'discord', state: 'starting' }), 0);
    assert.equal(value(s, 'app_interface_state', { interface: 'discord', state: 'running' }), 1);
    assert.equal(value(s, 'app_interface_restarts', { interface: 'telegram' }), 3);
  });

  it('a throwing source does not break the scrape; the others still report', async () => {
    const registry = new Registry();
    const metrics = new RunMetrics(
      { registry },
      {
        inFlight: () => {
          throw new Error('tracker gone');
        },
        queueDepth: () => ({ webhooks: 5 }),
        interfaces: () => {
          throw new Error('supervisor gone');
        },
      },
      client,
    );
    metrics.runEnded(baseRun);
    const s = await scrape(metrics);
    assert.equal(value(s, 'definable_runs_in_flight'), 0);
    assert.equal(value(s, 'definable_queue_depth', { queue: 'webhooks' }), 5);
    assert.equal(s.filter((x) => x.name.startsWith('definable_interface_')).length, 0);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'http', status: 'completed' }), 1);

    // Sources returning garbage are skipped too.
    const odd = new RunMetrics({ registry: new Registry() }, { inFlight: () => NaN, queueDepth: () => null as never, interfaces: () => 'x' as never }, client);
    const t = await scrape(odd);
    assert.equal(value(t, 'definable_runs_in_flight'), 0);
    assert.equal(t.filter((x) => x.name === 'definable_queue_depth').length, 0);
  });

  it('constructed twice on one registry: shares the metrics, the gauges sum live sources, close() detaches', async () => {
    const registry = new Registry();
    const first = new RunMetrics({ registry }, sources({ inFlight: () => 2, queueDepth: () => ({ webhooks: 1 }) }), client);
    const second = new RunMetrics({ registry }, sources({ inFlight: () => 5, queueDepth: () => ({ webhooks: 2, other: 1 }) }), client);
    first.runEnded(baseRun);
    second.runEnded(baseRun);

    let s = await scrape(second);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'http', status: 'completed' }), 2);
    assert.equal(value(s, 'definable_run_duration_seconds_count', { agent: 'support', trigger: 'http', status: 'completed' }), 2);
    assert.equal(value(s, 'definable_runs_in_flight'), 7);
    assert.equal(value(s, 'definable_queue_depth', { queue: 'webhooks' }), 3);
    assert.deepEqual(await first.scrape(), await second.scrape());

    first.close();
    first.close();
    s = await scrape(second);
    assert.equal(value(s, 'definable_runs_in_flight'), 5);
    assert.equal(value(s, 'definable_queue_depth', { queue: 'webhooks' }), 2);
    // Counts carry on after a re-creation.
    const third = new RunMetrics({ registry }, sources(), client);
    third.runEnded(baseRun);
    s = await scrape(third);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'http', status: 'completed' }), 3);

    // Every metric is registered once.
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    assert.deepEqual(names, [
      'definable_interface_restarts',
      'definable_interface_state',
      'definable_model_cost_usd_total',
      'definable_model_tokens_total',
      'definable_queue_depth',
      'definable_run_duration_seconds',
      'definable_runs_in_flight',
      'definable_runs_total',
      'definable_time_to_first_token_seconds',
      'definable_tool_calls_total',
    ]);
  });

  it('refuses a same-named metric of another type or labels, and a bad prefix, buckets or registry', () => {
    const registry = new Registry();
    new client.Gauge({ name: 'definable_runs_total', help: 'not ours', registers: [registry] });
    assert.throws(() => new RunMetrics({ registry }, sources(), client), /definable_runs_total is already registered.*another prefix/);
    const other = new Registry();
    new client.Gauge({ name: 'definable_runs_in_flight', help: 'not ours', registers: [other] });
    assert.throws(() => new RunMetrics({ registry: other }, sources(), client), /definable_runs_in_flight is already registered by something else/);
    assert.throws(() => new RunMetrics({ registry: new Registry(), prefix: 'bad-prefix' }, sources(), client), /prefix/);
    assert.throws(() => new RunMetrics({ registry: new Registry(), durationBuckets: [1, 0.5] }, sources(), client), /durationBuckets/);
    assert.throws(() => new RunMetrics({ registry: {} }, sources(), client), /Registry/);
  });

  it('uses the given buckets and prom-client default registry when none is given', async () => {
    const registry = new Registry();
    const metrics = new RunMetrics({ registry, durationBuckets: [1, 10] }, sources(), client);
    metrics.runEnded({ ...baseRun, duration: 5 });
    const s = await scrape(metrics);
    const les = s.filter((x) => x.name === 'definable_run_duration_seconds_bucket').map((x) => x.labels.le);
    assert.deepEqual(les, ['1', '10', '+Inf']);
    assert.equal(value(s, 'definable_run_duration_seconds_bucket', { agent: 'support', trigger: 'http', status: 'completed', le: '10' }), 1);

    const prefix = `definable_default_${process.pid}_`;
    const onDefault = new RunMetrics({ prefix }, sources());
    try {
      assert.equal(onDefault.registry, client.register);
      assert.ok(client.register.getSingleMetric(`${prefix}runs_total`));
    } finally {
      for (const m of client.register.getMetricsAsArray()) if (m.name.startsWith(prefix)) client.register.removeSingleMetric(m.name);
    }
  });

  it('keeps labels bounded: no user or session, raw triggers reduced to kinds, bad figures left out', async () => {
    const registry = new Registry();
    const metrics = new RunMetrics({ registry }, sources(), client);
    const run = { ...baseRun, userId: 'user-123', sessionId: 'sess-456', trigger: 'POST /hooks/github?token=secret' };
    metrics.runEnded(run as typeof baseRun);
    metrics.runEnded({ ...baseRun, trigger: 'telegram(424242)' });
    metrics.runEnded({ ...baseRun, duration: NaN, inputTokens: -1, outputTokens: Infinity, cost: NaN, timeToFirstToken: -2 });
    assert.doesNotThrow(() => metrics.runEnded(null as never));

    const { body } = await metrics.scrape();
    assert.doesNotMatch(body, /user|sess|424242|hooks|github|secret/i);
    const s = parse(body);
    const labelNames = new Set(s.flatMap((x) => Object.keys(x.labels)));
    for (const name of labelNames) assert.ok(['agent', 'trigger', 'status', 'model', 'type', 'tool', 'outcome', 'le', 'queue', 'interface', 'state'].includes(name), name);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'webhook', status: 'completed' }), 1);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'telegram', status: 'completed' }), 1);
    assert.equal(value(s, 'definable_runs_total', { agent: 'support', trigger: 'http', status: 'completed' }), 1);
    // The run with bad figures: counted, its invalid figures left out.
    assert.equal(value(s, 'definable_run_duration_seconds_count', { agent: 'support', trigger: 'http', status: 'completed' }), undefined);
    assert.equal(value(s, 'definable_model_tokens_total', { agent: 'support', model: 'gpt-4o-mini', type: 'input' }), 200);
    assert.equal(value(s, 'definable_model_tokens_total', { agent: 'support', model: 'gpt-4o-mini', type: 'output' }), 40);
    assert.equal(value(s, 'definable_model_cost_usd_total', { agent: 'support', model: 'gpt-4o-mini' }), 0.004);
    assert.equal(value(s, 'definable_time_to_first_token_seconds_count', { agent: 'support', model: 'gpt-4o-mini' }), 2);
  });
});

describe('triggerKind', () => {
  it('reduces triggers to kinds', () => {
    assert.equal(triggerKind('POST /run'), 'http');
    assert.equal(triggerKind('cron(0 9 * * *)'), 'cron');
    assert.equal(triggerKind('event(order.created)'), 'event');
    assert.equal(triggerKind('telegram(42)'), 'telegram');
    assert.equal(triggerKind('discord(123456789)'), 'discord');
    assert.equal(triggerKind('Slack(C01)'), 'slack');
    assert.equal(triggerKind('POST /hooks/github'), 'webhook');
    assert.equal(triggerKind('PUT /hooks/x'), 'webhook');
    assert.equal(triggerKind('POST /runs/abc/cancel'), 'webhook');
    assert.equal(triggerKind('POST /running'), 'webhook');
    assert.equal(triggerKind('script'), 'other');
    assert.equal(triggerKind(''), 'other');
    assert.equal(triggerKind('(42)'), 'other');
    assert.equal(triggerKind('post /hooks'), 'other');
    assert.equal(triggerKind(undefined as never), 'other');
  });
});

describe('metrics helpers', () => {
  it('metricsRoute: true, a path, or none', () => {
    assert.equal(metricsRoute({ route: true }), '/metrics');
    assert.equal(metricsRoute({ route: '/internal/metrics' }), '/internal/metrics');
    assert.equal(metricsRoute({ route: 'prom' }), '/prom');
    assert.equal(metricsRoute({ route: false }), null);
    assert.equal(metricsRoute({}), null);
    assert.equal(metricsRoute(), null);
    assert.throws(() => metricsRoute({ route: '' }), /metrics\.route/);
    assert.throws(() => metricsRoute({ route: '/a?b' }), /metrics\.route/);
  });

  it('loadPromClient loads prom-client, and says how to install it when missing', () => {
    assert.equal(loadPromClient().Registry, client.Registry);
    const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = loader._load;
    loader._load = function (request: string, ...rest: unknown[]) {
      if (request === 'prom-client') throw Object.assign(new Error("Cannot find module 'prom-client'"), { code: 'MODULE_NOT_FOUND' });
      return load.call(this, request, ...rest);
    };
    try {
      assert.throws(() => loadPromClient(), { message: 'Metrics need the prom-client package: npm install prom-client' });
      assert.throws(() => new RunMetrics({ registry: new Registry() }, sources()), /npm install prom-client/);
    } finally {
      loader._load = load;
    }
  });
});
