import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Test, TestingModule } from '@nestjs/testing';
import { Agent, Backoff, DefinableModule, InterfaceAuthError, InterfaceConflictError, InterfaceSupervisor } from '../../lib';
import { TestModel } from '../../lib/testing';
import { MemoryInterface } from '../support/memory-interface';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

async function boot(platform: MemoryInterface): Promise<{ moduleRef: TestingModule; supervisor: InterfaceSupervisor }> {
  const moduleRef = await Test.createTestingModule({
    imports: [DefinableModule.forRoot({ agent: new Agent({ model: new TestModel({ responses: () => 'ok' }) }), interfaces: [platform], server: { enabled: false } })],
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  await flush();
  return { moduleRef, supervisor: moduleRef.get(InterfaceSupervisor) };
}

describe('Backoff', () => {
  it('doubles from 1 s to a 60 s cap and resets after 60 s of stable running', () => {
    const backoff = new Backoff();
    assert.deepEqual(Array.from({ length: 9 }, () => backoff.next(0)), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    assert.equal(backoff.next(59_999), 60000);
    assert.equal(backoff.next(60_000), 1000);
    assert.equal(backoff.next(0), 2000);
  });
});

describe('InterfaceSupervisor with fake timers', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('retries a failing start with backoff 1, 2, 4 s and reports each state', async () => {
    const platform = new MemoryInterface();
    platform.failStarts = [new Error('network down'), new Error('network down'), new Error('network down')];
    const { moduleRef, supervisor } = await boot(platform);
    const status = () => supervisor.status()[0];
    assert.equal(status().state, 'restarting');
    assert.equal(status().nextAttemptAt, new Date(1000).toISOString());
    assert.equal(status().lastError, 'network down');
    for (const delay of [1000, 2000, 4000]) {
      mock.timers.tick(delay - 1);
      await flush();
      const before = platform.starts;
      mock.timers.tick(1);
      await flush();
      assert.equal(platform.starts, before + 1, `a restart after ${delay} ms`);
    }
    assert.equal(status().state, 'running');
    assert.equal(status().restarts, 3);
    await moduleRef.close();
    assert.equal(status().state, 'stopped');
  });

  it('restarts an interface that crashes after start-up, and resets the backoff after 60 s stable', async () => {
    const platform = new MemoryInterface();
    const { moduleRef, supervisor } = await boot(platform);
    assert.equal(supervisor.status()[0].state, 'running');
    platform.crash(new Error('gateway closed (4000)'));
    assert.equal(supervisor.status()[0].state, 'restarting');
    mock.timers.tick(1000);
    await flush();
    assert.equal(supervisor.status()[0].state, 'running');
    platform.crash();
    assert.equal(supervisor.status()[0].nextAttemptAt, new Date(Date.now() + 2000).toISOString(), 'second crash: 2 s');
    mock.timers.tick(2000);
    await flush();
    mock.timers.tick(60_000); // stable for a minute
    platform.crash();
    assert.equal(supervisor.status()[0].nextAttemptAt, new Date(Date.now() + 1000).toISOString(), 'after 60 s stable: 1 s again');
    assert.equal(platform.stops, 3, 'a crashed interface is stopped before it is restarted');
    await moduleRef.close();
  });

  it('parks an interface whose credentials are refused, without retrying', async () => {
    const platform = new MemoryInterface();
    platform.failStarts = [new InterfaceAuthError('Telegram refused the bot token (401).')];
    const { moduleRef, supervisor } = await boot(platform);
    mock.timers.tick(600_000);
    await flush();
    assert.equal(platform.starts, 1);
    assert.equal(supervisor.status()[0].state, 'failed');
    assert.match(supervisor.status()[0].lastError ?? '', /401/);
    await moduleRef.close();
  });

  it('reports a conflict as such and keeps retrying with backoff', async () => {
    const platform = new MemoryInterface();
    platform.failStarts = [new InterfaceConflictError('another client is polling this bot token (409 Conflict)')];
    const { moduleRef, supervisor } = await boot(platform);
    assert.equal(supervisor.status()[0].state, 'restarting');
    assert.match(supervisor.status()[0].lastError ?? '', /409 Conflict/);
    mock.timers.tick(1000);
    await flush();
    assert.equal(supervisor.status()[0].state, 'running');
    await moduleRef.close();
  });

  it('does not restart an interface after a clean stop', async () => {
    const platform = new MemoryInterface();
    const { moduleRef, supervisor } = await boot(platform);
    await moduleRef.close();
    platform.crash();
    mock.timers.tick(120_000);
    await flush();
    assert.equal(platform.starts, 1);
    assert.equal(supervisor.status()[0].state, 'stopped');
  });
});
