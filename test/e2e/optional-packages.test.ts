import assert from 'node:assert/strict';
import Module from 'node:module';
import { describe, it } from 'node:test';
import { Agent, DiscordInterface, InterfaceSupervisor, TelegramInterface } from '../../lib';
import { TestModel } from '../../lib/testing';
import { bootModule, flush } from '../support/nest';

type Resolver = (request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: Resolver };

/** Makes `require()` of these packages fail as it does where they are not installed. */
function withoutPackages<T>(names: string[], work: () => Promise<T>): Promise<T> {
  const original = loader._resolveFilename;
  loader._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (names.includes(request)) {
      throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
    }
    return original.call(this, request, ...rest);
  };
  return work().finally(() => {
    loader._resolveFilename = original;
  });
}

describe('optional platform packages that are not installed', () => {
  it('park their interface as failed at once, saying what to install; the app runs on', async () => {
    await withoutPackages(['telegraf', 'discord.js'], async () => {
      const agent = new Agent({ model: new TestModel({ responses: ['still answering'] }) });
      const telegram = new TelegramInterface({ botToken: '123:abc' });
      const discord = new DiscordInterface({ botToken: 'discord-token' });
      const moduleRef = await bootModule({ agent, interfaces: [telegram, discord] });
      try {
        await flush();
        const status = moduleRef.get(InterfaceSupervisor).status();
        const byName = Object.fromEntries(status.map((entry) => [entry.platform, entry]));
        assert.equal(byName.telegram.state, 'failed');
        assert.equal(byName.telegram.restarts, 0);
        assert.match(byName.telegram.lastError!, /TelegramInterface needs the "telegraf" package, which is not installed: run `npm install telegraf@4`/);
        assert.equal(byName.discord.state, 'failed');
        assert.equal(byName.discord.restarts, 0);
        assert.match(byName.discord.lastError!, /DiscordInterface needs the "discord\.js" package, which is not installed: run `npm install discord\.js@14`/);
        assert.equal((await moduleRef.get(Agent).run('hi')).content, 'still answering');
      } finally {
        await moduleRef.close();
      }
    });
  });
});
