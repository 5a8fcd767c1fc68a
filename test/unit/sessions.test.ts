import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import {
  Agent,
  AgentError,
  InMemorySessionStore,
  Message,
  PostgresSessionStore,
  SessionStore,
  SqliteSessionStore,
  windowHistory,
} from '../../lib';
import { TestModel } from '../../lib/testing';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

const dir = tempDir();
after(() => dir.cleanup());

const turn = (text: string): Message[] => [
  { role: 'user', content: text },
  { role: 'assistant', content: `re: ${text}` },
];

function contract(name: string, open: () => SessionStore, cleanup?: () => Promise<void>) {
  describe(`${name} (SessionStore contract)`, () => {
    if (cleanup) afterEach(cleanup);
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

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const pg = testSchemas();
contract('PostgresSessionStore', () => new PostgresSessionStore({ connectionString: PG_URL, schema: pg.fresh() }), pg.drop);

describe('PostgresSessionStore on one database shared by processes', () => {
  afterEach(pg.drop);
  const twoStores = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresSessionStore(options), schema, tablePrefix);

  it("two stores on two pools see each other's sessions, scopes kept", async () => {
    const [a, b] = twoStores(pg.fresh(), 'app_');
    await a.append('shared', 'ada', turn('from a'));
    await b.append('shared', 'ada', turn('from b'));
    await b.append('shared', null, turn('anonymous'));
    assert.deepEqual((await a.getMessages('shared', undefined, { userId: 'ada' })).map((m) => m.content), ['from a', 're: from a', 'from b', 're: from b']);
    assert.deepEqual((await a.getMessages('shared', 2, { userId: null })).map((m) => m.content), ['anonymous', 're: anonymous']);
    const info = await a.getSession('shared', { userId: 'ada' });
    assert.equal(info?.messageCount, 4);
    assert.equal(info?.userId, 'ada');
    assert.ok(info!.updatedAt >= info!.createdAt);
    await a.deleteSession('shared', { userId: null });
    assert.equal(await b.getSession('shared', { userId: null }), null, 'the anonymous session is gone for both');
    assert.equal((await b.getSession('shared', { userId: 'ada' }))?.messageCount, 4, "ada's stays");
    await b.deleteSession('shared');
    assert.equal(await a.getSession('shared'), null);
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".app_session_messages`);
    assert.equal(rows[0].n, 0, 'the messages went with their sessions');
  });

  it('concurrent first appends from both, tables created meanwhile, end in one ordered session per user', async () => {
    const [a, b] = twoStores();
    const batch = (store: PostgresSessionStore, user: string | null, tag: string) =>
      Promise.all(Array.from({ length: 10 }, (_, i) => store.append('race', user, turn(`${tag}${i}`))));
    // Both stores set up the fresh schema at once, then 40 appends race on two sessions, each with no row yet.
    const results = await Promise.allSettled([batch(a, 'u', 'a'), batch(b, 'u', 'b'), batch(a, null, 'x'), batch(b, null, 'y')]);
    assert.deepEqual(results.filter((result) => result.status === 'rejected'), []);
    for (const userId of ['u', null]) {
      const messages = await a.getMessages('race', undefined, { userId });
      assert.equal(messages.length, 40);
      assert.equal((await b.getSession('race', { userId }))?.messageCount, 40);
      // Every turn whole: each append's two messages are adjacent and in order.
      for (let i = 0; i < messages.length; i += 2) assert.equal(messages[i + 1].content, `re: ${messages[i].content}`);
    }
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".sessions WHERE session_id = 'race'`);
    assert.equal(rows[0].n, 2, 'one session for u, one anonymous');
  });

  it('round-trips JSON exactly: nested values, unicode, a NUL character, numbers, key order', async () => {
    const [a] = twoStores();
    const messages: Message[] = [
      { role: 'user', content: 'emoji 🚀, quotes " \\ and \u00e9, a NUL \u0000 here' },
      { role: 'assistant', content: null, toolCalls: [{ id: 'c', name: 't', arguments: '{"n": 1.5e300, "s": "\\n"}' }] },
      { role: 'tool', toolCallId: 'c', content: JSON.stringify({ deep: [1, { two: [true, null] }] }) },
    ];
    await a.append('json', 'u', messages);
    const read = await a.getMessages('json', undefined, { userId: 'u' });
    assert.deepEqual(read, messages);
    assert.equal(JSON.stringify(read), JSON.stringify(messages), 'the same keys in the same order');
    assert.deepEqual(await a.getMessages('json', 0, { userId: 'u' }), []);
  });

  it('refuses a schema or prefix that is not an identifier, and a missing or double connection, at construction', () => {
    assertRefusesBadOptions((options) => new PostgresSessionStore(options), 'PostgresSessionStore', 41, pg.pool());
    assert.throws(() => new PostgresSessionStore({ connectionString: PG_URL, schema: 'x"; DROP TABLE y; --' }), /schema .* must be letters/);
    assert.throws(() => new PostgresSessionStore({ connectionString: PG_URL, schema: '' }), /schema "" must be letters/);
    assert.throws(() => new PostgresSessionStore({ connectionString: PG_URL, tablePrefix: 'my prefix' }), /tablePrefix "my prefix" must be letters/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresSessionStore(options),
      write: (store) => store.append('c', 'u', turn('hi')),
      read: async (store) => assert.equal((await store.getSession('c', { userId: 'u' }))?.messageCount, 2),
      readClosed: (store) => store.getSession('c'),
      closed: (error: unknown) => error instanceof AgentError && error.code === 'session_store' && /pool/i.test(error.message),
    });
  });

  it('says what is wrong when the database is unreachable', async () => {
    await withUnreachableStore(pg, (options) => new PostgresSessionStore(options), async (store) => {
      await assert.rejects(store.getSession('x'), (error: unknown) => error instanceof AgentError && /PostgreSQL session store failed: .*ECONNREFUSED/.test(error.message));
    });
  });
});

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
