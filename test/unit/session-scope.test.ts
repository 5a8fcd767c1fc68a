import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Agent, InMemorySessionStore, Message, SessionInfo, SessionStore, SqliteSessionStore } from '../../lib';
import { TestModel } from '../../lib/testing';
import { tempDir } from '../support/fixtures';

const dir = tempDir();
after(() => dir.cleanup());

const turn = (text: string): Message[] => [
  { role: 'user', content: text },
  { role: 'assistant', content: `re: ${text}` },
];
const texts = (messages: Message[]) => messages.map((message) => message.content);
const alice = { userId: 'alice' };
const bob = { userId: 'bob' };
const anonymous = { userId: null };

function perUser(name: string, open: () => SessionStore) {
  describe(`${name}: sessions are keyed by user and id`, () => {
    it("gives each user (and anonymous callers) their own session under one id: appends never collide or refuse", async () => {
      const store = open();
      await store.append('chat', 'alice', turn('from alice'));
      await store.append('chat', 'bob', turn('from bob'));
      await store.append('chat', null, turn('from nobody'));
      await store.append('chat', 'alice', turn('alice again'));
      assert.deepEqual(texts(await store.getMessages('chat', undefined, alice)), ['from alice', 're: from alice', 'alice again', 're: alice again']);
      assert.deepEqual(texts(await store.getMessages('chat', 1, bob)), ['re: from bob']);
      assert.deepEqual(texts(await store.getMessages('chat', undefined, anonymous)), ['from nobody', 're: from nobody']);
      const info = await store.getSession('chat', alice);
      assert.equal(info?.userId, 'alice');
      assert.equal(info?.messageCount, 4);
      assert.equal((await store.getSession('chat', anonymous))?.userId, null);
      await store.close();
    });

    it("answers for another user's id exactly as for an id never used", async () => {
      const store = open();
      await store.append('alices', 'alice', turn('secret'));
      const foreign = [await store.getSession('alices', bob), await store.getMessages('alices', undefined, bob), await store.getMessages('alices', 5, anonymous)];
      const unused = [await store.getSession('never-used', bob), await store.getMessages('never-used', undefined, bob), await store.getMessages('never-used', 5, anonymous)];
      assert.deepEqual(foreign, unused);
      assert.deepEqual(foreign, [null, [], []]);
      // Bob's first append creates his own, empty-before session; Alice's is untouched.
      await store.append('alices', 'bob', turn('mine'));
      assert.deepEqual(texts(await store.getMessages('alices', undefined, bob)), ['mine', 're: mine']);
      assert.deepEqual(texts(await store.getMessages('alices', undefined, alice)), ['secret', 're: secret']);
      await store.close();
    });

    it('keeps user and id apart whatever characters they hold', async () => {
      const store = open();
      await store.append('b:c', 'a', turn('one'));
      await store.append('c', 'a:b', turn('two'));
      await store.append('1:a:b', null, turn('three'));
      assert.deepEqual(texts(await store.getMessages('b:c', undefined, { userId: 'a' })), ['one', 're: one']);
      assert.deepEqual(texts(await store.getMessages('c', undefined, { userId: 'a:b' })), ['two', 're: two']);
      assert.deepEqual(texts(await store.getMessages('1:a:b', undefined, anonymous)), ['three', 're: three']);
      assert.equal(await store.getSession('c', { userId: 'a' }), null);
      assert.equal(await store.getSession('', { userId: '' }), null);
      await store.append('', '', turn('empty'));
      assert.equal(await store.getSession('', anonymous), null, "the user '' is not anonymous");
      await store.close();
    });

    it('two concurrent first appends for one user end up in one session', async () => {
      const store = open();
      await Promise.all([store.append('race', 'alice', turn('a')), store.append('race', 'alice', turn('b'))]);
      assert.equal((await store.getSession('race', alice))?.messageCount, 4);
      await store.close();
    });

    it("deletes one user's session with a scope, every user's without", async () => {
      const store = open();
      for (const user of ['alice', 'bob', null]) await store.append('shared', user, turn(`${user}`));
      await store.deleteSession('shared', bob);
      assert.equal(await store.getSession('shared', bob), null);
      assert.ok(await store.getSession('shared', alice));
      assert.ok(await store.getSession('shared', anonymous));
      await store.deleteSession('shared');
      assert.equal(await store.getSession('shared', alice), null);
      assert.equal(await store.getSession('shared', anonymous), null);
      assert.equal(await store.getSession('shared'), null);
      await store.close();
    });

    it('without a scope (callers written before scopes) reads the most recently updated session with the id', async () => {
      const store = open();
      await store.append('s', 'alice', turn('old'));
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct updatedAt
      await store.append('s', 'bob', turn('new'));
      assert.equal((await store.getSession('s'))?.userId, 'bob');
      assert.deepEqual(texts(await store.getMessages('s')), ['new', 're: new']);
      assert.deepEqual(texts(await store.getMessages('s', 1)), ['re: new']);
      await store.close();
    });
  });
}

let counter = 0;
perUser('InMemorySessionStore', () => new InMemorySessionStore());
perUser('SqliteSessionStore', () => new SqliteSessionStore({ path: join(dir.path, `scope-${counter++}.db`) }));

describe('InMemorySessionStore: per-user keys and the bounds', () => {
  it('counts every (user, id) session towards maxSessions and evicts them one by one', async () => {
    const store = new InMemorySessionStore({ maxSessions: 2 });
    await store.append('x', 'alice', turn('a'));
    await store.append('x', 'bob', turn('b'));
    await store.append('x', null, turn('c'));
    assert.equal(await store.getSession('x', alice), null, 'the least recently used (alice) went');
    assert.ok(await store.getSession('x', bob));
    assert.ok(await store.getSession('x', anonymous));
    await store.deleteSession('x');
    assert.equal(store.size, 0);
    assert.equal(await store.getSession('x'), null);
  });
});

describe('SqliteSessionStore: migrating a file written before per-user keys', () => {
  /** The tables as the store created them before sessions were keyed by user. */
  function writeOldFile(path: string, prefix = 'definable_'): void {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE ${prefix}sessions (session_id TEXT PRIMARY KEY, user_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE ${prefix}messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES ${prefix}sessions(session_id) ON DELETE CASCADE,
        message TEXT NOT NULL
      );
      CREATE INDEX ${prefix}messages_session ON ${prefix}messages(session_id, id);
    `);
    const session = db.prepare(`INSERT INTO ${prefix}sessions VALUES (?, ?, ?, ?)`);
    const message = db.prepare(`INSERT INTO ${prefix}messages (session_id, message) VALUES (?, ?)`);
    session.run('chat-1', 'alice', 1_000, 2_000);
    session.run('anon', null, 3_000, 4_000);
    // Interleaved, as concurrent sessions write them.
    for (const [id, text] of [['chat-1', 'hi'], ['anon', 'hello'], ['chat-1', 're: hi'], ['anon', 're: hello']]) {
      message.run(id, JSON.stringify({ role: text.startsWith('re:') ? 'assistant' : 'user', content: text }));
    }
    db.close();
  }

  it('keeps every session with the user recorded in it, its messages in order, and its times', async () => {
    const path = join(dir.path, 'old.db');
    writeOldFile(path);
    const store = new SqliteSessionStore({ path });
    assert.deepEqual(texts(await store.getMessages('chat-1', undefined, alice)), ['hi', 're: hi']);
    assert.deepEqual(await store.getSession('chat-1', alice), { sessionId: 'chat-1', userId: 'alice', createdAt: 1_000, updatedAt: 2_000, messageCount: 2 } satisfies SessionInfo);
    assert.deepEqual(texts(await store.getMessages('anon', undefined, anonymous)), ['hello', 're: hello']);
    assert.equal(await store.getSession('chat-1', bob), null, "alice's old session is not bob's");
    assert.equal(await store.getSession('anon', alice), null);
    await store.append('chat-1', 'alice', turn('after'));
    await store.append('chat-1', 'bob', turn('bob here'));
    assert.deepEqual(texts(await store.getMessages('chat-1', 3, alice)), ['re: hi', 'after', 're: after']);
    assert.deepEqual(texts(await store.getMessages('chat-1', undefined, bob)), ['bob here', 're: bob here']);
    await store.close();

    // Opening again finds it migrated and changes nothing.
    const again = new SqliteSessionStore({ path });
    assert.deepEqual(texts(await again.getMessages('chat-1', undefined, alice)), ['hi', 're: hi', 'after', 're: after']);
    assert.equal((await again.getSession('chat-1', bob))?.messageCount, 2);
    await again.close();

    const db = new Database(path, { readonly: true });
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name LIKE 'definable_%' ORDER BY name").all() as { name: string }[]).map((row) => row.name);
    db.close();
    assert.deepEqual(tables, ['definable_messages', 'definable_messages_by_session', 'definable_sessions', 'definable_sessions_anonymous_key', 'definable_sessions_user_key']);
  });

  it('migrates the tables of its own prefix only, and deletes cascade afterwards', async () => {
    const path = join(dir.path, 'prefixed.db');
    writeOldFile(path, 'app_');
    writeOldFile(path, 'other_');
    const store = new SqliteSessionStore({ path, tablePrefix: 'app_' });
    assert.deepEqual(texts(await store.getMessages('chat-1', undefined, alice)), ['hi', 're: hi']);
    await store.deleteSession('chat-1', alice);
    assert.equal(await store.getSession('chat-1', alice), null);
    await store.close();
    const db = new Database(path, { readonly: true });
    const columns = (table: string) => (db.pragma(`table_info(${table})`) as { name: string }[]).map((column) => column.name);
    assert.deepEqual(columns('other_sessions'), ['session_id', 'user_id', 'created_at', 'updated_at'], 'another prefix is left alone');
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM app_messages').get() as { n: number }).n, 2, "only anon's messages are left");
    db.close();
  });
});

describe('SessionStore interface: compatible with stores written before scopes', () => {
  it('a store with the old signatures still type-checks as a SessionStore', async () => {
    class LegacyStore implements SessionStore {
      async getSession(_sessionId: string): Promise<SessionInfo | null> {
        return null;
      }
      async getMessages(_sessionId: string, _limit?: number): Promise<Message[]> {
        return [];
      }
      async append(_sessionId: string, _userId: string | null, _messages: Message[]): Promise<void> {}
      async deleteSession(_sessionId: string): Promise<void> {}
      async close(): Promise<void> {}
    }
    const store: SessionStore = new LegacyStore();
    assert.equal(await store.getSession('x', alice), null);
  });
});

describe('Agent runs: a foreign session id behaves exactly like an unused one', () => {
  for (const [name, open] of [
    ['InMemorySessionStore', () => new InMemorySessionStore()],
    ['SqliteSessionStore', () => new SqliteSessionStore({ path: join(dir.path, `runs-${counter++}.db`) })],
  ] as const) {
    it(`${name}: mallory and an anonymous caller on alice's id get new, empty sessions of their own`, async () => {
      const model = new TestModel({ responses: (call) => `re: ${call.messages.at(-1)?.content}` });
      const sessionStore = open();
      const agent = new Agent({ model, sessionStore });
      await agent.run('my secret', { sessionId: 'private', userId: 'alice' });
      const foreign = await agent.run('what did alice say?', { sessionId: 'private', userId: 'mallory' });
      const unused = await agent.run('what did alice say?', { sessionId: 'never-used', userId: 'mallory' });
      await agent.run('and now?', { sessionId: 'private' });
      assert.equal(foreign.status, unused.status);
      assert.equal(foreign.content, unused.content);
      assert.deepEqual(texts(model.calls[1].messages), ['what did alice say?'], 'no history from alice');
      assert.deepEqual(texts(model.calls[3].messages), ['and now?']);
      await agent.run('still mine?', { sessionId: 'private', userId: 'alice' });
      assert.deepEqual(texts(model.calls[4].messages), ['my secret', 're: my secret', 'still mine?'], "alice's session is untouched");
      await sessionStore.close();
    });
  }
});
