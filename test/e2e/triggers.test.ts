import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Controller, Inject, Injectable, Module } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import {
  AfterResponse,
  Agent,
  ApiKeyAuth,
  AuthContext,
  BeforeRequest,
  DefinableModule,
  InjectAgent,
  OnEvent,
  RunContext,
  RunOutput,
  TriggerEvent,
  TriggerRegistry,
  Webhook,
} from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp, TestApp } from '../support/nest';

const KEY = 'module-key-000001';
const OTHER_KEY = 'webhook-key-00001';

/** Echoes the last user message, so each test can tell its run apart. */
const echo = () => new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` });

@Controller('hooks')
class Hooks {
  @Webhook('/string', { auth: false })
  onString(event: TriggerEvent<{ repository: { name: string } }>) {
    return `Summarize this push to ${event.body.repository.name}`;
  }

  @Webhook('/object')
  onObject(event: TriggerEvent<{ session?: string }>, @AuthContext() auth?: AuthContext) {
    return { input: `object from ${auth?.provider}`, sessionId: event.body.session, userId: 'hook-user' };
  }

  @Webhook('/nothing', { auth: false })
  onNothing() {
    return null;
  }

  @Webhook('/throws', { auth: false })
  onThrow(): string {
    throw new Error('handler exploded');
  }

  @Webhook('/bad-result', { auth: false })
  onBadResult() {
    return 42 as unknown as string;
  }

  @Webhook('/own-auth', { auth: new ApiKeyAuth({ keys: [OTHER_KEY] }) })
  onOwnAuth() {
    return 'own auth';
  }

  @Webhook('/source', { auth: false, method: 'PUT', agent: 'support' })
  onSource(event: TriggerEvent) {
    return `source ${event.source} ${event.headers['x-custom']}`;
  }
}

@Injectable()
class Reactions {
  readonly order: string[] = [];
  readonly outputs: RunOutput[] = [];
  private waiters: { match: (out: RunOutput) => boolean; resolve: (out: RunOutput) => void }[] = [];

  constructor(@InjectAgent('support') readonly support: Agent, readonly main: Agent) {}

  /** Resolves with the first finished run whose content matches. */
  waitFor(content: RegExp): Promise<RunOutput> {
    const found = this.outputs.find((out) => content.test(String(out.content)));
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match: (out) => content.test(String(out.content)), resolve }));
  }

  @OnEvent('user_signup')
  welcome(event: TriggerEvent<{ name: string; id: string }>) {
    return { input: `Welcome ${event.body.name}`, userId: event.body.id };
  }

  @BeforeRequest()
  explode(): void {
    throw new Error('hook failure must not stop the run');
  }

  @BeforeRequest()
  async logStart(ctx: RunContext) {
    this.order.push(`before:${ctx.input}`);
  }

  @AfterResponse()
  logEnd(output: RunOutput) {
    this.order.push(`after:${output.content}`);
    this.outputs.push(output);
    this.waiters = this.waiters.filter((waiter) => (waiter.match(output) ? (waiter.resolve(output), false) : true));
  }
}

for (const platform of PLATFORMS) {
  describe(`triggers on ${platform}`, () => {
    let server: TestApp;
    let reactions: Reactions;
    before(async () => {
      server = await startApp(platform, {
        imports: [
          EventEmitterModule.forRoot(),
          DefinableModule.forRoot({
            agent: new Agent({ name: 'main', model: echo() }),
            agents: { support: new Agent({ name: 'support', model: echo() }) },
            auth: new ApiKeyAuth({ keys: [KEY] }),
          }),
        ],
        controllers: [Hooks],
        providers: [Reactions],
      });
      reactions = server.app.get(Reactions);
    });
    after(() => server.close());

    it('a webhook returning a string runs the agent and answers with the run', async () => {
      const res = await post(`${server.url}/hooks/string`, { repository: { name: 'definable' } });
      assert.equal(res.status, 200);
      assert.equal(res.body.content, 'echo: Summarize this push to definable');
      assert.equal(typeof res.body.run_id, 'string');
      assert.equal(typeof res.body.session_id, 'string');
    });

    it('a webhook returning an object runs with its options, behind the module auth', async () => {
      assert.equal((await post(`${server.url}/hooks/object`, { session: 'wh-1' })).status, 401);
      const res = await post(`${server.url}/hooks/object`, { session: 'wh-1' }, { 'x-api-key': KEY });
      assert.equal(res.status, 200);
      assert.equal(res.body.content, 'echo: object from api-key');
      assert.equal(res.body.session_id, 'wh-1');
      const out = await reactions.waitFor(/object from api-key/);
      assert.equal(out.userId, 'hook-user');
      assert.equal(out.metadata.trigger, 'POST /hooks/object');
    });

    it('a webhook returning null runs nothing and answers status ok', async () => {
      const res = await post(`${server.url}/hooks/nothing`, {});
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'ok' });
    });

    it('a webhook handler that throws answers 500 handler_failed with a fixed message and a request id, its own message only in the log', async () => {
      const res = await post(`${server.url}/hooks/throws`, {});
      assert.equal(res.status, 500);
      assert.equal(res.body.error.code, 'handler_failed');
      assert.equal(res.body.error.message, 'The webhook handler failed; the server log has the details.');
      assert.match(res.body.error.request_id, /^req_[0-9a-f]{20}$/);
      assert.doesNotMatch(JSON.stringify(res.body), /exploded/);
    });

    it('a webhook returning something else answers 500 saying what to return', async () => {
      const res = await post(`${server.url}/hooks/bad-result`, {});
      assert.equal(res.status, 500);
      assert.equal(res.body.error.code, 'handler_failed');
      assert.match(res.body.error.message, /return a string, \{ input, \.\.\.runOptions \} or null/);
    });

    it('malformed JSON to a webhook answers 400', async () => {
      const res = await post(`${server.url}/hooks/string`, '{"repository": ');
      assert.equal(res.status, 400);
    });

    it("a webhook's own auth provider replaces the module's", async () => {
      assert.equal((await post(`${server.url}/hooks/own-auth`, {}, { 'x-api-key': KEY })).status, 401);
      assert.equal((await post(`${server.url}/hooks/own-auth`, {}, { 'x-api-key': OTHER_KEY })).status, 200);
    });

    it('a webhook can take another method and agent, and sees the source and headers', async () => {
      const res = await fetch(`${server.url}/hooks/source?x=1`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
        body: '{}',
      });
      const body = (await res.json()) as any;
      assert.equal(res.status, 200);
      assert.equal(body.content, 'echo: source PUT /hooks/source yes');
      const out = await reactions.waitFor(/source PUT/);
      assert.equal(out.agentName, 'support');
    });

    it('agent.emit reaches @OnEvent handlers, returning at once', async () => {
      reactions.main.emit('user_signup', { name: 'Alice', id: 'u1' });
      const out = await reactions.waitFor(/Welcome Alice/);
      assert.equal(out.userId, 'u1');
      assert.equal(out.metadata.trigger, 'event(user_signup)');
    });

    it('EventEmitter2.emit reaches the same handlers', async () => {
      server.app.get(EventEmitter2).emit('user_signup', { name: 'Bob', id: 'u2' });
      const out = await reactions.waitFor(/Welcome Bob/);
      assert.equal(out.userId, 'u2');
    });

    it('runs hooks around every run, in order, a throwing hook being only logged', async () => {
      await post(`${server.url}/run`, { input: 'hook order' }, { 'x-api-key': KEY });
      const start = reactions.order.indexOf('before:hook order');
      assert.ok(start >= 0, reactions.order.join(', '));
      assert.equal(reactions.order[start + 1], 'after:echo: hook order');
    });

    it('injects named agents and lists the triggers', () => {
      assert.equal(reactions.support.name, 'support');
      assert.equal(reactions.main.name, 'main');
      const registry = server.app.get(TriggerRegistry);
      assert.deepEqual(
        registry.list().map((trigger) => `${trigger.kind} ${trigger.source} ${trigger.className}.${trigger.methodName}`).sort(),
        [
          'event event(user_signup) Reactions.welcome',
          'webhook POST /hooks/bad-result Hooks.onBadResult',
          'webhook POST /hooks/nothing Hooks.onNothing',
          'webhook POST /hooks/object Hooks.onObject',
          'webhook POST /hooks/own-auth Hooks.onOwnAuth',
          'webhook POST /hooks/string Hooks.onString',
          'webhook POST /hooks/throws Hooks.onThrow',
          'webhook PUT /hooks/source Hooks.onSource',
        ],
      );
    });

    it('/run picks a named agent', async () => {
      const res = await post(`${server.url}/run`, { input: 'who', agent: 'support' }, { 'x-api-key': KEY });
      assert.equal(res.body.agent, 'support');
    });
  });
}

const CONFIG = Symbol('CONFIG');
@Module({ providers: [{ provide: CONFIG, useValue: { reply: 'from async config' } }], exports: [CONFIG] })
class ConfigModule {}

@Injectable()
class UsesAgent {
  constructor(@Inject(Agent) readonly agent: Agent) {}
}

describe('DefinableModule.forRootAsync', () => {
  it('builds the agent from a factory with injected config, and mounts the routes under a prefix', async () => {
    const server = await startApp('fastify', {
      imports: [
        DefinableModule.forRootAsync({
          imports: [ConfigModule],
          inject: [CONFIG],
          useFactory: (config: { reply: string }) => ({ agent: { name: 'async', model: new TestModel({ responses: () => config.reply }) } }),
          server: { prefix: 'agent' },
        }),
      ],
      providers: [UsesAgent],
    });
    try {
      const res = await post(`${server.url}/agent/run`, { input: 'x' });
      assert.equal(res.status, 200);
      assert.equal(res.body.content, 'from async config');
      assert.equal(server.app.get(UsesAgent).agent.name, 'async');
      assert.equal((await fetch(`${server.url}/run`, { method: 'POST' })).status, 404);
    } finally {
      await server.close();
    }
  });

  it('fails bootstrap clearly without an agent', async () => {
    await assert.rejects(
      startApp('express', { imports: [DefinableModule.forRoot({})] }),
      /DefinableModule needs an agent/,
    );
  });

  it('can leave the built-in routes out', async () => {
    const server = await startApp('express', {
      imports: [DefinableModule.forRoot({ agent: new Agent({ model: echo() }), server: { enabled: false } })],
    });
    try {
      assert.equal((await fetch(`${server.url}/health`)).status, 404);
    } finally {
      await server.close();
    }
  });
});

@Injectable()
class WantsMissing {
  constructor(@InjectAgent('billing') readonly billing: Agent) {}
}

describe('@InjectAgent of an agent the module does not have', () => {
  it('fails bootstrap naming the class and the fix', async () => {
    await assert.rejects(
      startApp('fastify', { imports: [DefinableModule.forRoot({ agent: new Agent({ model: echo() }) })], providers: [WantsMissing] }),
      /WantsMissing injects @InjectAgent\('billing'\).*agents: \{ billing/,
    );
  });
});

@Controller('feature')
class FeatureHooks {
  @Webhook('/ping')
  ping() {
    return 'pong';
  }
}

@Module({ controllers: [FeatureHooks] })
class FeatureModule {}

describe('a webhook in a module that does not import DefinableModule', () => {
  it("is still protected by the module's auth", async () => {
    const server = await startApp('express', {
      imports: [DefinableModule.forRoot({ agent: new Agent({ model: echo() }), auth: new ApiKeyAuth({ keys: [KEY] }) }), FeatureModule],
    });
    try {
      assert.equal((await post(`${server.url}/feature/ping`, {})).status, 401);
      const ok = await post(`${server.url}/feature/ping`, {}, { 'x-api-key': KEY });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.content, 'echo: pong');
    } finally {
      await server.close();
    }
  });
});
