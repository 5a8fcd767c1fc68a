import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TestingModule } from '@nestjs/testing';
import {
  AgentOptions,
  AllowlistAuth,
  DefinableModule,
  DefinableModuleOptions,
  InMemorySessionStore,
  Model,
  ModelChunk,
  ModelError,
  ModelRequest,
  SqliteDedupStore,
  SqliteIdentityResolver,
  SqliteSessionStore,
} from '../../lib';
import { TestModel } from '../../lib/testing';
import { deferred, tempDir } from '../support/fixtures';
import { EditableMemoryInterface, MemoryInterface } from '../support/memory-interface';
import { bootModule, flush, startApp } from '../support/nest';

const dir = tempDir();
after(() => dir.cleanup());

/** Boots the module and lets the interfaces start. */
async function bootStarted(options: DefinableModuleOptions): Promise<TestingModule> {
  const moduleRef = await bootModule(options);
  await flush();
  return moduleRef;
}

const echo = (): AgentOptions => ({ model: new TestModel({ responses: (call) => `echo: ${call.messages.at(-1)?.content}` }) });

/** Answers "slow" only when released; everything else at once. */
class GateModel implements Model {
  readonly id = 'gate';
  readonly provider = 'test';
  readonly capabilities = { images: true, audio: true, video: true };
  readonly gates = new Map<string, { promise: Promise<void> }>();
  readonly started: string[] = [];
  cost() {
    return null;
  }
  async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    const text = String(request.messages.at(-1)?.content);
    this.started.push(text);
    const gate = this.gates.get(text);
    if (gate) await gate.promise;
    yield { type: 'content', delta: `re: ${text}` };
  }
}

describe('the message pipeline', () => {
  it('answers a message, typing first, replying to it', async () => {
    const platform = new MemoryInterface();
    const moduleRef = await bootStarted({ agent: echo(), interfaces: [platform] });
    await platform.deliver({ text: 'hello', senderId: 'u1', messageId: 'm1' });
    await platform.waitForSent(1);
    assert.deepEqual(platform.sent, [{ chatId: 'u1', text: 'echo: hello', replyTo: 'm1' }]);
    assert.deepEqual(platform.typing, ['u1']);
    await moduleRef.close();
  });

  it('splits long replies at the platform limit', async () => {
    const platform = new MemoryInterface({ maxMessageLength: 100 });
    const long = Array.from({ length: 40 }, (_, i) => `Sentence number ${i}.`).join(' ');
    const moduleRef = await bootStarted({ agent: { model: new TestModel({ responses: () => long }) }, interfaces: [platform] });
    await platform.deliver({ text: 'long please', senderId: 'u1' });
    await platform.waitForSent(2);
    await flush();
    assert.ok(platform.sent.length >= 2);
    assert.ok(platform.sent.every((message) => message.text.length <= 100));
    assert.equal(platform.sent.map((message) => message.text).join(' '), long);
    await moduleRef.close();
  });

  it('ignores a duplicate delivery of the same message', async () => {
    const platform = new MemoryInterface();
    const model = new GateModel();
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'once', senderId: 'u1', messageId: 'dup' });
    await platform.deliver({ text: 'once', senderId: 'u1', messageId: 'dup' }); // while in flight
    await platform.waitForSent(1);
    await platform.deliver({ text: 'once', senderId: 'u1', messageId: 'dup' }); // after it was answered
    await moduleRef.close();
    assert.equal(model.started.length, 1);
    assert.equal(platform.sent.length, 1);
  });

  it('answers one chat in arrival order while other chats go on', async () => {
    const platform = new MemoryInterface();
    const model = new GateModel();
    const first = deferred();
    model.gates.set('a1', first);
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'a1', senderId: 'a' });
    await platform.deliver({ text: 'a2', senderId: 'a' });
    await platform.deliver({ text: 'b1', senderId: 'b' });
    await platform.waitForSent(1);
    assert.deepEqual(platform.sent.map((message) => message.text), ['re: b1'], 'chat b is answered while chat a waits');
    assert.deepEqual(model.started, ['a1', 'b1'], 'a2 waits for a1');
    first.resolve();
    await platform.waitForSent(3);
    assert.deepEqual(platform.sent.map((message) => message.text), ['re: b1', 're: a1', 're: a2']);
    await moduleRef.close();
  });

  it('bounds runs across chats with maxConcurrentRuns', async () => {
    const platform = new MemoryInterface({ maxConcurrentRuns: 1 });
    const model = new GateModel();
    const gate = deferred();
    model.gates.set('x', gate);
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'x', senderId: 'a' });
    await platform.deliver({ text: 'y', senderId: 'b' });
    await flush();
    assert.deepEqual(model.started, ['x']);
    gate.resolve();
    await platform.waitForSent(2);
    assert.deepEqual(model.started, ['x', 'y']);
    await moduleRef.close();
  });

  it('refuses messages past maxQueuedPerChat and maxQueued, telling the sender busyMessage, and takes a re-delivery once there is room', async () => {
    const platform = new MemoryInterface({ maxQueuedPerChat: 2, maxQueued: 3, busyMessage: 'Busy, try again shortly.' });
    const model = new GateModel();
    const gate = deferred();
    model.gates.set('a1', gate);
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'a1', senderId: 'a', messageId: 'a1' });
    await platform.deliver({ text: 'a2', senderId: 'a', messageId: 'a2' });
    await platform.deliver({ text: 'a3', senderId: 'a', messageId: 'a3' }); // chat a is full
    await platform.deliver({ text: 'b1', senderId: 'b', messageId: 'b1' });
    await platform.waitForSent(2);
    await flush(); // b1's job is done once its reply is sent and its id recorded
    await platform.deliver({ text: 'c1', senderId: 'c', messageId: 'c1' }); // b1 is answered: room again
    await platform.deliver({ text: 'd1', senderId: 'd', messageId: 'd1' }); // a1, a2, c1 queued: full
    await platform.waitForSent(3);
    assert.deepEqual(
      platform.sent.map((message) => [message.chatId, message.text, message.replyTo]),
      [
        ['a', 'Busy, try again shortly.', 'a3'],
        ['b', 're: b1', 'b1'],
        ['d', 'Busy, try again shortly.', 'd1'],
      ],
    );
    gate.resolve();
    await platform.waitForSent(6);
    await platform.deliver({ text: 'a3', senderId: 'a', messageId: 'a3' }); // re-delivered: not recorded as answered
    await platform.waitForSent(7);
    assert.deepEqual(platform.sent.slice(3).map((message) => message.text).sort(), ['re: a1', 're: a2', 're: a3', 're: c1']);
    assert.deepEqual(model.started.sort(), ['a1', 'a2', 'a3', 'b1', 'c1']);
    await moduleRef.close();
  });

  it('ignores senders the allowlist refuses, telling them when configured', async () => {
    const platform = new MemoryInterface({ allow: new AllowlistAuth({ userIds: ['friend'] }), rejectMessage: 'This bot is private.' });
    const model = new GateModel();
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'let me in', senderId: 'stranger' });
    await platform.deliver({ text: 'hi', senderId: 'friend' });
    await platform.waitForSent(2);
    assert.deepEqual(model.started, ['hi']);
    assert.deepEqual(platform.sent.map((message) => [message.chatId, message.text]), [['stranger', 'This bot is private.'], ['friend', 're: hi']]);
    await moduleRef.close();
  });

  it('runs the hooks: veto, change the message, change the response', async () => {
    const platform = new MemoryInterface({
      hooks: {
        onMessageReceived: (message) => message.text !== 'ignore me',
        onBeforeRespond: (message) => ({ ...message, text: message.text.toUpperCase() }),
        onAfterRespond: (_message, response) => `${response} [checked]`,
      },
    });
    const model = new GateModel();
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'ignore me', senderId: 'u' });
    await platform.deliver({ text: 'hello', senderId: 'u' });
    await platform.waitForSent(1);
    assert.deepEqual(model.started, ['HELLO']);
    assert.equal(platform.sent[0].text, 're: HELLO [checked]');
    await moduleRef.close();
  });

  it('sends the error message when the model fails, calls onError, and keeps running', async () => {
    const errors: string[] = [];
    const platform = new MemoryInterface({ errorMessage: 'Oops, try again.', hooks: { onError: (error) => void errors.push(error.message) } });
    const model = new TestModel({ responses: [{ error: new ModelError('model_unavailable', 'provider down') }, 'back'] });
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'one', senderId: 'u' });
    await platform.deliver({ text: 'two', senderId: 'u' });
    await platform.waitForSent(2);
    assert.deepEqual(platform.sent.map((message) => message.text), ['Oops, try again.', 'back']);
    assert.deepEqual(errors, ['provider down']);
    await moduleRef.close();
  });

  it('keeps a conversation across an app restart with a persistent session store', async () => {
    const path = join(dir.path, 'chat.db');
    const run = async (text: string, model: TestModel) => {
      const platform = new MemoryInterface();
      const sessionStore = new SqliteSessionStore({ path });
      const moduleRef = await bootStarted({ agent: { model, sessionStore }, interfaces: [platform] });
      await platform.deliver({ text, senderId: 'ada' });
      await platform.waitForSent(1);
      await moduleRef.close();
      await sessionStore.close();
    };
    await run('My name is Ada.', new TestModel({ responses: ['Hello Ada.'] }));
    const second = new TestModel({ responses: ['You are Ada.'] });
    await run('Who am I?', second);
    assert.deepEqual(second.calls[0].messages.map((message) => message.content), ['My name is Ada.', 'Hello Ada.', 'Who am I?']);
  });

  it('links accounts on two platforms with a one-time code, then shares one history', async () => {
    const alpha = new MemoryInterface({ platform: 'alpha' });
    const beta = new MemoryInterface({ platform: 'beta' });
    const model = new TestModel({ responses: (call) => `seen ${call.messages.filter((m) => m.role === 'user').length}` });
    const identityResolver = new SqliteIdentityResolver({ path: join(dir.path, 'identity.db') });
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [alpha, beta], identityResolver });
    await alpha.deliver({ text: 'remember me', senderId: 'a-1' });
    await alpha.waitForSent(1);
    await alpha.deliver({ text: '/link', senderId: 'a-1' });
    await alpha.waitForSent(2);
    const code = /link code is ([A-Z0-9]{6,10})/.exec(alpha.sent[1].text)?.[1];
    assert.ok(code, alpha.sent[1].text);
    await beta.deliver({ text: '/link WRONGCODE', senderId: 'b-7' });
    await beta.deliver({ text: `/link ${code}`, senderId: 'b-7' });
    await beta.waitForSent(2);
    await beta.deliver({ text: `/link ${code}`, senderId: 'b-8' }); // single use
    await beta.waitForSent(3);
    assert.match(beta.sent[0].text, /unknown, used or expired/);
    assert.match(beta.sent[1].text, /Linked/);
    assert.match(beta.sent[2].text, /unknown, used or expired/);
    assert.equal(await identityResolver.resolve('beta', 'b-7'), 'alpha:a-1');
    await beta.deliver({ text: 'and now?', senderId: 'b-7' });
    await beta.waitForSent(4);
    assert.equal(beta.sent[3].text, 'seen 2', 'the beta account sees the history started on alpha');
    await beta.deliver({ text: '/unlink', senderId: 'b-7' });
    await beta.waitForSent(5);
    assert.equal(await identityResolver.resolve('beta', 'b-7'), 'beta:b-7');
    await moduleRef.close();
    await identityResolver.close();
  });

  it('lets messages in flight finish at shutdown', async () => {
    const platform = new MemoryInterface();
    const model = new GateModel();
    const gate = deferred();
    model.gates.set('slow', gate);
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform], shutdownTimeout: 60_000 });
    await platform.deliver({ text: 'slow', senderId: 'u' });
    await flush();
    const closing = moduleRef.close();
    await flush();
    gate.resolve();
    await closing;
    assert.deepEqual(platform.sent.map((message) => message.text), ['re: slow']);
  });
});

describe('the message pipeline, continued', () => {
  it('streams a reply by editing one message, at most once a second', async () => {
    const platform = new EditableMemoryInterface({ streaming: true });
    const model = new TestModel({ responses: [{ chunks: ['Hel', 'lo ', 'wor', 'ld'] }] });
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'stream it', senderId: 'u' });
    await platform.waitForSent(1);
    await moduleRef.close();
    assert.deepEqual(platform.sent.map((message) => message.text), ['Hel'], 'the first delta is sent at once');
    assert.deepEqual(platform.edits, [{ messageId: 'out-1', text: 'Hello world' }], 'the rest arrives as one final edit');
  });

  it('remembers answered messages across a restart with SqliteDedupStore', async () => {
    const path = join(dir.path, 'dedup.db');
    const model = new TestModel({ responses: () => 'answered' });
    for (let round = 0; round < 2; round++) {
      const dedup = new SqliteDedupStore({ path });
      const platform = new MemoryInterface({ dedup });
      const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
      await platform.deliver({ text: 'hi', senderId: 'u', messageId: 'update-1' });
      if (round === 0) await platform.waitForSent(1);
      await moduleRef.close();
      await dedup.close();
    }
    assert.equal(model.calls.length, 1, 'the re-delivered message was not answered twice');
  });

  it("keeps an interface's conversations in its own session store when given one", async () => {
    const own = new InMemorySessionStore();
    const platform = new MemoryInterface({ sessionStore: own, historyLimit: 0 });
    const model = new TestModel({ responses: () => 'ok' });
    const moduleRef = await bootStarted({ agent: { model }, interfaces: [platform] });
    await platform.deliver({ text: 'first', senderId: 'u' });
    await platform.deliver({ text: 'second', senderId: 'u' });
    await platform.waitForSent(2);
    await moduleRef.close();
    assert.deepEqual((await own.getMessages('dm:memory:u')).map((message) => message.content), ['first', 'ok', 'second', 'ok']);
    assert.deepEqual(model.calls[1].messages.map((message) => message.content), ['second'], 'historyLimit 0 sends no history');
  });

  it('reports interface states in GET /health', async () => {
    const platform = new MemoryInterface({ name: 'chat' });
    const server = await startApp('fastify', { imports: [DefinableModule.forRoot({ agent: echo(), interfaces: [platform] })] });
    try {
      const health = (await (await fetch(`${server.url}/health`)).json()) as any;
      assert.deepEqual(health.interfaces, [{ name: 'chat', platform: 'memory', state: 'running', restarts: 0, pending: 0 }]);
    } finally {
      await server.close();
    }
  });
});
