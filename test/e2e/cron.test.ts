import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Injectable } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { Test, TestingModule } from '@nestjs/testing';
import { Agent, Cron, DefinableModule, Model, ModelChunk, ModelRequest, TriggerEvent, TriggerRegistry } from '../../lib';
import { TestModel } from '../../lib/testing';
import { deferred } from '../support/fixtures';

const HOUR = 3_600_000;

@Injectable()
class Reports {
  readonly fired: string[] = [];
  @Cron('0 9 * * *', { timezone: 'Europe/Paris' })
  morning(event: TriggerEvent) {
    this.fired.push(`${new Date().toISOString()} ${event.source}`);
    return "Give me today's summary.";
  }
}

/** A model whose every call waits until the test lets it finish. */
class SlowModel implements Model {
  readonly id = 'slow';
  readonly provider = 'test';
  readonly capabilities = { images: false, audio: false, video: false };
  release = deferred();
  started = 0;
  cost() {
    return null;
  }
  async *invoke(_request: ModelRequest): AsyncIterable<ModelChunk> {
    this.started++;
    await this.release.promise;
    yield { type: 'content', delta: 'done' };
  }
}

@Injectable()
class EverySecond {
  calls = 0;
  @Cron('* * * * * *', { name: 'every-second' })
  tick() {
    this.calls++;
    return 'tick';
  }
}

async function boot(providers: any[], model: Model = new TestModel({ responses: () => 'ok' })): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [DefinableModule.forRoot({ agent: new Agent({ model }), server: { enabled: false } }), ScheduleModule.forRoot()],
    providers,
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  return moduleRef;
}

/** Lets the promise jobs queued by a tick (the handler, the run) settle. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('@Cron with fake timers', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.UTC(2026, 2, 28, 7, 0, 0) }));
  afterEach(() => mock.timers.reset());

  it('fires on schedule in its time zone, across the daylight-saving change', async () => {
    const moduleRef = await boot([Reports]);
    const reports = moduleRef.get(Reports);
    const job = moduleRef.get(TriggerRegistry).cronJob('definable:Reports.morning');
    assert.ok(job?.isRunning, 'the job is in TriggerRegistry, running');
    assert.equal(job.nextRun()?.toISOString(), '2026-03-28T08:00:00.000Z');
    mock.timers.tick(HOUR - 1);
    assert.deepEqual(reports.fired, []);
    mock.timers.tick(1); // 09:00 in Paris is 08:00 UTC on 28 March (CET)
    assert.deepEqual(reports.fired, ['2026-03-28T08:00:00.000Z cron(0 9 * * *)']);
    await flush();
    mock.timers.tick(23 * HOUR - 1);
    assert.equal(reports.fired.length, 1);
    mock.timers.tick(1); // ... and 07:00 UTC on 29 March (CEST)
    assert.equal(reports.fired[1], '2026-03-29T07:00:00.000Z cron(0 9 * * *)');
    await moduleRef.close();
  });

  it('skips a tick while the previous run is still going', async () => {
    const model = new SlowModel();
    const moduleRef = await boot([EverySecond], model);
    const job = moduleRef.get(EverySecond);
    mock.timers.tick(1000);
    await flush();
    assert.equal(job.calls, 1);
    assert.equal(model.started, 1);
    mock.timers.tick(1000); // the run is still going: skipped
    await flush();
    assert.equal(job.calls, 1);
    model.release.resolve();
    await flush();
    mock.timers.tick(1000);
    await flush();
    assert.equal(job.calls, 2);
    await moduleRef.close();
  });
});

@Injectable()
class NightlyNewYork {
  readonly fired: string[] = [];
  @Cron('30 2 * * *', { timezone: 'America/New_York' })
  nightly() {
    this.fired.push(new Date().toISOString());
    return 'nightly';
  }
}

@Injectable()
class NightlyLordHowe {
  readonly fired: string[] = [];
  @Cron('15 2 * * *', { timezone: 'Australia/Lord_Howe' })
  nightly() {
    this.fired.push(new Date().toISOString());
    return 'nightly';
  }
}

/** Moves the fake clock in 15-minute steps (every expected instant falls on one), letting each tick's run settle. */
async function advance(ms: number): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += HOUR / 4) {
    mock.timers.tick(HOUR / 4);
    await flush();
  }
}

describe('@Cron across daylight-saving changes, with a fake clock', () => {
  afterEach(() => mock.timers.reset());

  it("New York's fall-back day: '30 2 * * *' runs once (02:30 EST), not also at 01:30 EST", async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-10-31T12:00:00Z') });
    const moduleRef = await boot([NightlyNewYork]);
    await advance(48 * HOUR);
    assert.deepEqual(moduleRef.get(NightlyNewYork).fired, ['2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z']);
    await moduleRef.close();
  });

  for (const { name, now, expected } of [
    { name: 'fall back (02:00 -> 01:30): once at 02:15 (+10:30), never 01:45 or 02:45', now: '2026-04-04T12:00:00Z', expected: ['2026-04-04T15:45:00.000Z'] },
    { name: 'spring gap (02:00 -> 02:30): once, right after the gap', now: '2026-10-03T12:00:00Z', expected: ['2026-10-03T15:30:00.000Z'] },
  ]) {
    it(`Lord Howe's 30-minute shift, '15 2 * * *': ${name}`, async () => {
      mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse(now) });
      const moduleRef = await boot([NightlyLordHowe]);
      await advance(24 * HOUR);
      assert.deepEqual(moduleRef.get(NightlyLordHowe).fired, expected);
      await moduleRef.close();
    });
  }
});

describe('@Cron validation', () => {
  it('fails bootstrap on an invalid expression, naming the class and method', async () => {
    @Injectable()
    class Broken {
      @Cron('every morning')
      run() {
        return 'x';
      }
    }
    await assert.rejects(boot([Broken]), /@Cron\('every morning'\) on Broken\.run: invalid cron expression/);
  });

  it('fails bootstrap on an unknown time zone', async () => {
    @Injectable()
    class Lost {
      @Cron('0 9 * * *', { timezone: 'Mars/Olympus' })
      run() {
        return 'x';
      }
    }
    await assert.rejects(boot([Lost]), /Lost\.run: unknown timezone "Mars\/Olympus"/);
  });
});
