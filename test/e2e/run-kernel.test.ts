import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Controller, Injectable } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { Agent, AgentError, AgentRunner, DefinableModule, HealthRegistry, OnEvent, RunTracker, Webhook } from '../../lib';
import type { Model, ModelChunk, ModelRequest } from '../../lib';
import { TestModel } from '../../lib/testing';
import { deferred } from '../support/fixtures';
import { MemoryInterface } from '../support/memory-interface';
import { bootModule, flush, PLATFORMS, post, startApp } from '../support/nest';

/** A model that answers nothing until its run is aborted, like an upstream that stalls. */
class StallingModel implements Model {
  readonly id = 'stalling';
  readonly provider = 'test';
  readonly capabilities = { images: false, audio: false, video: false };
  started = deferred();
  aborted = 0;
  cost() {
    return null;
  }
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    this.started.resolve();
    await new Promise<void>((resolve) => request.signal?.addEventListener('abort', () => resolve(), { once: true }));
    this.aborted++;
    yield* [];
  }
}

/** Records what Nest logs, by level. */
function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  return { lines, logger: { log: at('log'), error: at('error'), warn: at('warn'), debug: at('debug'), verbose: at('verbose') } };
}

/** Resolves once the module's shutdown has begun (the RunTracker refuses runs from then on). */
function whenShutdownBegins(tracker: RunTracker): Promise<void> {
  const begun = deferred();
  const original = tracker.beforeApplicationShutdown.bind(tracker);
  tracker.beforeApplicationShutdown = () => {
    const draining = original();
    begun.resolve();
    return draining;
  };
  return begun.promise;
}

describe('AgentRunner: the one door into the run loop', () => {
  it('runs the named agent with metadata.trigger, and refuses new runs once shutdown has begun', async () => {
    const seen: unknown[] = [];
    const agent = new Agent({ name: 'support', model: new TestModel({ responses: ['ok'] }) });
    agent.beforeRequest((context) => void seen.push(context.metadata.trigger));
    const moduleRef = await bootModule({ agent });
    const runner = moduleRef.get(AgentRunner);
    assert.equal((await runner.run('hi', { agent: 'support', trigger: 'test(1)' })).content, 'ok');
    assert.deepEqual(seen, ['test(1)']);
    const begun = whenShutdownBegins(moduleRef.get(RunTracker));
    const closing = moduleRef.close();
    await begun;
    assert.throws(() => runner.run('late', { trigger: 'test(2)' }), (error: unknown) => error instanceof AgentError && error.code === 'shutting_down');
    await assert.rejects(runner.stream('late', { trigger: 'test(3)' }), /refused: the server is shutting down/);
    await closing;
  });
});

describe('shutdown drains chat runs like every other run', () => {
  it('cancels a chat run still going at shutdownTimeout, and sends the person nothing', async () => {
    const model = new StallingModel();
    const chat = new MemoryInterface();
    const { lines, logger } = recordingLogger();
    const moduleRef = await bootModule({ agent: new Agent({ model }), interfaces: [chat], shutdownTimeout: 100 });
    moduleRef.useLogger(logger);
    await flush();
    await chat.deliver({ text: 'hello?', senderId: 'u1' });
    await model.started.promise;
    await moduleRef.close(); // would hang, with the run never aborted, if chat runs were not tracked
    assert.equal(model.aborted, 1, 'the stalled run was cancelled at the drain deadline');
    assert.deepEqual(chat.sent, [], 'no "Sorry, something went wrong" from a closing app');
    assert.deepEqual(lines.filter((line) => line.level === 'error'), []);
  });
});

describe('trigger intake stops before the drain', () => {
  it('an @OnEvent emitted during the drain is not run and logs nothing at error level', async () => {
    @Injectable()
    class Welcomes {
      calls = 0;
      @OnEvent('user_signup')
      welcome() {
        this.calls++;
        return 'welcome';
      }
    }
    const model = new StallingModel();
    const agent = new Agent({ model });
    const { lines, logger } = recordingLogger();
    const withHandler = await Test.createTestingModule({
      imports: [DefinableModule.forRoot({ agent, shutdownTimeout: 100, server: { enabled: false } }), EventEmitterModule.forRoot()],
      providers: [Welcomes],
    }).compile();
    withHandler.useLogger(logger);
    await withHandler.init();
    const runner = withHandler.get(AgentRunner);
    const inFlight = runner.run('keep the drain busy', { trigger: 'test' }).catch((error: unknown) => error);
    await model.started.promise;
    const begun = whenShutdownBegins(withHandler.get(RunTracker));
    const closing = withHandler.close();
    await begun;
    withHandler.get(EventEmitter2).emit('user_signup', { name: 'late' });
    await closing;
    assert.equal(withHandler.get(Welcomes).calls, 0);
    assert.equal(((await inFlight) as AgentError).code, 'shutting_down', 'the run cut by shutdown says so');
    assert.deepEqual(lines.filter((line) => line.level === 'error'), []);
  });
});

@Controller('hooks')
class CountingHooks {
  static calls = 0;
  @Webhook('/late')
  late() {
    CountingHooks.calls++;
    return 'run me';
  }
}

/** Posts to `path` of an app whose model stalls, shuts the app down mid-run, and returns the answer. */
async function cutByShutdown(platform: (typeof PLATFORMS)[number], path: string, body: unknown) {
  const model = new StallingModel();
  const server = await startApp(platform, {
    imports: [DefinableModule.forRoot({ agent: new Agent({ model }), shutdownTimeout: 100 })],
    controllers: [CountingHooks],
  });
  const response = post(`${server.url}${path}`, body);
  await model.started.promise;
  const closing = server.close();
  const answered = await response;
  await closing;
  return answered;
}

for (const platform of PLATFORMS) {
  describe(`a run cut by shutdown (${platform})`, () => {
    it('/run answers 503 shutting_down, not 499', async () => {
      const answered = await cutByShutdown(platform, '/run', { input: 'will you finish?' });
      assert.equal(answered.status, 503);
      assert.equal(answered.body.error.code, 'shutting_down');
      assert.match(answered.body.error.message, /retry against another instance/);
    });

    it('a webhook answers 503 shutting_down too', async () => {
      const answered = await cutByShutdown(platform, '/hooks/late', {});
      assert.equal(answered.status, 503);
      assert.equal(answered.body.error.code, 'shutting_down');
    });
  });
}

for (const platform of PLATFORMS) {
  describe(`GET /health/ready (${platform})`, () => {
    it('is 200 while serving and flips to 503 the moment shutdown begins, while /health stays up', async () => {
      const model = new StallingModel();
      const server = await startApp(platform, { imports: [DefinableModule.forRoot({ agent: new Agent({ model }), shutdownTimeout: 300 })] });
      const ready = async () => {
        const response = await fetch(`${server.url}/health/ready`);
        return { status: response.status, body: await response.json() };
      };
      assert.deepEqual(await ready(), { status: 200, body: { status: 'ready' } });
      const inFlight = post(`${server.url}/run`, { input: 'keep the drain busy' });
      await model.started.promise;
      const begun = whenShutdownBegins(server.app.get(RunTracker));
      const closing = server.close();
      await begun;
      assert.deepEqual(await ready(), { status: 503, body: { status: 'shutting_down' } });
      assert.equal((await fetch(`${server.url}/health`)).status, 200, 'liveness stays up during the drain');
      await inFlight;
      await closing;
    });
  });
}

for (const platform of PLATFORMS) {
  describe(`new requests during the drain (${platform})`, () => {
    it('/run and webhooks answer 503 shutting_down, and the webhook handler is not called', async () => {
      const model = new StallingModel();
      const server = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent: new Agent({ model }), shutdownTimeout: 300 })],
        controllers: [CountingHooks],
      });
      CountingHooks.calls = 0;
      const inFlight = post(`${server.url}/run`, { input: 'keep the drain busy' });
      await model.started.promise;
      const begun = whenShutdownBegins(server.app.get(RunTracker));
      const closing = server.close();
      await begun;
      const run = await post(`${server.url}/run`, { input: 'too late' });
      assert.equal(run.status, 503);
      assert.equal(run.body.error.code, 'shutting_down');
      const hook = await post(`${server.url}/hooks/late`, {});
      assert.equal(hook.status, 503);
      assert.equal(hook.body.error.code, 'shutting_down');
      assert.equal(CountingHooks.calls, 0, 'the handler did not run');
      await inFlight;
      await closing;
    });
  });
}

describe('health contributors', () => {
  it('the messaging interfaces report under /health through the HealthRegistry, beside the app\'s own fields', async () => {
    const chat = new MemoryInterface();
    const server = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: new Agent({ model: new TestModel({ responses: ['ok'] }) }), interfaces: [chat] })] });
    try {
      server.app.get(HealthRegistry).contribute(() => ({ queue: { depth: 3 } }));
      const body = (await (await fetch(`${server.url}/health`)).json()) as { interfaces: { platform: string }[]; queue: unknown };
      assert.equal(body.interfaces[0].platform, 'memory');
      assert.deepEqual(body.queue, { depth: 3 });
    } finally {
      await server.close();
    }
  });
});

describe('AgentRunner.stream()', () => {
  it('a stream its caller never iterates does not hold the drain past shutdownTimeout', async () => {
    const moduleRef = await bootModule({ agent: new Agent({ model: new TestModel({ responses: ['never read'] }) }), shutdownTimeout: 50 });
    moduleRef.get(AgentRunner).stream('abandoned', { trigger: 'test' });
    await moduleRef.close(); // hangs forever if the untouched stream stayed tracked
    assert.equal(moduleRef.get(RunTracker).inFlight, 0);
  });
});
