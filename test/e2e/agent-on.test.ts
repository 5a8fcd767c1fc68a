import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Agent, ApiKeyAuth, DefinableModule, RunOutput, TriggerRegistry } from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, post, startApp } from '../support/nest';

function echoAgent(name: string): { agent: Agent; next: (pattern: RegExp) => Promise<RunOutput> } {
  const agent = new Agent({ name, model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });
  const outputs: RunOutput[] = [];
  const waiters: [RegExp, (out: RunOutput) => void][] = [];
  agent.afterResponse((out) => {
    outputs.push(out);
    for (const [pattern, resolve] of waiters) if (pattern.test(String(out.content))) resolve(out);
  });
  const next = (pattern: RegExp) =>
    new Promise<RunOutput>((resolve) => {
      const found = outputs.find((out) => pattern.test(String(out.content)));
      if (found) resolve(found);
      else waiters.push([pattern, resolve]);
    });
  return { agent, next };
}

for (const platform of PLATFORMS) {
  describe(`agent.on() on ${platform}`, () => {
    it('mounts webhooks, cron jobs and event handlers declared without decorators', async () => {
      const { agent, next } = echoAgent('declared');
      agent.on<{ repo: string }>({ webhook: '/github', auth: false }, (event) => `push to ${event.body.repo}`);
      agent.on({ webhook: '/private' }, () => 'private hook');
      agent.on({ cron: '0 9 * * *', timezone: 'UTC' }, () => 'morning');
      agent.on<{ name: string; id: string }>({ event: 'user_signup' }, (event) => ({ input: `welcome ${event.body.name}`, userId: event.body.id }));
      const server = await startApp(platform, {
        imports: [DefinableModule.forRoot({ agent, auth: new ApiKeyAuth({ keys: ['declared-key-01'] }) })],
      });
      try {
        const hook = await post(`${server.url}/github`, { repo: 'definable' });
        assert.equal(hook.status, 200);
        assert.equal(hook.body.content, 'echo: push to definable');
        assert.equal((await post(`${server.url}/private`, {})).status, 401);
        assert.equal((await post(`${server.url}/private`, {}, { 'x-api-key': 'declared-key-01' })).body.content, 'echo: private hook');
        assert.ok(server.app.get(TriggerRegistry).cronJob('definable:declared.on#2')?.isRunning);
        agent.emit('user_signup', { name: 'Ada', id: 'u-ada' });
        assert.equal((await next(/welcome Ada/)).userId, 'u-ada');
        assert.deepEqual(
          server.app.get(TriggerRegistry).list().map((trigger) => `${trigger.kind} ${trigger.source}`).sort(),
          ['cron cron(0 9 * * *)', 'event event(user_signup)', 'webhook POST /github', 'webhook POST /private'],
        );
      } finally {
        await server.close();
      }
    });
  });
}

describe('agent.on() validation', () => {
  it('refuses a trigger that is not exactly one of webhook, cron, event', () => {
    const { agent } = echoAgent('v');
    assert.throws(() => agent.on({} as never, () => null), /exactly one of/);
    assert.throws(() => agent.on({ webhook: '/a', cron: '* * * * *' } as never, () => null), /exactly one of/);
    assert.throws(() => agent.on({ event: 'x' }, undefined as never), /handler function/);
  });

  it('fails bootstrap when a webhook was declared on an agent built too late to mount it', async () => {
    const { agent } = echoAgent('late');
    agent.on({ webhook: '/late' }, () => 'x');
    await assert.rejects(
      startApp('express', { imports: [DefinableModule.forRootAsync({ useFactory: () => ({ agent }) })] }),
      /agent\.on\(\{ webhook: '\/late' \}\) on agent "late" was not mounted/,
    );
  });
});
