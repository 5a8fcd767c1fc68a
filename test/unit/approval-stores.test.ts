import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { PostgresApprovalStore, SqliteApprovalStore } from '../../lib';
import { ApprovalError, InMemoryApprovalStore } from '../../lib/agent/approvals/approval-store';
import type { ApprovalRecord, ApprovalStore, PausedRun, PausedRunState } from '../../lib/agent/approvals/approval-store';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

const dir = tempDir();
after(() => dir.cleanup());
let counter = 0;
const freshPath = () => join(dir.path, `approvals-${counter++}.db`);

const state = (runId: string): PausedRunState => ({
  input: `wire 500 EUR (${runId})`,
  metadata: { channel: 'api', nested: { list: [1, 'two', { three: null }], flag: false } },
  messages: [
    { role: 'system', content: 'You move money carefully.' },
    { role: 'user', content: [{ type: 'text', text: 'wire 500 EUR to Bob — «ünïcødé» "quoted" \\ backslash' }] },
    { role: 'assistant', content: null, toolCalls: [{ id: 'call-1', name: 'transfer', arguments: '{"amount":500,"to":"bob"}' }] },
    { role: 'tool', toolCallId: 'call-0', name: 'lookup', content: '{"iban":"DE89"}' },
  ],
  newTurnStart: 1,
  system: [{ role: 'system', content: 'sys' }],
  steps: 2,
  reasoning: 'thinking…',
  usage: { inputTokens: 120, outputTokens: 34 },
  reasoningTokens: null,
  usageReported: true,
  toolCalls: [{ id: 'call-0', name: 'lookup', args: { who: 'bob' }, result: '{"iban":"DE89"}', duration: 0.25 }],
  references: [{ id: 'doc-1', score: 0.875, source: 'kb', text: 'policy' }, { id: 'doc-2', score: -1.5e-7, text: 'no source' }],
  elapsedMs: 1234.5,
  round: [
    { id: 'call-0', name: 'lookup', args: { who: 'bob' }, result: '{"iban":"DE89"}' },
    { id: 'call-1', name: 'transfer', args: { amount: 500, to: 'bob' }, approvalId: `${runId}-a1` },
  ],
});

const approval = (runId: string, approvalId: string, fields: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  approvalId,
  runId,
  agentName: 'main',
  sessionId: `s-${runId}`,
  userId: 'alice',
  toolName: 'transfer',
  toolCallId: `call-${approvalId}`,
  args: { amount: 500, to: 'bob', memo: 'ünïcødé "q" \u2028', tags: ['x', 'y'], nested: { none: null, half: 0.5, negative: -3, big: 2 ** 52 }, empty: {} },
  status: 'pending',
  requestedAt: 1_000,
  expiresAt: 61_000,
  ...fields,
});

const paused = (runId: string, approvals: ApprovalRecord[], fields: Partial<PausedRun> = {}): PausedRun => ({
  runId,
  agentName: 'main',
  sessionId: `s-${runId}`,
  userId: 'alice',
  pausedAt: 1_000,
  status: 'paused',
  state: state(runId),
  approvals,
  ...fields,
});

/** A run `r` with pending approvals `r-a1`, `r-a2`. */
const twoPending = (runId: string, fields: Partial<ApprovalRecord> = {}) => paused(runId, [approval(runId, `${runId}-a1`, fields), approval(runId, `${runId}-a2`, fields)]);

/** Asserts that `promise` rejects with an ApprovalError of `code`, its message matching `message` when given. */
async function rejectsWith(promise: Promise<unknown>, code: ApprovalError['code'], message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ApprovalError, `an ApprovalError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** The outcome of racing `calls`: how many fulfilled, and the codes of the ApprovalErrors of the others. */
async function race<T>(calls: Promise<T>[]): Promise<{ values: T[]; codes: string[] }> {
  const settled = await Promise.allSettled(calls);
  const values: T[] = [];
  const codes: string[] = [];
  for (const result of settled) {
    if (result.status === 'fulfilled') values.push(result.value);
    else codes.push(result.reason instanceof ApprovalError ? result.reason.code : String(result.reason));
  }
  return { values, codes };
}

interface Subject {
  /** A new, empty store. */
  open(): ApprovalStore;
  /** Run after each test (drops what it made). */
  cleanup?: () => Promise<void>;
}

function contract(name: string, subject: Subject) {
  describe(`${name} (ApprovalStore contract)`, () => {
    if (subject.cleanup) afterEach(subject.cleanup);
    it('gives back a saved paused run exactly (state and arguments deep-equal), a copy, and null for an unknown run', async () => {
      const store = subject.open();
      const run = twoPending('r1');
      await store.savePaused(run);
      const got = await store.getPaused('r1');
      assert.deepEqual(got, run);
      (got!.state.metadata as { channel: string }).channel = 'changed';
      got!.approvals[0].status = 'approved';
      assert.deepEqual(await store.getPaused('r1'), run, 'what the caller changes is not the store');
      assert.equal(await store.getPaused('nope'), null);
      // Saving again replaces the run and its approvals.
      const again = paused('r1', [approval('r1', 'r1-a3', { args: null })], { pausedAt: 5_000, userId: null });
      await store.savePaused(again);
      assert.deepEqual(await store.getPaused('r1'), again);
      assert.deepEqual((await store.list({ runId: 'r1' })).map((record) => record.approvalId), ['r1-a3']);
      await store.close();
    });

    it('records an approval and a rejection with who, why and when; unset fields are absent, not null', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1'));
      const approved = await store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 2_000);
      assert.deepEqual(approved, { ...approval('r1', 'r1-a1'), status: 'approved', decidedAt: 2_000, decidedBy: 'bob' });
      assert.ok(!('reason' in approved), 'no reason given: none recorded');
      const rejected = await store.decide('r1', 'r1-a2', { approve: false, decidedBy: 'carol', reason: 'too much' }, 3_000);
      assert.deepEqual(rejected, { ...approval('r1', 'r1-a2'), status: 'rejected', decidedAt: 3_000, decidedBy: 'carol', reason: 'too much' });
      assert.deepEqual((await store.getPaused('r1'))?.approvals, [approved, rejected]);
      assert.deepEqual(await store.list({ runId: 'r1' }), [approved, rejected]);
      // A pending one has none of the decision's fields.
      await store.savePaused(twoPending('r2'));
      const pending = (await store.getPaused('r2'))!.approvals[0];
      assert.deepEqual(Object.keys(pending).filter((key) => ['decidedAt', 'decidedBy', 'reason'].includes(key)), []);
      await store.close();
    });

    it('takes a decision once: a second one is approval_decided and the first stays; unknown ids are approval_not_found', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1'));
      await store.savePaused(twoPending('r2'));
      const first = await store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 2_000);
      await rejectsWith(store.decide('r1', 'r1-a1', { approve: false, decidedBy: 'mallory', reason: 'no' }, 2_500), 'approval_decided', /was approved by bob/);
      await rejectsWith(store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 2_600), 'approval_decided');
      assert.deepEqual((await store.getPaused('r1'))?.approvals[0], first);
      await rejectsWith(store.decide('r1', 'nope', { approve: true, decidedBy: 'bob' }, 2_000), 'approval_not_found', /"nope"/);
      await rejectsWith(store.decide('nope', 'r1-a2', { approve: true, decidedBy: 'bob' }, 2_000), 'approval_not_found');
      await rejectsWith(store.decide('r1', 'r2-a1', { approve: true, decidedBy: 'bob' }, 2_000), 'approval_not_found', undefined);
      assert.equal((await store.getPaused('r2'))?.approvals[0].status, 'pending', "another run's approval is not reached through this run");
      await store.close();
    });

    it('refuses a decision at or past expiresAt, recording that approval (only) expired', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1', { expiresAt: 10_000 }));
      await store.savePaused(twoPending('r2', { expiresAt: 10_000 }));
      await rejectsWith(store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 10_000), 'approval_decided', /expired at 1970-01-01T00:00:10\.000Z/);
      const [expired, other] = (await store.getPaused('r1'))!.approvals;
      assert.deepEqual(expired, { ...approval('r1', 'r1-a1', { expiresAt: 10_000 }), status: 'expired', decidedAt: 10_000, decidedBy: 'system', reason: 'expired' });
      assert.equal(other.status, 'pending', 'the other overdue approvals are left to expire()');
      assert.equal((await store.getPaused('r2'))?.approvals[0].status, 'pending');
      await rejectsWith(store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 9_000), 'approval_decided', /expired/);
      // Just before its time it is decided as usual.
      await store.savePaused(twoPending('r3', { expiresAt: 10_000 }));
      assert.equal((await store.decide('r3', 'r3-a1', { approve: true, decidedBy: 'bob' }, 9_999)).status, 'approved');
      await store.close();
    });

    it('expire(now) marks only overdue pending approvals expired and returns the runs now fully decided', async () => {
      const store = subject.open();
      // half: one overdue, one not. settled: its only approval overdue. mixed: one overdue, one approved already.
      await store.savePaused(paused('half', [approval('half', 'h1', { expiresAt: 5_000 }), approval('half', 'h2', { expiresAt: 50_000 })]));
      await store.savePaused(paused('settled', [approval('settled', 's1', { expiresAt: 5_000 })], { pausedAt: 900 }));
      await store.savePaused(paused('mixed', [approval('mixed', 'm1', { expiresAt: 4_000 }), approval('mixed', 'm2', { expiresAt: 5_000 })], { pausedAt: 800 }));
      await store.savePaused(paused('later', [approval('later', 'l1', { expiresAt: 50_000 })]));
      await store.decide('mixed', 'm1', { approve: true, decidedBy: 'bob' }, 3_000);
      assert.deepEqual([...(await store.expire(5_000))].sort(), ['mixed', 'settled']);
      const statuses = async () =>
        Object.fromEntries((await store.list({ limit: 10 })).map((record) => [record.approvalId, record.status]));
      assert.deepEqual(await statuses(), { h1: 'expired', h2: 'pending', s1: 'expired', m1: 'approved', m2: 'expired', l1: 'pending' });
      const h1 = (await store.getPaused('half'))!.approvals[0];
      assert.deepEqual([h1.decidedAt, h1.decidedBy, h1.reason], [5_000, 'system', 'expired']);
      assert.deepEqual(await store.expire(5_000), [], 'nothing new expired: no run reported again');
      assert.deepEqual(await store.expire(49_999), []);
      assert.deepEqual([...(await store.expire(50_000))].sort(), ['half', 'later']);
      assert.deepEqual(Object.values(await statuses()).filter((status) => status === 'pending'), []);
      await store.close();
    });

    it('claims a run only once every approval is decided, and then exactly once', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1'));
      assert.equal(await store.claim('r1'), null, 'both pending');
      await store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 2_000);
      assert.equal(await store.claim('r1'), null, 'one pending');
      assert.equal((await store.getPaused('r1'))?.status, 'paused');
      await store.decide('r1', 'r1-a2', { approve: false, decidedBy: 'bob', reason: 'no' }, 2_100);
      const claims = await Promise.all([store.claim('r1'), store.claim('r1'), store.claim('r1'), store.claim('r1')]);
      const won = claims.filter((claimed) => claimed !== null);
      assert.equal(won.length, 1, 'exactly one of concurrent claims wins');
      const expected = { ...twoPending('r1'), status: 'continuing', approvals: (await store.getPaused('r1'))!.approvals };
      assert.deepEqual(won[0], expected);
      assert.deepEqual(won[0]!.approvals.map((record) => record.status), ['approved', 'rejected']);
      assert.equal(await store.claim('r1'), null, 'claimed already');
      assert.equal((await store.getPaused('r1'))?.status, 'continuing');
      assert.equal(await store.claim('nope'), null);
      // A run settled by expiry is claimable too.
      await store.savePaused(paused('r2', [approval('r2', 'r2-a1', { expiresAt: 5_000 })]));
      assert.deepEqual(await store.expire(5_000), ['r2']);
      assert.equal((await store.claim('r2'))?.approvals[0].status, 'expired');
      await store.close();
    });

    it('gives one of concurrent decisions on one approval the win; the others are approval_decided', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1'));
      const deciders = ['bob', 'carol', 'dave', 'erin'];
      const { values, codes } = await race(deciders.map((who, index) => store.decide('r1', 'r1-a1', { approve: index % 2 === 0, decidedBy: who }, 2_000 + index)));
      assert.equal(values.length, 1);
      assert.deepEqual(codes, ['approval_decided', 'approval_decided', 'approval_decided']);
      assert.deepEqual((await store.getPaused('r1'))?.approvals[0], values[0], 'the winner is what is recorded');
      await store.close();
    });

    it('lists approvals by status, user (null too), agent and run, oldest first, at most limit (default 100)', async () => {
      const store = subject.open();
      await store.savePaused(paused('ra', [approval('ra', 'a1', { requestedAt: 300 }), approval('ra', 'a2', { requestedAt: 100 })]));
      await store.savePaused(paused('rb', [approval('rb', 'b1', { requestedAt: 200, userId: 'bob', agentName: 'ops' })], { userId: 'bob', agentName: 'ops' }));
      await store.savePaused(paused('rc', [approval('rc', 'c1', { requestedAt: 50, userId: null })], { userId: null }));
      await store.decide('ra', 'a1', { approve: true, decidedBy: 'alice' }, 1_000);
      const ids = async (filter?: Parameters<ApprovalStore['list']>[0]) => (await store.list(filter)).map((record) => record.approvalId);
      assert.deepEqual(await ids(), ['c1', 'a2', 'b1', 'a1'], 'all, oldest first');
      assert.deepEqual(await ids({}), ['c1', 'a2', 'b1', 'a1']);
      assert.deepEqual(await ids({ status: 'pending' }), ['c1', 'a2', 'b1']);
      assert.deepEqual(await ids({ status: 'approved' }), ['a1']);
      assert.deepEqual(await ids({ status: 'expired' }), []);
      assert.deepEqual(await ids({ userId: 'alice' }), ['a2', 'a1']);
      assert.deepEqual(await ids({ userId: null }), ['c1'], 'null: runs without a user');
      assert.deepEqual(await ids({ userId: 'nobody' }), []);
      assert.deepEqual(await ids({ agentName: 'ops' }), ['b1']);
      assert.deepEqual(await ids({ runId: 'ra' }), ['a2', 'a1']);
      assert.deepEqual(await ids({ approvalId: 'b1' }), ['b1'], 'by id alone (a chat reply quotes only that)');
      assert.deepEqual(await ids({ approvalId: 'b1', status: 'approved' }), []);
      assert.deepEqual(await ids({ status: 'pending', userId: 'alice', agentName: 'main', runId: 'ra' }), ['a2']);
      assert.deepEqual(await ids({ status: 'pending', userId: 'bob', agentName: 'main' }), []);
      assert.deepEqual(await ids({ limit: 2 }), ['c1', 'a2']);
      assert.deepEqual(await ids({ status: 'pending', limit: 1 }), ['c1']);
      assert.deepEqual((await store.list({ runId: 'rc' }))[0], approval('rc', 'c1', { requestedAt: 50, userId: null }), 'whole records');
      const many = Array.from({ length: 105 }, (_, index) => approval('big', `big-${index}`, { requestedAt: 10_000 + index }));
      await store.savePaused(paused('big', many));
      const listed = await store.list({ runId: 'big' });
      assert.equal(listed.length, 100, 'default limit');
      assert.deepEqual(listed.map((record) => record.approvalId), many.slice(0, 100).map((record) => record.approvalId));
      assert.equal((await store.list({ runId: 'big', limit: 1_000 })).length, 105);
      await store.close();
    });

    it('forgets a removed run and its approvals', async () => {
      const store = subject.open();
      await store.savePaused(twoPending('r1'));
      await store.savePaused(twoPending('r2'));
      await store.remove('r1');
      assert.equal(await store.getPaused('r1'), null);
      assert.deepEqual((await store.list()).map((record) => record.runId), ['r2', 'r2']);
      assert.equal(await store.claim('r1'), null);
      await rejectsWith(store.decide('r1', 'r1-a1', { approve: true, decidedBy: 'bob' }, 2_000), 'approval_not_found');
      assert.deepEqual(await store.expire(100_000), ['r2']);
      await store.remove('nope');
      await store.remove('r2');
      assert.deepEqual(await store.list(), []);
      await store.close();
    });
  });
}

contract('InMemoryApprovalStore', { open: () => new InMemoryApprovalStore() });
contract('SqliteApprovalStore', { open: () => new SqliteApprovalStore({ path: freshPath() }) });

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const pg = testSchemas();
contract('PostgresApprovalStore', { open: () => new PostgresApprovalStore({ connectionString: PG_URL, schema: pg.fresh() }), cleanup: pg.drop });

describe('PostgresApprovalStore on one database shared by replicas', () => {
  afterEach(pg.drop);
  /** Two "replicas": a store on a pool of its own each, one schema. */
  const twoStores = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresApprovalStore(options), schema, tablePrefix);

  it('lets exactly one of the decisions and claims racing from both replicas win, for each of several runs', async () => {
    const [a, b] = twoStores(pg.fresh(), 'app_');
    const runIds = ['r1', 'r2', 'r3', 'r4'];
    for (const runId of runIds) await (runId === 'r2' ? b : a).savePaused(paused(runId, [approval(runId, `${runId}-a1`)]));
    assert.deepEqual(await b.getPaused('r1'), paused('r1', [approval('r1', 'r1-a1')]), 'one replica sees what the other saved');
    assert.equal(await b.claim('r1'), null, 'pending');
    for (const runId of runIds) {
      const stores = [a, b, a, b, a, b];
      const decisions = await race(stores.map((store, index) => store.decide(runId, `${runId}-a1`, { approve: index % 2 === 0, decidedBy: `who-${index}` }, 2_000 + index)));
      assert.equal(decisions.values.length, 1, runId);
      assert.deepEqual(decisions.codes, Array(5).fill('approval_decided'));
      assert.deepEqual((await (runId === 'r3' ? a : b).getPaused(runId))?.approvals[0], decisions.values[0], 'the winner is what is recorded');
    }
    const claims = await Promise.all(runIds.flatMap((runId) => [a, b, a, b, a, b].map((store) => store.claim(runId))));
    for (const runId of runIds) assert.equal(claims.filter((claimed) => claimed?.runId === runId).length, 1, runId);
    assert.equal(claims.filter((claimed) => claimed !== null).length, runIds.length);
    assert.equal(await a.claim('r1'), null);
    assert.equal((await b.getPaused('r4'))?.status, 'continuing');
  });

  it('expires overdue approvals from both replicas at once, each run reported by one of them', async () => {
    const [a, b] = twoStores();
    for (let i = 0; i < 10; i++) {
      const runId = `run-${i}`;
      await a.savePaused(paused(runId, [approval(runId, `${runId}-x`, { expiresAt: 5_000 }), approval(runId, `${runId}-y`, { expiresAt: 5_000 })], { pausedAt: i }));
    }
    const [fromA, fromB] = await Promise.all([a.expire(5_000), b.expire(5_000)]);
    assert.deepEqual([...fromA, ...fromB].sort(), Array.from({ length: 10 }, (_, i) => `run-${i}`).sort());
    assert.deepEqual(await b.list({ status: 'pending' }), []);
  });

  it('keeps a NUL character, unicode and key order in the paused state and the arguments, and null arguments apart from none', async () => {
    const [a, b] = twoStores();
    const run = paused('j', [
      approval('j', 'j-1', { args: { z: 'NUL \u0000 🚀', a: [1, { y: null, b: 2 }] } }),
      approval('j', 'j-2', { args: null }),
      approval('j', 'j-3', { args: undefined }),
    ]);
    run.state.input = 'a NUL \u0000 here';
    await a.savePaused(run);
    const got = await b.getPaused('j');
    assert.equal(JSON.stringify(got?.state), JSON.stringify(run.state));
    assert.equal(JSON.stringify(got?.approvals[0].args), JSON.stringify(run.approvals[0].args));
    assert.deepEqual(got?.approvals.map((record) => record.args), [run.approvals[0].args, null, undefined]);
    assert.deepEqual((await a.list({ runId: 'j' })).map((record) => record.args), [run.approvals[0].args, null, undefined]);
  });

  it('refuses a schema or prefix that is not an identifier, and a missing or double connection, at construction', () => {
    assertRefusesBadOptions((options) => new PostgresApprovalStore(options), 'PostgresApprovalStore', 39, pg.pool());
    assert.throws(() => new PostgresApprovalStore({ connectionString: PG_URL, tablePrefix: 'bad;' }), /PostgresApprovalStore: tablePrefix "bad;" must be letters/);
  });

  it("close() ends the pool it created, not the app's; an unreachable database is a clear rejection", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresApprovalStore(options),
      write: (store) => store.savePaused(twoPending('c')),
      read: async (store) => assert.equal((await store.getPaused('c'))?.approvals.length, 2),
      closed: /PostgreSQL approval store failed: .*pool/i,
    });
    await withUnreachableStore(pg, (options) => new PostgresApprovalStore(options), async (down) => {
      await assert.rejects(down.decide('r', 'a', { approve: true, decidedBy: 'bob' }, 1), /PostgreSQL approval store failed: .*ECONNREFUSED/);
    });
  });
});

describe('SqliteApprovalStore on a shared file', () => {
  it('keeps runs, decisions and claims across close and reopen', async () => {
    const path = freshPath();
    const first = new SqliteApprovalStore({ path });
    await first.savePaused(twoPending('r1'));
    await first.savePaused(twoPending('r2'));
    const decided = await first.decide('r1', 'r1-a1', { approve: false, decidedBy: 'bob', reason: 'not today' }, 2_000);
    const before = await first.getPaused('r1');
    await first.close();
    await first.close(); // twice is fine

    const second = new SqliteApprovalStore({ path });
    assert.deepEqual(await second.getPaused('r1'), before);
    assert.deepEqual((await second.getPaused('r1'))?.approvals[0], decided);
    assert.deepEqual(await second.getPaused('r2'), twoPending('r2'));
    await rejectsWith(second.decide('r1', 'r1-a1', { approve: true, decidedBy: 'mallory' }, 3_000), 'approval_decided', /rejected by bob/);
    await second.decide('r1', 'r1-a2', { approve: true, decidedBy: 'bob' }, 3_000);
    assert.equal((await second.claim('r1'))?.status, 'continuing');
    await second.close();

    const third = new SqliteApprovalStore({ path });
    assert.equal(await third.claim('r1'), null, 'claimed before the restart: not claimed again');
    assert.deepEqual((await third.list({ status: 'pending' })).map((record) => record.approvalId), ['r2-a1', 'r2-a2']);
    await third.close();
  });

  it('lets exactly one of two store instances on one file win concurrent decisions and claims', async () => {
    const path = freshPath();
    const a = new SqliteApprovalStore({ path });
    const b = new SqliteApprovalStore({ path });
    await a.savePaused(paused('r1', [approval('r1', 'r1-a1')]));
    assert.deepEqual(await b.getPaused('r1'), paused('r1', [approval('r1', 'r1-a1')]), 'one instance sees what the other saved');
    assert.equal(await b.claim('r1'), null, 'pending');
    const decisions = await race([a, b, a, b].map((store, index) => store.decide('r1', 'r1-a1', { approve: true, decidedBy: `who-${index}` }, 2_000)));
    assert.equal(decisions.values.length, 1);
    assert.deepEqual(decisions.codes, ['approval_decided', 'approval_decided', 'approval_decided']);
    assert.deepEqual((await b.getPaused('r1'))?.approvals[0], decisions.values[0]);
    const claims = await Promise.all([a, b, a, b].map((store) => store.claim('r1')));
    assert.equal(claims.filter((claimed) => claimed !== null).length, 1);
    assert.equal(await a.claim('r1'), null);
    assert.equal(await b.claim('r1'), null);
    await Promise.all([a.close(), b.close()]);
  });

  it('lets exactly one of several processes racing on one file take the decision, and one continue the run', async () => {
    const path = freshPath();
    const setup = new SqliteApprovalStore({ path });
    await setup.savePaused(paused('r1', [approval('r1', 'r1-a1')]));
    await setup.close();
    const results = await raceInProcesses(path, 4);
    assert.equal(results.filter((result) => result.decided).length, 1, JSON.stringify(results));
    assert.deepEqual(results.filter((result) => !result.decided).map((result) => result.code), ['approval_decided', 'approval_decided', 'approval_decided']);
    assert.equal(results.filter((result) => result.claimed).length, 1, JSON.stringify(results));
    const check = new SqliteApprovalStore({ path });
    const run = await check.getPaused('r1');
    const winner = results.find((result) => result.decided)!;
    assert.deepEqual([run?.status, run?.approvals[0].status, run?.approvals[0].decidedBy], ['continuing', 'approved', winner.who]);
    await check.close();
  });

  it('keeps stores with different table prefixes apart on one file, and refuses bad options', async () => {
    const path = freshPath();
    const one = new SqliteApprovalStore({ path });
    const other = new SqliteApprovalStore({ path, tablePrefix: 'other_' });
    await one.savePaused(twoPending('r1'));
    assert.equal(await other.getPaused('r1'), null);
    assert.deepEqual(await other.list(), []);
    await Promise.all([one.close(), other.close()]);
    assert.throws(() => new SqliteApprovalStore({ path, tablePrefix: 'bad-prefix;' }), /tablePrefix "bad-prefix;" must be letters, digits and "_"/);
    assert.throws(() => new SqliteApprovalStore({ path: '' }), /SqliteApprovalStore needs a file path/);
  });
});

/**
 * Starts `count` Node processes on the store's file; once all have opened it
 * they are told to go together, and each decides approval r1-a1 of run r1
 * (as a different person) and then claims r1. Resolves with what each got.
 */
async function raceInProcesses(path: string, count: number): Promise<{ who: string; decided: boolean; code?: string; claimed: boolean }[]> {
  const storeModule = join(__dirname, '../../lib/agent/approvals/sqlite-approval-store.js');
  const script = `
    const { SqliteApprovalStore } = require(${JSON.stringify(storeModule)});
    const store = new SqliteApprovalStore({ path: ${JSON.stringify(path)} });
    const who = process.argv[1];
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      const result = { who, decided: false, claimed: false };
      try {
        await store.decide('r1', 'r1-a1', { approve: true, decidedBy: who }, 2000);
        result.decided = true;
      } catch (error) {
        result.code = error.code ?? String(error);
      }
      result.claimed = (await store.claim('r1')) !== null;
      await store.close();
      process.stdout.write(JSON.stringify(result) + '\\n');
      process.exit(0);
    });
  `;
  const children = Array.from({ length: count }, (_, index) => {
    const child = spawn(process.execPath, ['-e', script, `process-${index}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.startsWith('ready\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`process ${index} exited (${code}) before it was ready: ${stderr.slice(-800)}`)));
    });
    const done = new Promise<{ who: string; decided: boolean; code?: string; claimed: boolean }>((resolve, reject) => {
      child.once('exit', (code) => {
        const line = stdout.split('\n')[1];
        if (code === 0 && line) resolve(JSON.parse(line));
        else reject(new Error(`process ${index} exited (${code}): ${stderr.slice(-800)}`));
      });
    });
    return { child, ready, done };
  });
  try {
    await Promise.all(children.map((entry) => entry.ready));
    for (const { child } of children) child.stdin.end('go\n');
    return await Promise.all(children.map((entry) => entry.done));
  } finally {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
