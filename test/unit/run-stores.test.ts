import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { InMemoryRunStore, PostgresRunStore, RecordedEvent, RunEvent, RunJob, RunRecord, RunStore, SqliteRunStore } from '../../lib';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

const dir = tempDir();
after(() => dir.cleanup());

const record = (runId: string, fields: Partial<RunRecord> = {}): RunRecord => ({
  runId,
  agent: 'main',
  userId: 'alice',
  sessionId: `s-${runId}`,
  trigger: 'POST /run',
  status: 'running',
  background: false,
  createdAt: 1_000,
  endedAt: null,
  output: null,
  error: null,
  lastSeq: 0,
  ...fields,
});
const content = (runId: string, seq: number): RecordedEvent => ({
  seq,
  event: { event: 'RunContent', runId, sessionId: `s-${runId}`, agentId: 'a', createdAt: 1_000 + seq, content: `c${seq}` } as RunEvent,
});
const seqs = (events: RecordedEvent[]) => events.map((recorded) => recorded.seq);

function contract(name: string, open: (retention?: { maxAge?: number; maxRuns?: number }) => RunStore, cleanup?: () => Promise<void>) {
  describe(`${name} (RunStore contract)`, () => {
    if (cleanup) afterEach(cleanup);
    it('records a run, its events in batches and its changes; reads the events after any sequence number', async () => {
      const store = open();
      await store.create(record('r1'));
      await store.write('r1', [content('r1', 1), content('r1', 2), content('r1', 3)]);
      await store.write('r1', [content('r1', 4), content('r1', 5)], { status: 'completed', endedAt: 2_000, error: null });
      const got = await store.get('r1');
      assert.equal(got?.status, 'completed');
      assert.equal(got?.endedAt, 2_000);
      assert.equal(got?.lastSeq, 5);
      assert.deepEqual(seqs(await store.events('r1')), [1, 2, 3, 4, 5]);
      assert.deepEqual(seqs(await store.events('r1', 2)), [3, 4, 5], 'across a batch');
      assert.deepEqual(seqs(await store.events('r1', 3)), [4, 5], 'at a batch boundary');
      assert.deepEqual(seqs(await store.events('r1', 5)), []);
      assert.deepEqual((await store.events('r1', 3)).map((recorded) => (recorded.event as { content: string }).content), ['c4', 'c5']);
      assert.equal(await store.get('nope'), null);
      assert.deepEqual(await store.events('nope'), []);
      await store.close();
    });

    it("gives back a terminal event with the run's output, whichever way the run ended in the store", async () => {
      const store = open();
      const output = { content: 'done', status: 'completed', metrics: { duration: 1 } } as unknown as RunRecord['output'];
      const terminal = (runId: string, seq: number): RecordedEvent => ({ seq, event: { event: 'RunCompleted', runId, sessionId: 's', agentId: 'a', createdAt: 1, output } as RunEvent });
      await store.create(record('once', { status: 'completed', endedAt: 2, output, lastSeq: 1 }), [terminal('once', 1)]);
      await store.create(record('streamed'));
      await store.write('streamed', [content('streamed', 1)]);
      await store.write('streamed', [content('streamed', 2), terminal('streamed', 3)], { status: 'completed', endedAt: 2, output, error: null });
      assert.deepEqual((await store.events('once')).map((recorded) => (recorded.event as { output?: unknown }).output), [output]);
      assert.deepEqual((await store.events('streamed', 2)).map((recorded) => (recorded.event as { output?: unknown }).output), [output]);
      await store.close();
    });

    it('gives an idempotency key to exactly one of concurrent claims, keeps it until it expires or is released', async () => {
      const store = open();
      const claim = (runId: string, createdAt = 1_000) => store.claimIdempotencyKey({ scope: 'api-key:a', key: 'k', requestHash: 'h', runId, createdAt, expiresAt: createdAt + 500 });
      const results = await Promise.all(['r1', 'r2', 'r3'].map((runId) => claim(runId)));
      assert.deepEqual(new Set(results.map((held) => held.runId)).size, 1);
      const winner = results[0].runId;
      assert.equal((await claim('r4', 1_200)).runId, winner, 'still held');
      assert.equal((await store.claimIdempotencyKey({ scope: 'jwt:b', key: 'k', requestHash: 'h', runId: 'r5', createdAt: 1_200, expiresAt: 2_000 })).runId, 'r5', 'another scope');
      assert.equal((await claim('r6', 1_600)).runId, 'r6', 'expired: taken again');
      await store.releaseIdempotencyKey('api-key:a', 'k', 'someone-else');
      assert.equal((await claim('r7', 1_700)).runId, 'r6', 'a release by another run changes nothing');
      await store.releaseIdempotencyKey('api-key:a', 'k', 'r6');
      assert.equal((await claim('r8', 1_700)).runId, 'r8');
      await store.close();
    });

    it('prunes ended runs past maxAge and beyond maxRuns (oldest first), never running ones, and expired keys', async () => {
      const store = open({ maxAge: 10_000, maxRuns: 3 });
      await store.create(record('old', { createdAt: 1, status: 'completed', endedAt: 2 }));
      await store.write('old', [content('old', 1)]);
      await store.create(record('running', { createdAt: 2 }));
      for (const [index, runId] of ['a', 'b', 'c'].entries()) await store.create(record(runId, { createdAt: 100 + index, status: 'completed', endedAt: 20_000 }));
      await store.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', runId: 'a', createdAt: 1, expiresAt: 10 });
      await store.prune(20_000);
      assert.equal(await store.get('old'), null);
      assert.deepEqual(await store.events('old'), []);
      assert.ok(await store.get('running'), 'a running run is never pruned');
      const kept = (await Promise.all(['a', 'b', 'c'].map((runId) => store.get(runId)))).map((run) => run?.runId ?? null);
      assert.deepEqual(kept, [null, 'b', 'c'], 'three runs at most: the oldest ended one went');
      assert.equal((await store.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', runId: 'new', createdAt: 20_000, expiresAt: 30_000 })).runId, 'new');
      await store.close();
    });

    it('keeps a queued job: listed oldest first, kept through the run that takes it up, reset for a retry', async () => {
      const store = open();
      const job = { handler: 'Hooks.onOrder', event: { body: { id: 1 }, headers: {}, source: 'POST /orders', timestamp: 5 }, principal: null, attempts: 0, maxAttempts: 3, retryDelay: 10, nextAttemptAt: 5 };
      await store.create(record('j2', { status: 'queued', background: true, createdAt: 20, job }));
      await store.create(record('j1', { status: 'queued', background: true, createdAt: 10, job }));
      await store.create(record('plain', { status: 'queued', background: true, createdAt: 5 }));
      assert.deepEqual((await store.queuedJobs()).map((run) => run.runId), ['j1', 'j2']);
      // The runner records the attempt's run under the same id: the job, trigger and creation time stay.
      await store.write('j1', [], { status: 'running', job: { ...job, attempts: 1 } });
      await store.create(record('j1', { status: 'running', trigger: 'other', createdAt: 99 }), [content('j1', 1)]);
      const running = await store.get('j1');
      assert.deepEqual([running?.job?.attempts, running?.trigger, running?.createdAt, running?.background], [1, 'POST /run', 10, true]);
      await store.resetRun('j1', { status: 'queued', job: { ...job, attempts: 1, nextAttemptAt: 50 } });
      assert.deepEqual(await store.events('j1'), []);
      assert.equal((await store.get('j1'))?.lastSeq, 0);
      assert.deepEqual((await store.queuedJobs()).map((run) => [run.runId, run.job?.nextAttemptAt]), [['j1', 50], ['j2', 5]]);
      await store.close();
    });

    it('refuses a retention that is not positive', () => {
      assert.throws(() => open({ maxRuns: 0 }), /retention.maxRuns must be a whole number of at least 1/);
      assert.throws(() => open({ maxAge: -1 }), /retention.maxAge must be a positive number/);
    });
  });
}

let counter = 0;
contract('InMemoryRunStore', (retention) => new InMemoryRunStore({ retention }));
contract('SqliteRunStore', (retention) => new SqliteRunStore({ path: join(dir.path, `runs-${counter++}.db`), retention }));

describe('SqliteRunStore group commit', () => {
  it('commits the writes issued together in one go, in order, and a failing one alone fails', async () => {
    const store = new SqliteRunStore({ path: join(dir.path, 'group.db') });
    await store.create(record('taken'), [content('taken', 1)]);
    const writes = [
      store.create(record('a'), [content('a', 1)]),
      store.write('a', [content('a', 2)], { status: 'completed', endedAt: 5 }),
      store.write('taken', [content('taken', 1)]), // the same batch again: refused by the key
      store.create(record('b')),
    ];
    const settled = await Promise.allSettled(writes);
    assert.deepEqual(settled.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual([(await store.get('a'))?.status, (await store.get('a'))?.lastSeq, seqs(await store.events('a'))], ['completed', 2, [1, 2]]);
    assert.ok(await store.get('b'));
    assert.deepEqual(seqs(await store.events('taken')), [1]);
    await store.close();
  });
});

describe('SqliteRunStore across a restart', () => {
  it('keeps runs, events and keys; marks runs left queued or running interrupted, once', async () => {
    const path = join(dir.path, 'restart.db');
    const first = new SqliteRunStore({ path });
    await first.create(record('done', { status: 'completed', endedAt: 5 }));
    await first.create(record('mid'));
    await first.write('mid', [content('mid', 1), content('mid', 2)]);
    await first.create(record('waiting', { status: 'queued', background: true }));
    await first.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', runId: 'mid', createdAt: 1, expiresAt: Number.MAX_SAFE_INTEGER });
    // No close: the process died.
    const second = new SqliteRunStore({ path });
    assert.deepEqual((await second.recover(9_000)).sort(), ['mid', 'waiting']);
    assert.deepEqual(await second.recover(9_001), [], 'once');
    const mid = await second.get('mid');
    assert.equal(mid?.status, 'interrupted');
    assert.equal(mid?.endedAt, 9_000);
    assert.equal(mid?.error?.code, 'interrupted');
    assert.equal(mid?.lastSeq, 2);
    assert.deepEqual(seqs(await second.events('mid')), [1, 2]);
    assert.equal((await second.get('waiting'))?.background, true);
    assert.equal((await second.get('done'))?.status, 'completed');
    assert.equal((await second.claimIdempotencyKey({ scope: 's', key: 'k', requestHash: 'h', runId: 'other', createdAt: 10, expiresAt: 20 })).runId, 'mid');
    await second.close();
    await first.close();
  });

  it('puts a job a crash cut back in the queue while attempts are left, and marks it failed once they are spent', async () => {
    const path = join(dir.path, 'jobs.db');
    const first = new SqliteRunStore({ path });
    const job = (attempts: number) => ({ handler: 'H.m', event: { body: null, headers: {}, source: 'POST /x', timestamp: 1 }, principal: null, attempts, maxAttempts: 2, retryDelay: 10, nextAttemptAt: 1 });
    await first.create(record('cut', { status: 'running', job: job(1) }), [content('cut', 1)]);
    await first.create(record('spent', { status: 'running', job: job(2) }));
    await first.create(record('waiting', { status: 'queued', job: job(0) }));
    const second = new SqliteRunStore({ path });
    assert.deepEqual(await second.recover(7_000), ['spent']);
    assert.deepEqual([(await second.get('cut'))?.status, (await second.get('cut'))?.job?.nextAttemptAt, (await second.events('cut')).length], ['queued', 7_000, 0]);
    assert.equal((await second.get('spent'))?.status, 'failed');
    assert.deepEqual((await second.queuedJobs()).map((run) => run.runId).sort(), ['cut', 'waiting']);
    await second.close();
    await first.close();
  });
});

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const pg = testSchemas();
contract('PostgresRunStore', (retention) => new PostgresRunStore({ connectionString: PG_URL, schema: pg.fresh(), retention }), pg.drop);

describe('PostgresRunStore on one database shared by replicas', () => {
  afterEach(pg.drop);
  /** Two "replicas": a store on a pool of its own each, one schema. */
  const twoStores = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresRunStore(options), schema, tablePrefix);
  it('records the runs created at once in one group, and a bad run in a group fails alone', async () => {
    const [store] = twoStores();
    const runs = Array.from({ length: 20 }, (_, index) => store.create(record(`g${index}`, { status: 'completed', endedAt: 5, lastSeq: 1 }), [content(`g${index}`, 1)]));
    // Two events with one sequence number: its group's statement fails, then each run is tried alone.
    const bad = store.create(record('bad'), [content('bad', 1), content('bad', 1)]);
    await Promise.all(runs);
    await assert.rejects(bad, /PostgreSQL run store failed: .*duplicate key/);
    for (let index = 0; index < 20; index++) assert.deepEqual((await store.events(`g${index}`)).map((recorded) => recorded.seq), [1]);
    assert.equal(await store.get('bad'), null, 'nothing of the bad run is kept');
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".runs`);
    assert.equal(rows[0].n, 20);
  });

  const job = (attempts: number): RunJob => ({
    handler: 'Hooks.onOrder',
    event: { body: { id: 1 }, headers: {}, source: 'POST /orders', timestamp: 1 },
    principal: null,
    attempts,
    maxAttempts: 2,
    retryDelay: 10,
    nextAttemptAt: 1,
  });

  it('gives an idempotency key to exactly one of the claims racing from both replicas, tables created meanwhile', async () => {
    const [a, b] = twoStores();
    // Both set up the fresh schema at once, then 20 claims of each of three keys race, from both pools.
    const claims = ['k1', 'k2', 'k3'].flatMap((key) =>
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).claimIdempotencyKey({ scope: 'api-key:x', key, requestHash: 'h', runId: `${key}-r${i}`, createdAt: 1_000, expiresAt: 5_000 }),
      ),
    );
    const results = await Promise.all(claims);
    for (const key of ['k1', 'k2', 'k3']) {
      const holders = new Set(results.filter((held) => held.key === key).map((held) => held.runId));
      assert.equal(holders.size, 1, `one winner for ${key}, got ${[...holders].join(', ')}`);
      const [winner] = holders;
      assert.equal((await a.claimIdempotencyKey({ scope: 'api-key:x', key, requestHash: 'h', runId: 'late', createdAt: 2_000, expiresAt: 9_000 })).runId, winner);
      assert.deepEqual(await b.claimIdempotencyKey({ scope: 'api-key:x', key, requestHash: 'h2', runId: 'later', createdAt: 5_000, expiresAt: 9_000 }), {
        scope: 'api-key:x',
        key,
        requestHash: 'h2',
        runId: 'later',
        createdAt: 5_000,
        expiresAt: 9_000,
      }, 'expired: the other replica takes it');
    }
    // Expired keys racing again: still one winner.
    const again = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).claimIdempotencyKey({ scope: 'api-key:x', key: 'k1', requestHash: 'h', runId: `again-${i}`, createdAt: 9_000, expiresAt: 20_000 })),
    );
    assert.equal(new Set(again.map((held) => held.runId)).size, 1);
  });

  it("recover(now, owner) recovers only that replica's runs: jobs back in the queue or failed, plain runs interrupted", async () => {
    const [a, b] = twoStores();
    await a.create(record('dead-plain', { owner: 'replica-a', lastSeq: 2 }), [content('dead-plain', 1), content('dead-plain', 2)]);
    await a.create(record('dead-job-left', { owner: 'replica-a', job: job(1) }), [content('dead-job-left', 1)]);
    await a.create(record('dead-job-spent', { owner: 'replica-a', job: job(2) }));
    await a.create(record('dead-queued-job', { owner: 'replica-a', status: 'queued', job: job(0) }));
    await a.create(record('dead-queued', { owner: 'replica-a', status: 'queued', background: true }));
    await a.create(record('dead-paused', { owner: 'replica-a', status: 'paused' }));
    await a.create(record('dead-done', { owner: 'replica-a', status: 'completed', endedAt: 5 }));
    await b.create(record('alive-plain', { owner: 'replica-b' }), [content('alive-plain', 1)]);
    await b.create(record('alive-job', { owner: 'replica-b', job: job(1) }));
    await b.create(record('unowned'));

    // Two replicas find replica-a gone at once: each of its runs is recovered by exactly one of them.
    const [byA, byB] = await Promise.all([b.recover(7_000, 'replica-a'), a.recover(7_000, 'replica-a')]);
    assert.deepEqual([...byA, ...byB].sort(), ['dead-job-spent', 'dead-plain', 'dead-queued']);
    assert.deepEqual(await b.recover(7_001, 'replica-a'), [], 'once');

    const plain = await b.get('dead-plain');
    assert.deepEqual([plain?.status, plain?.endedAt, plain?.error?.code, plain?.lastSeq, plain?.owner], ['interrupted', 7_000, 'interrupted', 2, 'replica-a']);
    assert.deepEqual(seqs(await b.events('dead-plain')), [1, 2], 'its events stay');
    const left = await b.get('dead-job-left');
    assert.deepEqual([left?.status, left?.job?.nextAttemptAt, left?.job?.attempts, left?.lastSeq, left?.endedAt], ['queued', 7_000, 1, 0, null]);
    assert.deepEqual(await b.events('dead-job-left'), [], 'the cut attempt is forgotten');
    assert.deepEqual([(await b.get('dead-job-spent'))?.status, (await b.get('dead-job-spent'))?.error?.code], ['failed', 'interrupted']);
    assert.equal((await b.get('dead-queued-job'))?.status, 'queued', 'a queued job waits for its attempt');
    assert.equal((await b.get('dead-queued'))?.status, 'interrupted');
    assert.equal((await b.get('dead-paused'))?.status, 'paused', 'a paused run waits for its approvals');
    assert.equal((await b.get('dead-done'))?.status, 'completed');
    assert.deepEqual((await a.queuedJobs()).map((run) => run.runId).sort(), ['dead-job-left', 'dead-queued-job']);

    // The other replica's running runs, and runs with no owner, are untouched.
    for (const runId of ['alive-plain', 'alive-job', 'unowned']) assert.equal((await a.get(runId))?.status, 'running', runId);
    assert.deepEqual(seqs(await a.events('alive-plain')), [1]);
    assert.deepEqual(await a.recover(8_000, 'replica-c'), [], 'a replica with no runs');
    // Without an owner (one node starting): every run left running.
    assert.deepEqual((await a.recover(9_000)).sort(), ['alive-plain', 'unowned']);
    assert.equal((await a.get('alive-job'))?.status, 'queued');
  });

  it("sees through one replica's pool what the other wrote, in sequence order; a change of owner is kept", async () => {
    const [a, b] = twoStores(pg.fresh(), 'app_');
    await a.create(record('r', { owner: 'replica-a' }), [content('r', 1), content('r', 2)]);
    await a.write('r', [content('r', 3)]);
    await a.write('r', [content('r', 4), content('r', 5), content('r', 6)], { status: 'running' });
    assert.deepEqual(seqs(await b.events('r')), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(seqs(await b.events('r', 3)), [4, 5, 6]);
    assert.equal((await b.get('r'))?.lastSeq, 6);
    // A continuation taken up by the other replica.
    await b.write('r', [], { owner: 'replica-b', status: 'running' });
    await b.write('r', [content('r', 7)], { status: 'completed', endedAt: 9, error: null });
    assert.deepEqual([(await a.get('r'))?.owner, (await a.get('r'))?.status, (await a.get('r'))?.lastSeq], ['replica-b', 'completed', 7]);
    assert.deepEqual(seqs(await a.events('r', 5)), [6, 7]);
    // A batch written twice is refused whole: neither its events nor its change.
    await assert.rejects(b.write('r', [content('r', 7)], { status: 'error' }), /PostgreSQL run store failed: .*duplicate key/);
    assert.equal((await a.get('r'))?.status, 'completed');
    // A write for a run that is not recorded writes nothing.
    await a.write('ghost', [content('ghost', 1)], { status: 'completed' });
    assert.equal(await b.get('ghost'), null);
    assert.deepEqual(await b.events('ghost'), []);
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".app_run_events`);
    assert.equal(rows[0].n, 7, 'one row per event, under the prefix');
  });

  it('round-trips JSON exactly (a NUL character, unicode, key order) in outputs, errors, jobs and events', async () => {
    const [a, b] = twoStores();
    const output = { content: 'a NUL \u0000 here, 🚀, "quoted" \\', status: 'completed', zeta: 1, alpha: { z: [1.5e300, null], a: true } } as unknown as RunRecord['output'];
    const error = { message: 'm \u0000', code: 'internal' } as RunRecord['error'];
    const theJob = { ...job(0), event: { body: { z: '\u0000', a: [] }, headers: { 'x-b': ['1', '2'] }, source: 's', timestamp: 2 } };
    const event = { seq: 1, event: { event: 'RunContent', runId: 'j', sessionId: 's', agentId: 'a', createdAt: 1, content: 'token \u0000 🚀' } as RunEvent };
    const terminal = { seq: 2, event: { event: 'RunCompleted', runId: 'j', sessionId: 's', agentId: 'a', createdAt: 2, output } as RunEvent };
    await a.create(record('j', { status: 'queued', job: theJob, error }), [event]);
    await a.write('j', [terminal], { status: 'completed', endedAt: 3, output });
    const got = await b.get('j');
    assert.equal(JSON.stringify(got?.output), JSON.stringify(output));
    assert.equal(JSON.stringify(got?.error), JSON.stringify(error));
    assert.equal(JSON.stringify(got?.job), JSON.stringify(theJob));
    assert.equal(JSON.stringify(await b.events('j')), JSON.stringify([event, terminal]), 'the terminal event with its output, keys in order');
    const { rows } = await pg.admin.query(`SELECT event::text AS text FROM "${pg.schemas[0]}".run_events WHERE seq = 2`);
    assert.match(rows[0].text, /"output":"\$run\.output"/, 'the output is stored once, in the run row');
  });

  it('prunes from two replicas at once without deleting more than the retention asks', async () => {
    const schema = pg.fresh();
    const pool = pg.pool();
    const [a, b] = [new PostgresRunStore({ pool, schema, retention: { maxRuns: 5 } }), new PostgresRunStore({ pool, schema, retention: { maxRuns: 5 } })];
    for (let i = 0; i < 12; i++) await a.create(record(`r${String(i).padStart(2, '0')}`, { createdAt: i, status: 'completed', endedAt: 10 }), [content(`r${i}`, 1)]);
    await Promise.all([a.prune(20), b.prune(20)]);
    const { rows } = await pg.admin.query(`SELECT run_id FROM "${schema}".runs ORDER BY run_id`);
    assert.deepEqual(rows.map((row: { run_id: string }) => row.run_id), ['r07', 'r08', 'r09', 'r10', 'r11']);
    const { rows: events } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${schema}".run_events`);
    assert.equal(events[0].n, 5, "the pruned runs' events went with them");
  });

  it('refuses a schema or prefix that is not an identifier, and a missing or double connection, at construction', () => {
    assertRefusesBadOptions((options) => new PostgresRunStore(options), 'PostgresRunStore', 44, pg.pool());
    assert.throws(() => new PostgresRunStore({ connectionString: PG_URL, schema: 'x"; DROP TABLE y; --' }), /schema .* must be letters/);
    assert.throws(() => new PostgresRunStore({ connectionString: PG_URL, tablePrefix: 'my prefix' }), /PostgresRunStore: tablePrefix "my prefix" must be letters/);
    assert.throws(() => new PostgresRunStore({ connectionString: '' }), /connectionString must be a non-empty string/);
    assert.throws(() => new PostgresRunStore({ pool: {} as never }), /pool must be a pg Pool/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresRunStore(options),
      write: (store) => store.create(record('c')),
      read: async (store) => assert.equal((await store.get('c'))?.status, 'running'),
      closed: /PostgreSQL run store failed: .*pool/i,
    });
  });

  it('says what is wrong when the database is unreachable', async () => {
    await withUnreachableStore(pg, (options) => new PostgresRunStore(options), async (store) => {
      await assert.rejects(store.get('x'), /PostgreSQL run store failed: .*ECONNREFUSED/);
      await assert.rejects(store.write('x', [content('x', 1)], { status: 'completed' }), /ECONNREFUSED/);
      await assert.rejects(store.recover(1), /ECONNREFUSED/);
    });
  });
});
