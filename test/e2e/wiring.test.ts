import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Injectable, Module } from '@nestjs/common';
import { OnEvent as EmitterOnEvent } from '@nestjs/event-emitter';
import { Cron as ScheduleCron } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { Agent, AgentCron, AgentEvent, Cron, DefinableModule, OnEvent, Webhook } from '../../lib';
import { TestModel } from '../../lib/testing';

const agent = () => new Agent({ model: new TestModel({ responses: ['ok'] }) });

/** Compiles and initialises a module; resolves to the error bootstrap failed with. */
async function bootError(imports: any[]): Promise<Error> {
  try {
    const moduleRef = await Test.createTestingModule({ imports }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    await moduleRef.close();
  } catch (error) {
    return error as Error;
  }
  throw new Error('bootstrap succeeded');
}

describe('wiring mistakes fail bootstrap with what to do', () => {
  it('a bare imports: [DefinableModule] says to use forRoot / forRootAsync', async () => {
    const error = await bootError([DefinableModule]);
    assert.match(error.message, /DefinableModule was imported without options: use DefinableModule\.forRoot\(\{ agent \}\) or DefinableModule\.forRootAsync/);
  });

  it('isGlobal returned by a forRootAsync factory says to pass it beside the factory', async () => {
    const error = await bootError([DefinableModule.forRootAsync({ useFactory: () => ({ agent: agent(), isGlobal: true }) as never })]);
    assert.match(error.message, /the factory returned "isGlobal".*Pass it beside the factory: DefinableModule\.forRootAsync\(\{ isGlobal: \.\.\., useFactory, inject \}\)/);
  });

  it('server returned by a forRootAsync factory says the same', async () => {
    const error = await bootError([DefinableModule.forRootAsync({ useFactory: () => ({ agent: agent(), server: { prefix: 'x' } }) as never })]);
    assert.match(error.message, /the factory returned "server"/);
  });

  it('isGlobal and server beside the factory work (the global module serves another module)', async () => {
    @Module({})
    class Elsewhere {}
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRootAsync({ isGlobal: true, server: { enabled: false }, useFactory: () => ({ agent: agent() }) }), Elsewhere],
    }).compile();
    assert.ok(moduleRef.select(Elsewhere).get(Agent, { strict: false }) instanceof Agent);
    await moduleRef.close();
  });

  it('forRoot with isGlobal and server is fine', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [DefinableModule.forRoot({ agent: agent(), isGlobal: true, server: { prefix: 'agent' } })] }).compile();
    await moduleRef.init();
    assert.ok(moduleRef.get(Agent) instanceof Agent);
    await moduleRef.close();
  });
});

describe('decorators in the wrong place', () => {
  it('@Webhook on a provider that is not a controller fails bootstrap naming the class', async () => {
    @Injectable()
    class NotAController {
      @Webhook('/lost')
      onLost() {
        return 'never routed';
      }
    }
    const error = await bootError([DefinableModule.forRoot({ agent: agent() }), moduleWith({ providers: [NotAController] })]);
    assert.match(error.message, /@Webhook\('\/lost'\) on NotAController\.onLost: NotAController is a provider, not a controller.*add @Controller\(\) to NotAController/);
  });

  it("@nestjs/schedule's @Cron or @nestjs/event-emitter's @OnEvent returning agent input is logged as 'did you mean'", async () => {
    @Injectable()
    class Mixed {
      @ScheduleCron('0 9 * * *')
      digest(): string {
        return 'Summarise the day';
      }

      @EmitterOnEvent('user_signup')
      welcome() {
        return { input: 'Welcome!' };
      }

      @ScheduleCron('0 * * * *')
      housekeeping(): void {}

      @AgentCron('0 8 * * *')
      ours() {
        return 'fine';
      }

      @AgentEvent('ours')
      alsoOurs() {
        return 'fine';
      }
    }
    const logged: string[] = [];
    const logger = { log() {}, error() {}, debug() {}, verbose() {}, warn: (message: unknown) => void logged.push(String(message)) };
    const moduleRef = await Test.createTestingModule({ imports: [DefinableModule.forRoot({ agent: agent(), server: { enabled: false } })], providers: [Mixed] }).compile();
    moduleRef.useLogger(logger);
    await moduleRef.init();
    await moduleRef.close();
    const hints = logged.filter((message) => message.includes('Did you mean'));
    assert.equal(hints.length, 2, hints.join('\n'));
    assert.match(hints.find((hint) => hint.startsWith('Mixed.digest'))!, /@nestjs\/schedule's @Cron .*Did you mean nestjs-definable's @Cron\? Import Cron \(or AgentCron\) from 'nestjs-definable'/);
    assert.match(hints.find((hint) => hint.startsWith('Mixed.welcome'))!, /@nestjs\/event-emitter's @OnEvent .*Import OnEvent \(or AgentEvent\)/);
  });

  it('@AgentCron and @AgentEvent are the same decorators as @Cron and @OnEvent', () => {
    assert.equal(AgentCron, Cron);
    assert.equal(AgentEvent, OnEvent);
  });
});

/** A module with these providers, importing nothing (they resolve DefinableModule's exports through the root). */
function moduleWith(metadata: { providers?: any[]; controllers?: any[] }) {
  @Module(metadata)
  class Feature {}
  return Feature;
}
