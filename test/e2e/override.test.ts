import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Controller, Injectable, Module } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Agent, Cron, DefinableModule, getAgentToken, InjectAgent, OnEvent, Webhook } from '../../lib';
import type { TriggerEvent } from '../../lib';
import { TestModel, waitForRuns } from '../../lib/testing';
import { PLATFORMS, post } from '../support/nest';

/** A model answering `<label>: <last user message>`, recording its calls. */
const labelled = (label: string) => new TestModel({ responses: (call) => `${label}: ${call.messages.at(-1)?.content}` });

const original = new Agent({ name: 'support', model: labelled('original') });
const originalBilling = new Agent({ name: 'billing', model: labelled('billing-original') });

@Controller('hooks')
class Hooks {
  @Webhook('/push', { auth: false })
  onPush(event: TriggerEvent<{ repo: string }>) {
    return `push to ${event.body.repo}`;
  }
}

@Injectable()
class Schedules {
  @Cron('0 9 * * *', { timezone: 'UTC' })
  morning() {
    return 'morning digest';
  }

  @OnEvent('signup')
  onSignup(event: TriggerEvent<{ name: string }>) {
    return `welcome ${event.body.name}`;
  }
}

@Injectable()
class UsesAgents {
  constructor(
    readonly agent: Agent,
    @InjectAgent('support') readonly support: Agent,
    @InjectAgent('billing') readonly billing: Agent,
  ) {}
}

@Module({
  imports: [DefinableModule.forRoot({ agent: original, agents: { billing: originalBilling } }), EventEmitterModule.forRoot()],
  controllers: [Hooks],
  providers: [Schedules, UsesAgents],
})
class AppModule {}

const contents = (model: TestModel) => model.calls.map((call) => call.messages.at(-1)?.content);

describe('overrideProvider(Agent) replaces the agent everywhere', () => {
  for (const platform of PLATFORMS) {
    it(`reaches /run, webhooks, events, named agents and the app's own services (${platform})`, async () => {
      const replacement = new Agent({ name: 'replacement', model: labelled('override') });
      const billing = new Agent({ name: 'billing-test', model: labelled('billing-override') });
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
        .overrideProvider(Agent)
        .useValue(replacement)
        .overrideProvider(getAgentToken('billing'))
        .useValue(billing)
        .compile();
      const app = moduleRef.createNestApplication(platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: false });
      await app.listen(0, '127.0.0.1');
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
      try {
        const run = await post(`${url}/run`, { input: 'hello' });
        assert.equal(run.status, 200);
        assert.equal(run.body.content, 'override: hello');
        assert.equal((await post(`${url}/run`, { input: 'invoice', agent: 'billing' })).body.content, 'billing-override: invoice');
        assert.equal((await post(`${url}/hooks/push`, { repo: 'acme/api' })).body.content, 'override: push to acme/api');

        app.get(EventEmitter2).emit('signup', { name: 'Ada' });
        await waitForRuns(app);
        assert.deepEqual(contents(replacement.model as TestModel), ['hello', 'push to acme/api', 'welcome Ada']);
        assert.deepEqual(contents(original.model as TestModel), [], 'the configured agent never ran');
        assert.deepEqual(contents(originalBilling.model as TestModel), []);

        const services = app.get(UsesAgents);
        assert.equal(services.agent, replacement);
        assert.equal(services.support, replacement, "@InjectAgent of the default agent's name follows Agent");
        assert.equal(services.billing, billing);
      } finally {
        await app.close();
      }
    });
  }
});

describe('overrideProvider(Agent) with a cron fired by fake timers', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.UTC(2026, 0, 5, 8, 59, 59) }));
  afterEach(() => mock.timers.reset());

  it('runs the override at the tick, and waitForRuns waits for the handler and the run', async () => {
    const replacement = new Agent({ model: labelled('cron-override') });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).overrideProvider(Agent).useValue(replacement).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      mock.timers.tick(1000);
      await waitForRuns(moduleRef);
      assert.deepEqual(contents(replacement.model as TestModel), ['morning digest']);
      assert.deepEqual(contents(original.model as TestModel), []);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('overrides that are not agents', () => {
  it('fail bootstrap saying what to pass', async () => {
    const compiling = Test.createTestingModule({ imports: [AppModule] }).overrideProvider(Agent).useValue({ run: () => 'x' }).compile();
    await assert.rejects(compiling, /provider of agent "support" resolved to object without run\(\)\/stream\(\)\. Override it with an Agent/);
  });
});

describe('waitForRuns', () => {
  it('says what to pass when the app has no DefinableModule', async () => {
    const moduleRef = await Test.createTestingModule({}).compile();
    await assert.rejects(waitForRuns(moduleRef), /this app has no DefinableModule/);
  });
});
