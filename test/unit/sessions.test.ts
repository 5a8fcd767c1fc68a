import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, InMemorySessionStore, Message, SessionStore, SqliteSessionStore, windowHistory } from '../../lib';
import { TestModel } from '../../lib/testing';
import { tempDir } from '../support/fixtures';

const dir = tempDir();
after(() => dir.cleanup());

const turn = (text: string): Message[] => [
  { role: 'user', content: text },
  { role: 'assistant', content: `re: ${text}` },
];

function contract(name: string, open: () => SessionStore) {
  describe(`${name} (SessionStore contract)`, () => {
    it('appends and reads back messages, oldest first, with a limit', async () => {
      const store = open();
      await store.append('s', 'u', turn('one'));
      await store.append('s', 'u', turn('two'));
      assert.deepEqual((await store.getMessages('s')).map((m) => m.content), ['one', 're: one', 'two', 're: two']);
      assert.deepEqual((await store.getMessages('s', 3)).map((m) => m.content), ['re: one', 'two', 're: two']);
      const info = await store.getSession('s');
      assert.equal(info?.userId, 'u');
      assert.equal(info?.messageCount, 4);
      assert.deepEqual(await store.getMessages('missing'), []);
      assert.equal(await store.getSession('missing'), null);
      await store.close();
    });

    it("keeps another user's session apart under the same id, anonymous included", async () => {
      const store = open();
      await store.append('owned', 'alice', turn('hi'));
      await store.append('owned', 'bob', turn('x'));
      await store.append('owned', null, turn('y'));
      assert.deepEqual((await store.getMessages('owned', undefined, { userId: 'alice' })).map((m) => m.content), ['hi', 're: hi']);
      assert.deepEqual((await store.getMessages('owned', undefined, { userId: 'bob' })).map((m) => m.content), ['x', 're: x']);
      assert.deepEqual((await store.getMessages('owned', undefined, { userId: null })).map((m) => m.content), ['y', 're: y']);
      await store.close();
    });

    it('deletes a session', async () => {
      const store = open();
      await store.append('gone', 'u', turn('hi'));
      await store.deleteSession('gone');
      assert.equal(await store.getSession('gone'), null);
      assert.deepEqual(await store.getMessages('gone'), []);
      await store.append('gone', 'other', turn('new owner'));
      await store.close();
    });

    it('keeps tool-call messages intact through a JSON round trip', async () => {
      const store = open();
      const messages: Message[] = [
        { role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image', url: 'https://x/y.png' }] },
        { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 't', arguments: '{}' }] },
        { role: 'tool', toolCallId: 'c1', name: 't', content: 'r' },
        { role: 'assistant', content: 'done' },
      ];
      await store.append('tc', null, messages);
      assert.deepEqual(await store.getMessages('tc'), messages);
      await store.close();
    });
  });
}

let counter = 0;
contract('InMemorySessionStore', () => new InMemorySessionStore());
contract('SqliteSessionStore', () => new SqliteSessionStore({ path: join(dir.path, `contract-${counter++}.db`) }));

describe('InMemorySessionStore bounds', () => {
  it('evicts the least recently used session and trims old messages', async () => {
    const store = new InMemorySessionStore({ maxSessions: 2, maxMessagesPerSession: 3 });
    await store.append('a', null, turn('a'));
    await store.append('b', null, turn('b'));
    await store.getMessages('a');
    await store.append('c', null, turn('c'));
    assert.equal(await store.getSession('b'), null, 'b was least recently used');
    assert.ok(await store.getSession('a'));
    await store.append('a', null, turn('a2'));
    assert.deepEqual((await store.getMessages('a')).map((m) => m.content), ['re: a', 'a2', 're: a2']);
    assert.throws(() => new InMemorySessionStore({ maxSessions: 0 }), /maxSessions/);
  });
});

describe('SqliteSessionStore persistence', () => {
  it('survives a reopen: a new agent on the same file sees the history', async () => {
    const path = join(dir.path, 'agent.db');
    const firstModel = new TestModel({ responses: ['Nice to meet you, Ada.'] });
    const firstStore = new SqliteSessionStore({ path });
    await new Agent({ model: firstModel, sessionStore: firstStore }).run('I am Ada.', { sessionId: 'chat-1', userId: 'ada' });
    await firstStore.close();

    const secondModel = new TestModel({ responses: ['You are Ada.'] });
    const secondStore = new SqliteSessionStore({ path });
    const agent = new Agent({ model: secondModel, sessionStore: secondStore });
    await agent.run('Who am I?', { sessionId: 'chat-1', userId: 'ada' });
    assert.deepEqual(secondModel.calls[0].messages.map((m) => m.content), ['I am Ada.', 'Nice to meet you, Ada.', 'Who am I?']);
    assert.equal(await secondStore.getSession('chat-1', { userId: 'eve' }), null, "Ada's session is not Eve's");
    await secondStore.close();
  });

  it('opens the file in WAL mode and says what to do about a bad path', () => {
    assert.throws(() => new SqliteSessionStore({ path: '' }), /needs a file path/);
    assert.throws(() => new SqliteSessionStore({ path: join(dir.path, 'no', 'such', 'dir', 'x.db') }), /directory|open/i);
    assert.throws(() => new SqliteSessionStore({ path: ':memory:', tablePrefix: 'bad-prefix' }), /tablePrefix/);
  });
});

describe('windowHistory', () => {
  const call: Message = { role: 'assistant', content: null, toolCalls: [{ id: 'c', name: 't', arguments: '{}' }] };
  const result: Message = { role: 'tool', toolCallId: 'c', content: 'r' };

  it('never starts with tool results whose call was cut', () => {
    const history: Message[] = [{ role: 'user', content: 'q' }, call, result, result, { role: 'assistant', content: 'a' }];
    assert.deepEqual(windowHistory(history, 3), [{ role: 'assistant', content: 'a' }]);
    assert.deepEqual(windowHistory(history, 4), history.slice(1));
  });

  it('drops a trailing tool call that never got its results', () => {
    assert.deepEqual(windowHistory([{ role: 'user', content: 'q' }, call]), [{ role: 'user', content: 'q' }]);
  });

  it('returns everything when under the limit', () => {
    const history = turn('x');
    assert.equal(windowHistory(history, 10), history);
  });
});
