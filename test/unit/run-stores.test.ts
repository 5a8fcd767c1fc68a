import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InMemoryRunStore, RecordedEvent, RunEvent, RunRecord, RunStore, SqliteRunStore } from '../../lib';
import { tempDir } from '../support/fixtures';

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

function contract(name: string, open: (retention?: { maxAge?: number; maxRuns?: number }) => RunStore) {
  describe(`${name} (RunStore contract)`, () => {
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
