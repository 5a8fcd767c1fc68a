// prom-client is an optional peer dependency: its types are imported here at the top (never
// inline as `import('prom-client')` in a signature) so scripts/optional-peer-types.mjs can mark
// the import in the built declarations; the package itself is only required by loadPromClient().
import type * as PromClient from 'prom-client';

/** Options of the module's Prometheus metrics. */
export interface MetricsOptions {
  /** Metric name prefix. Default `'definable_'`. */
  prefix?: string;
  /**
   * The prom-client `Registry` to register in. Default prom-client's default
   * `register` (what `@willsoto/nestjs-prometheus` and most apps scrape).
   * Typed loosely so prom-client's types never reach an app without it.
   */
  registry?: unknown;
  /**
   * Serve `GET /metrics` (the registry's text) from the module: `true`, or a
   * path. Default `false` (the app exposes its registry itself).
   */
  route?: boolean | string;
  /** Run-duration histogram buckets in seconds. Default `[0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]`. */
  durationBuckets?: number[];
}

/** The gauges' figures, read at scrape time. A source that throws is skipped for that scrape. */
export interface MetricsSources {
  /** Runs going on now in this process. */
  inFlight(): number;
  /** Jobs waiting, by queue name. */
  queueDepth(): Record<string, number>;
  /** The messaging interfaces: name, current state and how often the supervisor restarted each. */
  interfaces(): { name: string; state: string; restarts: number }[];
}

/** What {@link RunMetrics.runEnded} records of an ended run. */
export interface EndedRunFigures {
  /** The agent's name. */
  agent: string;
  /**
   * The kind of its trigger (`'http'`, `'webhook'`, `'cron'`, `'event'`,
   * `'telegram'`…; see {@link triggerKind}) — never a raw path. A raw trigger
   * (`'POST /hooks/github'`, `'telegram(42)'`) is reduced with `triggerKind`.
   */
  trigger: string;
  /** How it ended: `'completed'`, `'error'`, `'cancelled'`… */
  status: string;
  /** The model id. */
  model: string;
  /** Seconds from start to end. */
  duration: number;
  /** Seconds to the first streamed token; `null` when none came. */
  timeToFirstToken: number | null;
  inputTokens: number;
  outputTokens: number;
  /** Its cost in USD; `null` when the model has no price. */
  cost: number | null;
  /** The tool calls it made; one with an `error` counts as outcome `'error'`. */
  toolCalls: { name: string; error?: string }[];
}

/** The default metric name prefix. */
export const DEFAULT_METRICS_PREFIX = 'definable_';
/** The default run-duration histogram buckets, in seconds. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** The time-to-first-token histogram buckets, in seconds (fixed). */
export const TIME_TO_FIRST_TOKEN_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/**
 * Loads prom-client, an optional peer dependency needed only when metrics are
 * enabled. Throws when it is not installed.
 */
export function loadPromClient(): typeof PromClient {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('prom-client') as typeof import('prom-client');
  } catch (error) {
    const missing = (error as { code?: string })?.code === 'MODULE_NOT_FOUND' && String((error as Error)?.message).includes("'prom-client'");
    if (!missing) throw error;
    throw new Error('Metrics need the prom-client package: npm install prom-client');
  }
}

/**
 * The path `GET /metrics` is served at, from {@link MetricsOptions.route}:
 * `'/metrics'` for `true`, the given path (with a leading `/`) for a string,
 * `null` when the module does not serve it.
 */
export function metricsRoute(options?: Pick<MetricsOptions, 'route'>): string | null {
  const route = options?.route;
  if (route === undefined || route === false) return null;
  if (route === true) return '/metrics';
  if (typeof route !== 'string' || !route.trim() || /[\s?#]/.test(route.trim())) {
    throw new TypeError(`metrics.route must be true, false or a path such as '/metrics', got ${JSON.stringify(route)}.`);
  }
  const path = route.trim();
  return path.startsWith('/') ? path : `/${path}`;
}

/**
 * The kind of a run's trigger, for labels: `'POST /run'` → `'http'`;
 * `'cron(…)'` → `'cron'`; `'event(…)'` → `'event'`; `'telegram(42)'` →
 * `'telegram'` (any `word(…)` → `word`, lower-cased); `'POST /hooks/github'`
 * (any other `'METHOD /path'`) → `'webhook'`; anything else → `'other'`.
 */
export function triggerKind(trigger: string): string {
  const text = typeof trigger === 'string' ? trigger.trim() : '';
  if (/^POST \/run(?:$|[\s?])/.test(text)) return 'http';
  const call = /^([A-Za-z][A-Za-z0-9_-]{0,31})\(.*\)$/s.exec(text);
  if (call) return call[1].toLowerCase();
  if (/^[A-Z]+ \/\S*$/.test(text)) return 'webhook';
  return 'other';
}

type Registry = PromClient.Registry;

/** Where a shared gauge reads its figures: the sources of every live {@link RunMetrics} on it. */
interface Feed {
  /** The sources of each live instance on the gauge. */
  sources: Map<RunMetrics, MetricsSources>;
  /** interface_state: the states seen per interface, reported 0 while not current. */
  seen: Map<string, Set<string>>;
}

/** Where a gauge keeps its feed (a global symbol, so two copies of this module share it). */
const FEED = Symbol.for('nestjs-definable.metrics.feed');
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Prometheus metrics of the module's runs, on prom-client. Registers in
 * prom-client's default `register` (beside `@willsoto/nestjs-prometheus`)
 * unless given another `Registry`; constructed again on the same registry
 * (two apps in one process, an app re-created) it reuses the metrics already
 * there, so counts carry on.
 *
 * Metrics (each name with the prefix, default `definable_`); labels are only
 * agent names, model ids, tool names, trigger kinds, statuses, outcomes and
 * interface names/states — never users or sessions:
 * - `runs_total` counter {agent, trigger, status}
 * - `run_duration_seconds` histogram {agent, trigger, status}
 * - `time_to_first_token_seconds` histogram {agent, model} (runs that streamed a token)
 * - `model_tokens_total` counter {agent, model, type} — type `input` | `output`
 * - `model_cost_usd_total` counter {agent, model} (priced runs)
 * - `tool_calls_total` counter {agent, tool, outcome} — outcome `ok` | `error`
 * - `runs_in_flight` gauge — runs going on now
 * - `queue_depth` gauge {queue} — jobs waiting
 * - `interface_state` gauge {interface, state} — 1 for each interface's
 *   current state, 0 for the other states it was seen in
 * - `interface_restarts` gauge {interface} — the supervisor's restart count of
 *   each interface; a gauge (the count is the supervisor's and starts again
 *   with the app), so alert on `changes()`/`delta()` rather than `rate()`
 *
 * The gauges are read from the {@link MetricsSources} at scrape time, summed
 * over every live instance on the registry; a source that throws is skipped.
 */
export class RunMetrics {
  /** The registry the metrics are in. */
  readonly registry: Registry;
  private readonly runs: PromClient.Counter<'agent' | 'trigger' | 'status'>;
  private readonly duration: PromClient.Histogram<'agent' | 'trigger' | 'status'>;
  private readonly firstToken: PromClient.Histogram<'agent' | 'model'>;
  private readonly tokens: PromClient.Counter<'agent' | 'model' | 'type'>;
  private readonly cost: PromClient.Counter<'agent' | 'model'>;
  private readonly toolCalls: PromClient.Counter<'agent' | 'tool' | 'outcome'>;
  private readonly feeds: Feed[];
  private closed = false;

  /**
   * @param options prefix, registry and buckets.
   * @param sources what the gauges read at scrape time.
   * @param client prom-client; default {@link loadPromClient}().
   */
  constructor(
    options: MetricsOptions,
    sources: MetricsSources,
    client: typeof PromClient = loadPromClient(),
  ) {
    const prefix = options?.prefix ?? DEFAULT_METRICS_PREFIX;
    if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix))) {
      throw new TypeError(`metrics.prefix must be a Prometheus name prefix (letters, digits, _ and :, not starting with a digit), got ${JSON.stringify(prefix)}.`);
    }
    const buckets = options?.durationBuckets ?? [...DEFAULT_DURATION_BUCKETS];
    if (!Array.isArray(buckets) || !buckets.length || buckets.some((b, i) => typeof b !== 'number' || !Number.isFinite(b) || b <= 0 || (i > 0 && b <= buckets[i - 1]))) {
      throw new TypeError('metrics.durationBuckets must be increasing positive numbers of seconds, e.g. [0.5, 1, 5, 30].');
    }
    const registry = (options?.registry ?? client.register) as Registry;
    if (!registry || typeof registry.getSingleMetric !== 'function' || typeof registry.registerMetric !== 'function' || typeof registry.metrics !== 'function') {
      throw new TypeError('metrics.registry must be a prom-client Registry.');
    }
    if (!sources || typeof sources.inFlight !== 'function' || typeof sources.queueDepth !== 'function' || typeof sources.interfaces !== 'function') {
      throw new TypeError('RunMetrics needs sources with inFlight(), queueDepth() and interfaces().');
    }
    this.registry = registry;
    const registers = [registry];
    const metric = <M>(name: string, type: string, labelNames: string[], create: (full: string) => M): M => {
      const full = prefix + name;
      const existing = registry.getSingleMetric(full) as unknown as { type?: string; labelNames?: string[] } | undefined;
      if (!existing) return create(full);
      const sameLabels = [...(existing.labelNames ?? [])].sort().join() === [...labelNames].sort().join();
      if (existing.type !== type || !sameLabels) {
        throw new Error(`A metric named ${full} is already registered as another ${existing.type ?? 'metric'} or with other labels: give the module's metrics another prefix.`);
      }
      return existing as M;
    };

    this.runs = metric('runs_total', 'counter', ['agent', 'trigger', 'status'], (name) =>
      new client.Counter({ name, help: 'Runs ended, by agent, trigger kind and status.', labelNames: ['agent', 'trigger', 'status'], registers }),
    );
    this.duration = metric('run_duration_seconds', 'histogram', ['agent', 'trigger', 'status'], (name) =>
      new client.Histogram({ name, help: 'Duration of ended runs in seconds, by agent, trigger kind and status.', labelNames: ['agent', 'trigger', 'status'], buckets, registers }),
    );
    this.firstToken = metric('time_to_first_token_seconds', 'histogram', ['agent', 'model'], (name) =>
      new client.Histogram({ name, help: 'Seconds from a run start to its first streamed token, by agent and model.', labelNames: ['agent', 'model'], buckets: [...TIME_TO_FIRST_TOKEN_BUCKETS], registers }),
    );
    this.tokens = metric('model_tokens_total', 'counter', ['agent', 'model', 'type'], (name) =>
      new client.Counter({ name, help: 'Model tokens used by ended runs, by agent, model and type (input, output).', labelNames: ['agent', 'model', 'type'], registers }),
    );
    this.cost = metric('model_cost_usd_total', 'counter', ['agent', 'model'], (name) =>
      new client.Counter({ name, help: 'Model cost of ended runs in USD (priced models only), by agent and model.', labelNames: ['agent', 'model'], registers }),
    );
    this.toolCalls = metric('tool_calls_total', 'counter', ['agent', 'tool', 'outcome'], (name) =>
      new client.Counter({ name, help: 'Tool calls of ended runs, by agent, tool and outcome (ok, error).', labelNames: ['agent', 'tool', 'outcome'], registers }),
    );

    const feeds: Feed[] = [];
    const gauge = (name: string, help: string, labelNames: string[], read: (gauge: PromClient.Gauge<string>, feed: Feed) => void): void => {
      const found = metric(name, 'gauge', labelNames, (full) => {
        const feed: Feed = { sources: new Map(), seen: new Map() };
        const created = new client.Gauge({
          name: full,
          help,
          labelNames,
          registers,
          collect(this: PromClient.Gauge<string>) {
            try {
              read(this, feed);
            } catch {
              // A scrape never fails on a gauge: it reports what it has.
            }
          },
        });
        Object.defineProperty(created, FEED, { value: feed });
        return created;
      });
      const feed = (found as unknown as Record<symbol, Feed | undefined>)[FEED];
      if (!feed) throw new Error(`A metric named ${prefix}${name} is already registered by something else: give the module's metrics another prefix.`);
      feeds.push(feed);
    };

    gauge('runs_in_flight', 'Runs going on now.', [], (g, feed) => {
      let total = 0;
      for (const source of feed.sources.values()) {
        const value = attempt(() => source.inFlight());
        if (isCount(value)) total += value;
      }
      g.set(total);
    });
    gauge('queue_depth', 'Jobs waiting, by queue.', ['queue'], (g, feed) => {
      const depths = new Map<string, number>();
      for (const source of feed.sources.values()) {
        const queues = attempt(() => source.queueDepth());
        if (!queues || typeof queues !== 'object') continue;
        for (const [queue, depth] of Object.entries(queues)) if (isCount(depth)) depths.set(queue, (depths.get(queue) ?? 0) + depth);
      }
      g.reset();
      for (const [queue, depth] of depths) g.set({ queue }, depth);
    });
    gauge('interface_state', "Messaging interfaces' states: 1 for the current state, 0 for the others seen.", ['interface', 'state'], (g, feed) => {
      const current = new Map<string, Set<string>>();
      for (const { name, state } of interfacesOf(feed)) {
        if (typeof state !== 'string' || !state) continue;
        current.set(name, (current.get(name) ?? new Set()).add(state));
      }
      g.reset();
      for (const [name, states] of current) {
        const seen = feed.seen.get(name) ?? new Set<string>();
        feed.seen.set(name, seen);
        for (const state of states) seen.add(state);
        for (const state of seen) g.set({ interface: name, state }, states.has(state) ? 1 : 0);
      }
    });
    gauge('interface_restarts', "Restarts of each messaging interface by its supervisor (a count kept by the app's supervisor).", ['interface'], (g, feed) => {
      const restarts = new Map<string, number>();
      for (const { name, restarts: count } of interfacesOf(feed)) restarts.set(name, (restarts.get(name) ?? 0) + (isCount(count) ? count : 0));
      g.reset();
      for (const [name, count] of restarts) g.set({ interface: name }, count);
    });
    this.feeds = feeds;
    for (const feed of feeds) feed.sources.set(this, sources);
  }

  /**
   * Records an ended run: its count, duration, time to first token, tokens,
   * cost and tool calls. Never throws (an invalid figure is left out).
   */
  runEnded(run: EndedRunFigures): void {
    try {
      const agent = label(run.agent);
      const model = label(run.model);
      const trigger = /^[a-z][a-z0-9_-]{0,31}$/.test(String(run.trigger)) ? String(run.trigger) : triggerKind(String(run.trigger ?? ''));
      const status = label(run.status);
      this.runs.inc({ agent, trigger, status });
      if (isCount(run.duration)) this.duration.observe({ agent, trigger, status }, run.duration);
      if (run.timeToFirstToken !== null && isCount(run.timeToFirstToken)) this.firstToken.observe({ agent, model }, run.timeToFirstToken);
      if (isCount(run.inputTokens)) this.tokens.inc({ agent, model, type: 'input' }, run.inputTokens);
      if (isCount(run.outputTokens)) this.tokens.inc({ agent, model, type: 'output' }, run.outputTokens);
      if (run.cost !== null && isCount(run.cost)) this.cost.inc({ agent, model }, run.cost);
      for (const call of Array.isArray(run.toolCalls) ? run.toolCalls : []) {
        this.toolCalls.inc({ agent, tool: label(call?.name), outcome: call?.error !== undefined && call?.error !== null ? 'error' : 'ok' });
      }
    } catch {
      // Metrics never break a run.
    }
  }

  /** The registry's exposition text and content type, for `GET /metrics`. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * Detaches this instance's sources from the gauges (call at shutdown, so a
   * re-created app's gauges do not count the old one). The counters and
   * histograms stay registered and keep their counts. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const feed of this.feeds) feed.sources.delete(this);
  }
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function interfacesOf(feed: Feed): { name: string; state: string; restarts: number }[] {
  const all: { name: string; state: string; restarts: number }[] = [];
  for (const source of feed.sources.values()) {
    const list = attempt(() => source.interfaces());
    if (!Array.isArray(list)) continue;
    for (const item of list) if (item && typeof item.name === 'string' && item.name) all.push(item);
  }
  return all;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function label(value: unknown): string {
  return typeof value === 'string' && value ? value : 'unknown';
}
