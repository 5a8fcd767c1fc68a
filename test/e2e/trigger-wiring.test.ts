import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Controller, Injectable, Module } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule, OnEvent as NestOnEvent } from '@nestjs/event-emitter';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { Telegraf } from 'telegraf';
import {
  Agent,
  AgentAuth,
  ApiKeyAuth,
  DefinableModule,
  getInterfaceClientToken,
  InterfaceSupervisor,
  OnEvent,
  Public,
  TelegramInterface,
  TriggerRegistry,
  Webhook,
  type TriggerEvent,
} from '../../lib';
import { startFakeTelegram, TestModel } from '../../lib/testing';
import { waitForRuns } from '../../lib/testing';
import { PLATFORMS, post, startApp } from '../support/nest';

const echo = () => new Agent({ model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });

/** Every distinct provider instance of a class across the app's modules. */
function instancesOf(container: ModulesContainer, type: Function): Set<unknown> {
  const found = new Set<unknown>();
  for (const module of container.values()) {
    for (const wrapper of module.providers.values()) if (wrapper.instance instanceof type) found.add(wrapper.instance);
  }
  return found;
}

@Injectable()
class OrderWatcher {
  readonly seen: string[] = [];
  @OnEvent('order.*')
  onOrder(event: TriggerEvent<{ id: string }>) {
    this.seen.push(`${event.source}:${event.body.id}`);
    return `Check order ${event.body.id}`;
  }
}

describe("the app's own EventEmitterModule and ScheduleModule", () => {
  for (const order of ['DefinableModule first', 'DefinableModule last'] as const) {
    it(`are the only EventEmitter2 and SchedulerRegistry, and wildcard events reach @OnEvent (${order})`, async () => {
      const definable = DefinableModule.forRoot({ agent: echo(), server: { enabled: false } });
      const theirs = [EventEmitterModule.forRoot({ wildcard: true }), ScheduleModule.forRoot()];
      const moduleRef = await Test.createTestingModule({
        imports: order === 'DefinableModule first' ? [definable, ...theirs] : [...theirs, definable],
        providers: [OrderWatcher],
      }).compile();
      moduleRef.useLogger(false);
      await moduleRef.init();
      try {
        const container = moduleRef.get(ModulesContainer);
        assert.equal(instancesOf(container, EventEmitter2).size, 1, 'one EventEmitter2');
        assert.equal(instancesOf(container, SchedulerRegistry).size, 1, 'one SchedulerRegistry');
        moduleRef.get(EventEmitter2).emit('order.created', { id: 'o1' });
        await waitForRuns(moduleRef);
        assert.deepEqual(moduleRef.get(OrderWatcher).seen, ['event(order.*):o1'], 'the wildcard listener is on the app emitter');
      } finally {
        await moduleRef.close();
      }
    });
  }

  it('without them, agent.emit() still reaches @OnEvent (on a private emitter) and nothing is imported for the app', async () => {
    const agent = echo();
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRoot({ agent, server: { enabled: false } })],
      providers: [OrderWatcher],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      const container = moduleRef.get(ModulesContainer);
      assert.equal(instancesOf(container, SchedulerRegistry).size, 0);
      assert.throws(() => moduleRef.get(EventEmitter2), /EventEmitter/, 'the app gets no EventEmitter2 it did not ask for');
      agent.emit('order.*', { id: 'o2' });
      await waitForRuns(moduleRef);
      assert.deepEqual(moduleRef.get(OrderWatcher).seen, ['event(order.*):o2']);
    } finally {
      await moduleRef.close();
    }
  });

  it("warns, naming the method and the fix, when the app uses @nestjs/event-emitter's decorators without its module", async () => {
    @Injectable()
    class Theirs {
      @NestOnEvent('x')
      onX() {}
    }
    const warnings: string[] = [];
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRoot({ agent: echo(), server: { enabled: false } })],
      providers: [Theirs],
    }).compile();
    moduleRef.useLogger({ log() {}, error() {}, warn: (message: unknown) => void warnings.push(String(message)) });
    await moduleRef.init();
    await moduleRef.close();
    assert.ok(
      warnings.some((line) => line.includes('Theirs.onX') && line.includes('EventEmitterModule.forRoot()') && line.includes('never fire')),
      warnings.join('\n'),
    );
  });
});

@Injectable()
class Stacked {
  @OnEvent('user.created')
  @OnEvent('user.deleted')
  onUser(event: TriggerEvent<{ id: string }>) {
    return `${event.source} ${event.body.id}`;
  }
}

describe('@OnEvent stacked on one method', () => {
  it('listens to every event, each run with its own source', async () => {
    const inputs: string[] = [];
    const agent = new Agent({ model: new TestModel({ responses: (call) => String(inputs.push(String(call.messages.at(-1)?.content))) }) });
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRoot({ agent, server: { enabled: false } })],
      providers: [Stacked],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      assert.deepEqual(
        moduleRef.get(TriggerRegistry).list('event').map((trigger) => trigger.source),
        ['event(user.created)', 'event(user.deleted)'],
        'in source order',
      );
      agent.emit('user.created', { id: 'a' });
      agent.emit('user.deleted', { id: 'b' });
      await waitForRuns(moduleRef);
      assert.deepEqual(inputs.sort(), ['event(user.created) a', 'event(user.deleted) b']);
    } finally {
      await moduleRef.close();
    }
  });
});

const MODULE_KEY = 'module-key-0001';
const CLASS_KEY = 'class-key-00001';
const ROUTE_KEY = 'route-key-00001';

@AgentAuth(new ApiKeyAuth({ keys: [CLASS_KEY] }))
@Controller('partners')
class PartnerHooks {
  @Webhook('/class')
  byClass() {
    return 'class';
  }

  @Webhook('/route', { auth: new ApiKeyAuth({ keys: [ROUTE_KEY] }) })
  byRoute() {
    return 'route';
  }

  @AgentAuth(new ApiKeyAuth({ keys: [ROUTE_KEY] }))
  @Webhook('/method')
  byMethod() {
    return 'method';
  }

  @Public()
  @Webhook('/open')
  open() {
    return 'open';
  }
}

@Public()
@Controller('open')
class OpenHooks {
  @Webhook('/free')
  free() {
    return 'free';
  }

  @AgentAuth(new ApiKeyAuth({ keys: [ROUTE_KEY] }))
  @Webhook('/guarded')
  guarded() {
    return 'guarded';
  }
}

describe('auth overrides: route over class over module', () => {
  for (const platform of PLATFORMS) {
    it(`applies the most specific auth (${platform})`, async () => {
      const server = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent: echo(), auth: new ApiKeyAuth({ keys: [MODULE_KEY] }) })],
        controllers: [PartnerHooks, OpenHooks],
      });
      const status = async (path: string, key?: string) => (await post(`${server.url}${path}`, { input: 'hi' }, key ? { 'x-api-key': key } : {})).status;
      try {
        assert.equal(await status('/run', MODULE_KEY), 200, "the module's key still opens /run");
        assert.equal(await status('/partners/class', MODULE_KEY), 401, "the class's provider replaces the module's");
        assert.equal(await status('/partners/class', CLASS_KEY), 200);
        assert.equal(await status('/partners/route', CLASS_KEY), 401, "the route's provider replaces the class's");
        assert.equal(await status('/partners/route', ROUTE_KEY), 200);
        assert.equal(await status('/partners/method', CLASS_KEY), 401, '@AgentAuth on the method replaces the class');
        assert.equal(await status('/partners/method', ROUTE_KEY), 200);
        assert.equal(await status('/partners/open'), 200, '@Public() on a route of a guarded class opens it');
        assert.equal(await status('/open/free'), 200, '@Public() on the class opens its routes');
        assert.equal(await status('/open/guarded'), 401, 'a route of a public class can be guarded again');
        assert.equal(await status('/open/guarded', ROUTE_KEY), 200);
      } finally {
        await server.close();
      }
    });
  }

  it('@AgentAuth refuses what is not a provider', () => {
    assert.throws(() => AgentAuth('secret' as never), /@AgentAuth\(\) takes an auth provider/);
  });
});

describe('isGlobal', () => {
  @Controller('hooks')
  class RootHooks {
    @Webhook('/ping')
    ping() {
      return 'ping';
    }
  }

  @Module({ controllers: [RootHooks], imports: [DefinableModule.forRoot({ agent: echo(), isGlobal: false })] })
  class LocalAppModule {}

  it('false keeps the module to the modules that import it: their webhooks and /run work', async () => {
    const server = await startApp('express', { imports: [LocalAppModule] });
    try {
      assert.equal((await post(`${server.url}/hooks/ping`, {})).body.content, 'echo: ping');
      assert.equal((await post(`${server.url}/run`, { input: 'hi' })).body.content, 'echo: hi');
    } finally {
      await server.close();
    }
  });
});

describe('getInterfaceClientToken', { timeout: 60_000 }, () => {
  it("resolves to the interface's bot, not yet launched, and overrideProvider() replaces it", async () => {
    const fake = await startFakeTelegram();
    // The configured bot points nowhere: only the override can reach the fake server.
    const telegram = new TelegramInterface({ botToken: '1:configured', apiRoot: 'http://127.0.0.1:9' });
    @Module({ imports: [DefinableModule.forRoot({ agent: echo(), interfaces: [telegram], server: { enabled: false } })] })
    class AppModule {}

    const plain = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const configured = plain.get<Telegraf>(getInterfaceClientToken('telegram'));
    assert.ok(configured instanceof Telegraf, 'a Telegraf bot');
    assert.equal(configured.telegram.token, '1:configured');
    assert.equal(fake.calls.length, 0, 'building the module opens no connection');

    const replacement = new Telegraf('1:override', { telegram: { apiRoot: fake.apiRoot } });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(getInterfaceClientToken('telegram'))
      .useValue(replacement)
      .compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      await fake.waitForCall((call) => call.method === 'getUpdates');
      assert.equal(moduleRef.get(InterfaceSupervisor).status()[0].state, 'running');
      fake.sendUserMessage({ chatId: 5, userId: 5, text: 'through the override' });
      const reply = await fake.waitForCall((call) => call.method === 'sendMessage');
      assert.equal(reply.params.text, 'echo: through the override');
      assert.ok(fake.calls.every((call) => call.token === '1:override'), 'every call came from the replacement bot');
    } finally {
      await moduleRef.close();
      await fake.close();
    }
  });
});
