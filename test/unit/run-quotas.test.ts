import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import Redis from 'ioredis';
import { AgentError } from '../../lib/agent/errors';
import { QuotaExceededError, QuotaOptions, QuotaSubject, RunQuotas } from '../../lib/module/quotas';
import { MemoryLogger } from '../support/fixtures';

const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
const testPrefix = `definable-test:${randomUUID()}`;
let prefixes = 0;

after(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${testPrefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

const BACKENDS: { name: string; store: () => Partial<QuotaOptions> }[] = [
  { name: 'in memory', store: () => ({}) },
  { name: 'on Redis', store: () => ({ redis, keyPrefix: `${testPrefix}:${++prefixes}` }) },
];

function run(userId: string | null, agent = 'support', trigger = 'http'): QuotaSubject {
  return { agent, userId, trigger };
}

/** Asserts a QuotaExceededError naming this limit, and returns it. */
async function refused(promise: Promise<unknown>, expected: { scope: string; kind: string; limit: number }, message?: RegExp): Promise<QuotaExceededError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof QuotaExceededError, `expected a QuotaExceededError, got ${String(caught)}`);
  assert.ok(caught instanceof AgentError);
  assert.equal(caught.code, 'quota_exceeded');
  assert.ok(Number.isInteger(caught.retryAfter) && caught.retryAfter >= 1, `retryAfter ${caught.retryAfter}`);
  assert.deepEqual(caught.limit, { ...expected, retryAfter: caught.retryAfter });
  if (message) assert.match(caught.message, message);
  return caught;
}

for (const backend of BACKENDS) {
  describe(`RunQuotas ${backend.name}`, () => {
    it('admits N runs per window and refuses the N+1th, per user', async () => {
      const quotas = new RunQuotas({ ...backend.store(), user: { requests: { limit: 2, window: 60 } } });
      await quotas.admit(run('alice'));
      await quotas.admit(run('alice'));
      const error = await refused(
        quotas.admit(run('alice')),
        { scope: 'user', kind: 'requests', limit: 2 },
        /^User "alice" reached the limit of 2 runs per 60 s; retry in \d+ s\.$/,
      );
      assert.ok(error.retryAfter <= 60);
      await quotas.admit(run('bob'));
      const usage = await quotas.usage({ userId: 'alice' });
      assert.equal(usage.user?.requests?.used, 2, 'the refused run is given back');
      assert.equal(usage.user?.requests?.limit, 2);
      assert.ok(usage.user!.requests!.resetsIn >= 1 && usage.user!.requests!.resetsIn <= 60);
      assert.equal((await quotas.usage({ userId: 'bob' })).user?.requests?.used, 1);
      assert.deepEqual(await quotas.usage({ userId: 'carol' }), { user: { requests: { used: 0, limit: 2, resetsIn: 0 } } });
    });

    it('limits each agent, and all runs together', async () => {
      const quotas = new RunQuotas({ ...backend.store(), agent: { requests: { limit: 2, window: 60 } }, global: { requests: { limit: 3, window: 3600 } } });
      await quotas.admit(run('alice'));
      await quotas.admit(run('bob'));
      await refused(quotas.admit(run('carol')), { scope: 'agent', kind: 'requests', limit: 2 }, /^Agent "support" reached the limit of 2 runs per 60 s/);
      await quotas.admit(run('dave', 'sales'));
      await refused(quotas.admit(run('erin', 'sales')), { scope: 'global', kind: 'requests', limit: 3 }, /^All agents together reached the limit of 3 runs per 60 min/);
      const usage = await quotas.usage({ agent: 'sales' });
      assert.equal(usage.user, undefined, 'no user limits, no user usage');
      assert.equal(usage.agent?.requests?.used, 1, 'the run refused by the global limit is given back to its agent');
      assert.equal(usage.global?.requests?.used, 3);
    });

    it('gives back the request counted in an earlier scope when a later scope refuses', async () => {
      const quotas = new RunQuotas({ ...backend.store(), user: { requests: { limit: 5, window: 60 } }, global: { requests: { limit: 1, window: 60 } } });
      await quotas.admit(run('alice'));
      await refused(quotas.admit(run('bob')), { scope: 'global', kind: 'requests', limit: 1 });
      const usage = await quotas.usage({ userId: 'bob' });
      assert.equal(usage.user?.requests?.used, 0);
      assert.equal(usage.global?.requests?.used, 1);
      assert.equal((await quotas.usage({ userId: 'alice' })).user?.requests?.used, 1);
    });

    it('refuses model calls and runs once a tokens budget is used up (at the limit itself)', async () => {
      const quotas = new RunQuotas({ ...backend.store(), user: { requests: { limit: 10, window: 60 }, tokensPerDay: 100 } });
      assert.equal(quotas.hasBudgets, true);
      await quotas.admit(run('alice'));
      await quotas.check(run('alice'));
      await quotas.charge(run('alice'), { tokens: 60, cost: null });
      await quotas.check(run('alice'));
      await quotas.charge(run('alice'), { tokens: 40, cost: 0.5 });
      await refused(quotas.check(run('alice')), { scope: 'user', kind: 'tokens', limit: 100 }, /^User "alice" reached the budget of 100 tokens per day; retry in (2[0-4] h|\d+ h \d+ min)\.$/);
      await refused(quotas.admit(run('alice')), { scope: 'user', kind: 'tokens', limit: 100 });
      const usage = await quotas.usage({ userId: 'alice' });
      assert.equal(usage.user?.tokens?.used, 100);
      assert.equal(usage.user?.tokens?.limit, 100);
      assert.ok(usage.user!.tokens!.resetsIn > 23 * 3600 && usage.user!.tokens!.resetsIn <= 24 * 3600);
      assert.equal(usage.user?.requests?.used, 1, 'a run refused for its budget counts no request');
      await quotas.check(run('bob'));
      await quotas.admit(run('bob'));
    });

    it('counts cost in micro-dollars per agent, and a null cost counts nothing', async () => {
      const quotas = new RunQuotas({ ...backend.store(), agent: { costPerDay: 0.01 } });
      await quotas.charge(run('alice'), { tokens: 1000, cost: 0.004 });
      await quotas.charge(run('bob'), { tokens: 1000, cost: null });
      assert.deepEqual((await quotas.usage({ agent: 'support' })).agent?.cost?.used, 0.004);
      await quotas.check(run('carol'));
      await quotas.charge(run('bob'), { tokens: 0, cost: 0.006 });
      assert.equal((await quotas.usage({ agent: 'support' })).agent?.cost?.used, 0.01);
      await refused(quotas.check(run('carol')), { scope: 'agent', kind: 'cost', limit: 0.01 }, /^Agent "support" reached the budget of \$0\.01 per day/);
      await quotas.check(run('carol', 'sales'));
    });

    it('charges runs without a user to agent:<name> by default', async () => {
      const quotas = new RunQuotas({ ...backend.store(), user: { requests: { limit: 1, window: 60 } } });
      await quotas.admit(run(null, 'support', 'cron'));
      await refused(quotas.admit(run(null, 'support', 'webhook')), { scope: 'user', kind: 'requests', limit: 1 }, /^Runs without a user of agent "support", charged to "agent:support", reached the limit of 1 run per 60 s; retry in \d+ s\.$/);
      await quotas.admit(run(null, 'sales', 'cron'));
      await quotas.admit(run('alice'));
      assert.equal((await quotas.usage({ userId: 'agent:support' })).user?.requests?.used, 1);
    });

    it('charges runs without a user to a custom principal', async () => {
      const seen: QuotaSubject[] = [];
      const quotas = new RunQuotas({
        ...backend.store(),
        user: { requests: { limit: 2, window: 60 } },
        principal: (subject) => {
          seen.push(subject);
          return `owner-of-${subject.agent}`;
        },
      });
      await quotas.admit(run(null, 'support', 'cron'));
      assert.deepEqual(seen, [run(null, 'support', 'cron')]);
      await quotas.admit(run('owner-of-support'));
      await refused(quotas.admit(run(null, 'support', 'event')), { scope: 'user', kind: 'requests', limit: 2 }, /charged to "owner-of-support"/);
      assert.equal((await quotas.usage({ userId: 'owner-of-support' })).user?.requests?.used, 2);
    });
  });
}

describe('RunQuotas on Redis, shared and failing', () => {
  it('shares counters between instances on the same Redis prefix', async () => {
    const keyPrefix = `${testPrefix}:shared`;
    const options: QuotaOptions = { redis, keyPrefix, user: { requests: { limit: 2, window: 60 }, tokensPerDay: 50 } };
    const one = new RunQuotas(options);
    const two = new RunQuotas(options);
    await one.admit(run('alice'));
    await two.admit(run('alice'));
    await refused(one.admit(run('alice')), { scope: 'user', kind: 'requests', limit: 2 });
    await refused(two.admit(run('alice')), { scope: 'user', kind: 'requests', limit: 2 });
    await one.charge(run('bob'), { tokens: 50, cost: null });
    await refused(two.check(run('bob')), { scope: 'user', kind: 'tokens', limit: 50 });
    const other = new RunQuotas({ ...options, keyPrefix: `${testPrefix}:other` });
    await other.admit(run('alice'));
  });

  function downRedis(): Redis {
    const client = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    client.on('error', () => undefined);
    return client;
  }

  it('refuses with quota_unavailable when the store is down, and lets runs through with failOpen', async () => {
    const down = downRedis();
    try {
      const options: QuotaOptions = { redis: down, keyPrefix: `${testPrefix}:down`, user: { requests: { limit: 5, window: 60 } }, agent: { tokensPerDay: 100 } };
      const closed = new RunQuotas(options, new MemoryLogger());
      await assert.rejects(closed.admit(run('alice')), (error: AgentError) => {
        assert.ok(!(error instanceof QuotaExceededError));
        assert.equal(error.code, 'quota_unavailable');
        assert.match(error.message, /quota store failed reading the agent tokens limit: .+ check the quota store \(Redis\) connection, or set quotas\.failOpen: true/);
        return true;
      });
      await assert.rejects(closed.admit(run('alice')), { code: 'quota_unavailable' });
      await assert.rejects(closed.check(run('alice')), { code: 'quota_unavailable' });
      await assert.rejects(closed.usage({ userId: 'alice' }), { code: 'quota_unavailable' });
      const requestsOnly = new RunQuotas({ ...options, agent: undefined }, new MemoryLogger());
      await assert.rejects(requestsOnly.admit(run('alice')), (error: AgentError) => error.code === 'quota_unavailable' && /counting the user requests limit/.test(error.message));

      const logger = new MemoryLogger();
      const open = new RunQuotas({ ...options, failOpen: true }, logger);
      await open.admit(run('alice'));
      await open.check(run('alice'));
      assert.ok(logger.lines.some((line) => /^warn: The quota store failed reading the agent tokens limit: .+the run goes through because failOpen is true\.$/.test(line)), logger.lines.join('\n'));
      assert.ok(logger.lines.some((line) => /^warn: The quota store failed counting the user requests limit/.test(line)), logger.lines.join('\n'));
      await open.charge(run('alice'), { tokens: 10, cost: 0.1 });
      await closed.charge(run('alice'), { tokens: 10, cost: 0.1 });
      assert.ok(logger.lines.some((line) => /^error: The quota store failed charging the agent tokens limit: .+; 10 tokens were not counted\.$/.test(line)), logger.lines.join('\n'));
    } finally {
      down.disconnect();
    }
  });

  it('drives a node-redis v4+ client through its own API (eval with { keys, arguments })', async () => {
    const values = new Map<string, number>();
    const calls: string[] = [];
    const nodeRedis = {
      isOpen: true,
      isReady: true,
      sendCommand: () => assert.fail('not expected'),
      eval: async (_script: string, options: { keys: string[]; arguments: string[] }) => {
        calls.push(`eval ${options.keys[0]} ${options.arguments[0]}`);
        const value = (values.get(options.keys[0]) ?? 0) + Number(options.arguments[0]);
        values.set(options.keys[0], value);
        return [value, Number(options.arguments[1]) * 1000];
      },
      multi() {
        const keys: string[] = [];
        const chain = {
          get: (key: string) => (keys.push(key), chain),
          pTTL: () => chain,
          exec: async () => (values.has(keys[0]) ? [String(values.get(keys[0])), 30_000] : [null, -2]),
        };
        return chain;
      },
    };
    const quotas = new RunQuotas({ redis: nodeRedis, keyPrefix: 'q', user: { requests: { limit: 1, window: 60 } } });
    await quotas.admit(run('alice'));
    await refused(quotas.admit(run('alice')), { scope: 'user', kind: 'requests', limit: 1 });
    assert.deepEqual(calls, ['eval q:user:requests:alice 1', 'eval q:user:requests:alice 1', 'eval q:user:requests:alice -1']);
    assert.deepEqual(await quotas.usage({ userId: 'alice' }), { user: { requests: { used: 1, limit: 1, resetsIn: 30 } } });
  });
});

describe('RunQuotas options', () => {
  it('defaults: a polite message, no budgets, nothing to check or charge', async () => {
    const quotas = new RunQuotas({ user: { requests: { limit: 1, window: 1 } } });
    assert.match(quotas.message, /limit.*try again later/i);
    assert.equal(quotas.hasBudgets, false);
    await quotas.check(run('alice'));
    await quotas.charge(run('alice'), { tokens: 10, cost: 1 });
    assert.equal(new RunQuotas({ message: 'Slow down.', global: { costPerDay: 1 } }).message, 'Slow down.');
    assert.equal(new RunQuotas({ global: { costPerDay: 1 } }).hasBudgets, true);
    assert.equal(new RunQuotas({}).hasBudgets, false);
    await new RunQuotas({}).admit(run(null));
  });

  const INVALID: { options: unknown; error: typeof TypeError | typeof RangeError; message: RegExp }[] = [
    { options: null, error: TypeError, message: /^quotas must be an object/ },
    { options: { users: {} }, error: TypeError, message: /^quotas\.users is not an option; the options are user, agent, global/ },
    { options: { user: 5 }, error: TypeError, message: /^quotas\.user must be an object/ },
    { options: { user: { tokens: 5 } }, error: TypeError, message: /^quotas\.user\.tokens is not a limit; the limits are requests .*tokensPerDay and costPerDay/ },
    { options: { agent: { requests: 20 } }, error: TypeError, message: /^quotas\.agent\.requests must be \{ limit, window \}/ },
    { options: { agent: { requests: { limit: 2.5, window: 60 } } }, error: RangeError, message: /^quotas\.agent\.requests\.limit must be a whole number ≥ 1 \(the most runs per window\); got 2\.5/ },
    { options: { agent: { requests: { limit: 0, window: 60 } } }, error: RangeError, message: /^quotas\.agent\.requests\.limit must be a positive finite number/ },
    { options: { global: { requests: { limit: 5 } } }, error: TypeError, message: /^quotas\.global\.requests\.window must be a number \(the window in seconds\); got undefined/ },
    { options: { global: { tokensPerDay: Infinity } }, error: RangeError, message: /^quotas\.global\.tokensPerDay must be a positive finite number/ },
    { options: { user: { tokensPerDay: '1000' } }, error: TypeError, message: /^quotas\.user\.tokensPerDay must be a number/ },
    { options: { user: { costPerDay: -1 } }, error: RangeError, message: /^quotas\.user\.costPerDay must be a positive finite number/ },
    { options: { user: { costPerDay: 1e-9 } }, error: RangeError, message: /^quotas\.user\.costPerDay must be at least 0\.000001/ },
    { options: { principal: 'user' }, error: TypeError, message: /^quotas\.principal must be 'agent' or a function/ },
    { options: { redis: 'redis://localhost' }, error: TypeError, message: /^quotas\.redis must be a connected Redis client: ioredis .* or node-redis v4\+ .*; got "redis:\/\/localhost"\. Omit it/ },
    { options: { redis: { get() {} } }, error: TypeError, message: /^quotas\.redis must be .*got an object \(Object\)/ },
    { options: { keyPrefix: '' }, error: TypeError, message: /^quotas\.keyPrefix must be a non-empty string/ },
    { options: { failOpen: 'yes' }, error: TypeError, message: /^quotas\.failOpen must be true or false/ },
    { options: { message: '' }, error: TypeError, message: /^quotas\.message must be a non-empty string/ },
  ];
  for (const { options, error, message } of INVALID) {
    it(`refuses ${JSON.stringify(options)} with ${error.name}`, () => {
      assert.throws(() => new RunQuotas(options as QuotaOptions), (thrown: Error) => {
        assert.equal(thrown.constructor, error);
        assert.match(thrown.message, message);
        return true;
      });
    });
  }

  it('refuses a principal function that returns no id, naming the fix', async () => {
    const quotas = new RunQuotas({ user: { requests: { limit: 1, window: 60 } }, principal: () => '' });
    await assert.rejects(quotas.admit(run(null)), /quotas\.principal returned "" for agent "support"; it must return a non-empty string/);
  });
});
