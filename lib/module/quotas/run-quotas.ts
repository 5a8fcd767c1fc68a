import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AgentError, errorMessage } from '../../agent/errors';
import { StderrLogger } from '../../agent/logger';

/** Limits of one scope. */
export interface QuotaLimits {
  /** Most runs admitted per window: `{ limit: 20, window: 60 }` = 20 runs a minute (window in seconds). */
  requests?: { limit: number; window: number };
  /** Most model tokens (input + output) per day (a fixed 24 h window from the first use, as rate-limiter-flexible counts). */
  tokensPerDay?: number;
  /** Most model cost in US dollars per day (counted in micro-dollars, integers, so Redis INCRBY works). */
  costPerDay?: number;
}

/** Who a run is charged to and where it came from. */
export interface QuotaSubject {
  /** The agent's name. */
  agent: string;
  /** The user the run belongs to; `null` (or `''`) for runs without a user, charged to the `principal`. */
  userId: string | null;
  /** What started the run (`'http'`, `'cron'`, `'telegram'`…). */
  trigger: string;
}

/** Quotas and budgets of the runs: per user, per agent and for all runs together. */
export interface QuotaOptions {
  /** Limits of each user (a run without a user is charged to `principal`). */
  user?: QuotaLimits;
  /** Limits of each agent (all its users together). */
  agent?: QuotaLimits;
  /** Limits of all runs together. */
  global?: QuotaLimits;
  /** Who a run without a user (cron, events, most webhooks) is charged to, as its user: `'agent'` (default: `agent:<name>`), or a function of the subject returning an id. */
  principal?: 'agent' | ((subject: QuotaSubject) => string);
  /**
   * A Redis client (ioredis, or node-redis v4+) to share the counters between
   * replicas; default in-memory (one process). The client's own settings decide
   * how fast a Redis outage is noticed (ioredis: `enableOfflineQueue`,
   * `maxRetriesPerRequest`), since commands wait in its offline queue meanwhile.
   */
  redis?: unknown;
  /** Prefix of the Redis keys. Default `'definable:quota'`. */
  keyPrefix?: string;
  /** When the limiter's store fails: `false` (default) refuses (AgentError 'quota_unavailable'); `true` lets the run through, logged. */
  failOpen?: boolean;
  /** The reply a chat user gets when over quota. Default: a polite sentence saying the limit is reached and to try again later. */
  message?: string;
}

/** A quota's scope: each user, each agent, or all runs together. */
export type QuotaScope = 'user' | 'agent' | 'global';

/** What a quota counts: runs, model tokens, or model cost. */
export type QuotaKind = 'requests' | 'tokens' | 'cost';

/** Which limit refused: scope, kind, the limit's value, and the seconds until it frees up. */
export interface QuotaLimitInfo {
  /** The scope whose limit refused. */
  scope: QuotaScope;
  /** What the limit counts. */
  kind: QuotaKind;
  /** The limit as configured: runs per window, tokens per day, or US dollars per day. */
  limit: number;
  /** Whole seconds (≥ 1) until the limit's window ends. */
  retryAfter: number;
}

/** Thrown when a quota is used up: code 'quota_exceeded'. */
export class QuotaExceededError extends AgentError {
  override readonly name = 'QuotaExceededError';
  /** Whole seconds (≥ 1) until the limit frees up, e.g. for a `Retry-After` header. */
  readonly retryAfter: number;

  constructor(
    /** The limit that refused. */
    readonly limit: QuotaLimitInfo,
    message?: string,
  ) {
    super(
      'quota_exceeded',
      message ?? `The ${limit.scope} ${limit.kind} quota (${limit.limit}) is used up; retry in ${formatSeconds(limit.retryAfter)}.`,
    );
    this.retryAfter = limit.retryAfter;
  }
}

/** Usage of one limit: how much is used, of what limit, and when its window ends. */
export interface QuotaCounter {
  /** Used in the current window (runs, tokens, or US dollars). It may pass `limit`: a model call that started under budget is still counted. */
  used: number;
  /** The limit as configured. */
  limit: number;
  /** Seconds until the current window ends; 0 when no window is open (nothing used yet). */
  resetsIn: number;
}

/** Usage of one scope's limits. */
export interface QuotaUsage {
  /** Runs in the current window. */
  requests?: QuotaCounter;
  /** Model tokens in the current day. */
  tokens?: QuotaCounter;
  /** Model cost in US dollars in the current day. */
  cost?: QuotaCounter;
}

const SCOPES: readonly QuotaScope[] = ['user', 'agent', 'global'];
const LIMIT_KEYS = new Set(['requests', 'tokensPerDay', 'costPerDay']);
const OPTION_KEYS = new Set([...SCOPES, 'principal', 'redis', 'keyPrefix', 'failOpen', 'message']);
const DAY_SECONDS = 24 * 60 * 60;
const MICRO_DOLLARS = 1_000_000;
const GLOBAL_KEY = 'all';
const DEFAULT_MESSAGE = "Sorry, you've reached the usage limit for now. Please try again later.";

type Limiter = RateLimiterMemory | RateLimiterRedis;

interface Counter {
  scope: QuotaScope;
  kind: QuotaKind;
  /** The limit in the caller's unit (runs, tokens, dollars). */
  limit: number;
  /** The window in seconds. */
  window: number;
  /** Store units per caller unit (cost is counted in micro-dollars). */
  scale: number;
  /** The limit in store units. */
  points: number;
  limiter: Limiter;
}

type Keys = Record<QuotaScope, string>;

/**
 * Quotas (runs per window) and budgets (tokens and cost per day) of the runs,
 * per user, per agent and for all runs together, counted by
 * `rate-limiter-flexible` in memory or on Redis. The module calls
 * {@link RunQuotas.admit} before a run, {@link RunQuotas.check} before each
 * model call and {@link RunQuotas.charge} after it.
 */
export class RunQuotas {
  /** The chat message for a refused run. */
  readonly message: string;
  /** Whether any per-call budget (tokens or cost, any scope) is configured — callers skip the per-model-call checks otherwise. */
  readonly hasBudgets: boolean;

  private readonly counters: Record<QuotaScope, Partial<Record<QuotaKind, Counter>>>;
  private readonly principal: (subject: QuotaSubject) => string;
  private readonly failOpen: boolean;
  private readonly logger: { warn(message: string): void; error(message: string): void };

  constructor(options: QuotaOptions, logger?: { warn(message: string): void; error(message: string): void }) {
    validateOptions(options);
    const keyPrefix = options.keyPrefix ?? 'definable:quota';
    const store = options.redis === undefined ? undefined : redisStore(options.redis);
    this.failOpen = options.failOpen ?? false;
    this.message = options.message ?? DEFAULT_MESSAGE;
    this.logger = logger ?? new StderrLogger('RunQuotas');
    const principal = options.principal ?? 'agent';
    this.principal = principal === 'agent' ? (subject) => `agent:${subject.agent}` : principal;

    const make = (scope: QuotaScope, kind: QuotaKind, limit: number, window: number, scale: number): Counter => {
      // One limiter per (scope, kind), each under its own prefix, so that keys never collide.
      const points = Math.round(limit * scale);
      const base = { points, duration: window, keyPrefix: `${keyPrefix}:${scope}:${kind}` };
      const limiter = store
        ? new RateLimiterRedis({ ...base, storeClient: store.client, useRedisPackage: store.flavour === 'node-redis' })
        : new RateLimiterMemory(base);
      return { scope, kind, limit, window, scale, points, limiter };
    };
    this.counters = { user: {}, agent: {}, global: {} };
    for (const scope of SCOPES) {
      const limits = options[scope];
      if (!limits) continue;
      const counters = this.counters[scope];
      if (limits.requests) counters.requests = make(scope, 'requests', limits.requests.limit, limits.requests.window, 1);
      if (limits.tokensPerDay !== undefined) counters.tokens = make(scope, 'tokens', limits.tokensPerDay, DAY_SECONDS, 1);
      if (limits.costPerDay !== undefined) counters.cost = make(scope, 'cost', limits.costPerDay, DAY_SECONDS, MICRO_DOLLARS);
    }
    this.hasBudgets = this.budgets().length > 0;
  }

  /**
   * Before a run is admitted: counts one request in each scope with a
   * `requests` limit, and checks no tokens/cost budget is already used up. A
   * refusal gives back the requests it counted (`reward`), then throws
   * {@link QuotaExceededError} naming the limit (a used-up budget first, then
   * the first request limit that refused, in the order user, agent, global);
   * a refused run counts in no scope. A store failure throws
   * `AgentError('quota_unavailable')`, or lets the run through with a warning
   * when `failOpen`.
   */
  async admit(subject: QuotaSubject): Promise<void> {
    const keys = this.keys(subject);
    // The budgets are read and the requests counted at once (one round trip to Redis, not four);
    // whatever refuses, every request counted is given back, so a refused run counts nowhere.
    const requests = SCOPES.map((scope) => this.counters[scope].requests).filter((counter): counter is Counter => counter !== undefined);
    const [budgets, ...counts] = await Promise.all([
      this.checkBudgets(subject, keys).then(() => undefined, (error: unknown) => error),
      ...requests.map((counter) =>
        counter.limiter.consume(keys[counter.scope], 1).then(
          () => ({ counter, counted: true as const }),
          (error: unknown) => ({ counter, counted: error instanceof RateLimiterRes, error }),
        ),
      ),
    ]);
    const refusal = budgets ?? counts.find((count) => 'error' in count && (count.error instanceof RateLimiterRes || !this.failOpen));
    if (refusal === undefined) {
      for (const count of counts) {
        if ('error' in count) this.logger.warn(`${storeFailure(count.counter, 'counting', count.error)}; the run goes through because failOpen is true.`);
      }
      return;
    }
    await this.giveBack(
      counts.filter((count) => count.counted).map((count) => count.counter),
      keys,
    );
    if (refusal instanceof Error) throw refusal;
    const { counter, error } = refusal as { counter: Counter; error: unknown };
    if (error instanceof RateLimiterRes) throw this.exceeded(counter, subject, keys, error.msBeforeNext);
    throw unavailable(counter, 'counting', error);
  }

  /** Before each model call: throws {@link QuotaExceededError} when a tokens or cost budget of any scope is used up. */
  async check(subject: QuotaSubject): Promise<void> {
    if (!this.hasBudgets) return;
    await this.checkBudgets(subject, this.keys(subject));
  }

  /**
   * After each model call: adds its tokens and cost (USD, `null` = unknown,
   * counts nothing) to every budget (rate-limiter-flexible `penalty`). A store
   * failure here is logged, never thrown.
   */
  async charge(subject: QuotaSubject, usage: { tokens: number; cost: number | null }): Promise<void> {
    if (!this.hasBudgets) return;
    const tokens = Number.isFinite(usage.tokens) && usage.tokens > 0 ? Math.round(usage.tokens) : 0;
    const cost = usage.cost !== null && Number.isFinite(usage.cost) && usage.cost > 0 ? usage.cost : 0;
    if (tokens === 0 && cost === 0) return;
    const keys = this.keys(subject);
    const charges: Promise<void>[] = [];
    for (const counter of this.budgets()) {
      const points = Math.round((counter.kind === 'tokens' ? tokens : cost) * counter.scale);
      if (points <= 0) continue;
      charges.push(
        counter.limiter.penalty(keys[counter.scope], points).then(
          () => undefined,
          (error: unknown) =>
            this.logger.error(`${storeFailure(counter, 'charging', error)}; ${points} ${counter.kind === 'cost' ? 'micro-dollars' : 'tokens'} were not counted.`),
        ),
      );
    }
    await Promise.all(charges);
  }

  /**
   * The usage of a user (`userId`; a run without a user is counted under its
   * principal, e.g. `agent:<name>`), of an agent and global, for code and for
   * /health. Scopes without limits (or not asked for) are left out. A store
   * failure throws `AgentError('quota_unavailable')`.
   */
  async usage(query: { userId?: string; agent?: string }): Promise<{ user?: QuotaUsage; agent?: QuotaUsage; global?: QuotaUsage }> {
    const keys: Partial<Keys> = { user: query.userId, agent: query.agent, global: GLOBAL_KEY };
    const result: { user?: QuotaUsage; agent?: QuotaUsage; global?: QuotaUsage } = {};
    await Promise.all(
      SCOPES.map(async (scope) => {
        const key = keys[scope];
        const counters = Object.values(this.counters[scope]);
        if (key === undefined || counters.length === 0) return;
        const usage: QuotaUsage = {};
        await Promise.all(
          counters.map(async (counter) => {
            const res = await this.read(counter, key).catch((error: unknown) => {
              throw unavailable(counter, 'reading', error);
            });
            usage[counter.kind] = {
              used: res.consumed / counter.scale,
              limit: counter.limit,
              resetsIn: Math.ceil(res.ms / 1000),
            };
          }),
        );
        result[scope] = usage;
      }),
    );
    return result;
  }

  private keys(subject: QuotaSubject): Keys {
    let user = subject.userId || '';
    if (!user && Object.keys(this.counters.user).length > 0) {
      user = this.principal(subject);
      if (typeof user !== 'string' || user === '') {
        throw new TypeError(`quotas.principal returned ${JSON.stringify(user)} for agent "${subject.agent}"; it must return a non-empty string (the id the run is charged to).`);
      }
    }
    return { user, agent: subject.agent, global: GLOBAL_KEY };
  }

  private budgets(): Counter[] {
    const budgets: Counter[] = [];
    for (const scope of SCOPES) {
      const { tokens, cost } = this.counters[scope];
      if (tokens) budgets.push(tokens);
      if (cost) budgets.push(cost);
    }
    return budgets;
  }

  /** Reads every budget at once, then refuses with the first used up (or failed), in scope order. */
  private async checkBudgets(subject: QuotaSubject, keys: Keys): Promise<void> {
    const budgets = this.budgets();
    if (budgets.length === 0) return;
    const reads = await Promise.all(
      budgets.map((counter) => this.read(counter, keys[counter.scope]).then((res) => ({ res }), (error: unknown) => ({ error }))),
    );
    const failures: string[] = [];
    for (const [index, counter] of budgets.entries()) {
      const read = reads[index];
      if ('error' in read) {
        if (!this.failOpen) throw unavailable(counter, 'reading', read.error);
        failures.push(storeFailure(counter, 'reading', read.error));
        continue;
      }
      // Budgets refuse at the limit itself: a call started under budget may overshoot, the next check stops it.
      if (read.res.consumed >= counter.points) throw this.exceeded(counter, subject, keys, read.res.ms);
    }
    if (failures.length > 0) this.logger.warn(`${failures.join('; ')}; the run goes through because failOpen is true.`);
  }

  /** The points used in the current window and the ms left of it; an absent or expired window is `{ 0, 0 }`. */
  private async read(counter: Counter, key: string): Promise<{ consumed: number; ms: number }> {
    const res = await counter.limiter.get(key);
    // Every window here has a duration, so a non-positive ms left means expired (memory) or a key without TTL (Redis).
    if (!res || !(res.msBeforeNext > 0)) return { consumed: 0, ms: 0 };
    return { consumed: res.consumedPoints, ms: res.msBeforeNext };
  }

  private async giveBack(counters: Counter[], keys: Keys): Promise<void> {
    await Promise.all(
      counters.map((counter) =>
        counter.limiter.reward(keys[counter.scope], 1).then(
          () => undefined,
          (error: unknown) => this.logger.warn(`${storeFailure(counter, 'giving back a run to', error)}; it stays counted until the window ends.`),
        ),
      ),
    );
  }

  private exceeded(counter: Counter, subject: QuotaSubject, keys: Keys, msBeforeNext: number): QuotaExceededError {
    const retryAfter = Math.max(1, Math.ceil(msBeforeNext / 1000));
    const info: QuotaLimitInfo = { scope: counter.scope, kind: counter.kind, limit: counter.limit, retryAfter };
    const who =
      counter.scope === 'global'
        ? 'All agents together'
        : counter.scope === 'agent'
          ? `Agent "${subject.agent}"`
          : subject.userId
            ? `User "${subject.userId}"`
            : `Runs without a user of agent "${subject.agent}", charged to "${keys.user}",`;
    const what =
      counter.kind === 'requests'
        ? `the limit of ${counter.limit} run${counter.limit === 1 ? '' : 's'} per ${formatSeconds(counter.window)}`
        : counter.kind === 'tokens'
          ? `the budget of ${counter.limit} token${counter.limit === 1 ? '' : 's'} per day`
          : `the budget of $${counter.limit} per day`;
    return new QuotaExceededError(info, `${who} reached ${what}; retry in ${formatSeconds(retryAfter)}.`);
  }
}

function storeFailure(counter: Counter, doing: string, error: unknown): string {
  return `The quota store failed ${doing} the ${counter.scope} ${counter.kind} limit: ${errorMessage(error)}`;
}

function unavailable(counter: Counter, doing: string, error: unknown): AgentError {
  return new AgentError(
    'quota_unavailable',
    `${storeFailure(counter, doing, error)}. The run was refused because quotas.failOpen is false: check the quota store (Redis) connection, or set quotas.failOpen: true to let runs through while it is down.`,
    { cause: error },
  );
}

/** `45 s`, `5 min`, `3 h 20 min`. */
function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ''}`;
}

function redisStore(client: unknown): { client: object; flavour: 'ioredis' | 'node-redis' } {
  const candidate = client as Record<string, unknown> | null;
  if (candidate !== null && typeof candidate === 'object') {
    // ioredis (and its Cluster, and iovalkey) define Lua commands; rate-limiter-flexible drives them through `defineCommand`.
    if (typeof candidate.defineCommand === 'function' && typeof candidate.multi === 'function') return { client: candidate, flavour: 'ioredis' };
    // node-redis v4+ (client or cluster) has a boolean `isOpen`; v3 and older, callback-based, has not.
    if (typeof candidate.sendCommand === 'function' && typeof candidate.multi === 'function' && typeof candidate.isOpen === 'boolean') {
      return { client: candidate, flavour: 'node-redis' };
    }
  }
  throw new TypeError(
    `quotas.redis must be a connected Redis client: ioredis (\`new Redis(url)\`) or node-redis v4+ (\`await createClient({ url }).connect()\`); got ${describe(client)}. Omit it to count in memory (one process).`,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value;
}

function validateOptions(options: QuotaOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`quotas must be an object ({ user?, agent?, global?, ... }); got ${describe(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new TypeError(`quotas.${key} is not an option; the options are ${[...OPTION_KEYS].join(', ')}.`);
    }
  }
  for (const scope of SCOPES) validateLimits(scope, options[scope]);
  const { principal, keyPrefix, failOpen, message } = options;
  if (principal !== undefined && principal !== 'agent' && typeof principal !== 'function') {
    throw new TypeError(`quotas.principal must be 'agent' or a function (subject) => id; got ${describe(principal)}.`);
  }
  if (keyPrefix !== undefined && (typeof keyPrefix !== 'string' || keyPrefix === '')) {
    throw new TypeError(`quotas.keyPrefix must be a non-empty string; got ${describe(keyPrefix)}. Omit it for 'definable:quota'.`);
  }
  if (failOpen !== undefined && typeof failOpen !== 'boolean') {
    throw new TypeError(`quotas.failOpen must be true or false; got ${describe(failOpen)}.`);
  }
  if (message !== undefined && (typeof message !== 'string' || message.trim() === '')) {
    throw new TypeError(`quotas.message must be a non-empty string; got ${describe(message)}. Omit it for the default reply.`);
  }
}

function validateLimits(scope: QuotaScope, limits: QuotaLimits | undefined): void {
  if (limits === undefined) return;
  if (limits === null || typeof limits !== 'object') {
    throw new TypeError(`quotas.${scope} must be an object ({ requests?, tokensPerDay?, costPerDay? }); got ${describe(limits)}.`);
  }
  for (const key of Object.keys(limits)) {
    if (!LIMIT_KEYS.has(key)) {
      throw new TypeError(`quotas.${scope}.${key} is not a limit; the limits are requests ({ limit, window }), tokensPerDay and costPerDay.`);
    }
  }
  const { requests, tokensPerDay, costPerDay } = limits;
  if (requests !== undefined) {
    if (requests === null || typeof requests !== 'object') {
      throw new TypeError(`quotas.${scope}.requests must be { limit, window } (runs per window in seconds); got ${describe(requests)}.`);
    }
    wholeNumber(`quotas.${scope}.requests.limit`, requests.limit, 'the most runs per window');
    wholeNumber(`quotas.${scope}.requests.window`, requests.window, 'the window in seconds');
  }
  if (tokensPerDay !== undefined) positive(`quotas.${scope}.tokensPerDay`, tokensPerDay, 'the most tokens per day');
  if (costPerDay !== undefined) {
    positive(`quotas.${scope}.costPerDay`, costPerDay, 'the most US dollars per day');
    if (Math.round(costPerDay * MICRO_DOLLARS) < 1) {
      throw new RangeError(`quotas.${scope}.costPerDay must be at least 0.000001 (one micro-dollar, the unit it is counted in); got ${costPerDay}.`);
    }
  }
}

function positive(path: string, value: unknown, meaning: string): void {
  if (typeof value !== 'number') throw new TypeError(`${path} must be a number (${meaning}); got ${describe(value)}.`);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${path} must be a positive finite number (${meaning}); got ${value}.`);
}

function wholeNumber(path: string, value: unknown, meaning: string): void {
  positive(path, value, meaning);
  if (!Number.isInteger(value)) throw new RangeError(`${path} must be a whole number ≥ 1 (${meaning}); got ${value as number}.`);
}
