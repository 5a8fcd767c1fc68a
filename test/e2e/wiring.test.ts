import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Agent, DefinableModule } from '../../lib';
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
