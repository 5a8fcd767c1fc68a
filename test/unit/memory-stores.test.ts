import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { InMemoryMemoryStore, MemoryStore, PostgresMemoryStore, SqliteMemoryStore } from '../../lib';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

const dir = tempDir();
after(() => dir.cleanup());

type Store = MemoryStore & { close?(): Promise<void> };

/** The MemoryStore contract. Stores opened with the same `shared` name see one another's memories (a restart). */
function contract(name: string, open: (shared?: string) => Store, options: { durable: boolean; cleanup?: () => Promise<void> }) {
  describe(`${name} (MemoryStore contract)`, () => {
    if (options.cleanup) afterEach(options.cleanup);

    it('adds, lists oldest first, updates, deletes and clears, per user', async () => {
      const store = open();
      const before = Date.now();
      const tea = await store.add('alice', 'Likes green tea');
      assert.equal(tea.userId, 'alice');
      assert.equal(tea.text, 'Likes green tea');
      assert.match(tea.id, /^[0-9a-f-]{36}$/);
      assert.equal(tea.createdAt, tea.updatedAt);
      assert.ok(Math.abs(tea.createdAt - before) < 60_000, 'milliseconds since the epoch');
      const lyon = await store.add('alice', 'Lives in Lyon');
      const third = await store.add('alice', 'Has a cat');
      await store.add('bob', 'Is allergic to peanuts');
      assert.deepEqual((await store.list('alice')).map((record) => record.text), ['Likes green tea', 'Lives in Lyon', 'Has a cat'], 'oldest first, ties in the order added');
      assert.deepEqual(await store.list('alice'), [tea, lyon, third]);

      const updated = await store.update('alice', tea.id, 'Prefers coffee');
      assert.equal(updated?.id, tea.id);
      assert.equal(updated?.text, 'Prefers coffee');
      assert.equal(updated?.createdAt, tea.createdAt);
      assert.ok(updated!.updatedAt >= tea.updatedAt);
      assert.deepEqual((await store.list('alice')).map((record) => record.text), ['Prefers coffee', 'Lives in Lyon', 'Has a cat'], 'an update keeps its place');
      assert.equal(await store.update('alice', 'no-such-id', 'x'), null);

      assert.equal(await store.delete('alice', lyon.id), true);
      assert.equal(await store.delete('alice', lyon.id), false, 'gone already');
      assert.deepEqual((await store.list('alice')).map((record) => record.id), [tea.id, third.id]);

      await store.clear('alice');
      assert.deepEqual(await store.list('alice'), []);
      assert.deepEqual((await store.list('bob')).map((record) => record.text), ['Is allergic to peanuts'], "bob's memories stay");
      assert.deepEqual(await store.list('nobody'), []);
      await store.close?.();
    });

    it("never reaches another user's memory by id", async () => {
      const store = open();
      const peanuts = await store.add('alice', 'Is allergic to peanuts');
      assert.equal(await store.update('bob', peanuts.id, 'hijacked'), null);
      assert.equal(await store.delete('bob', peanuts.id), false);
      await store.clear('bob');
      assert.deepEqual((await store.list('alice')).map((record) => record.text), ['Is allergic to peanuts']);
      assert.deepEqual(await store.list('bob'), []);
      await store.close?.();
    });

    it('keeps any text as given', async () => {
      const store = open();
      const text = `quotes ' " \\ , unicode é 🚀, a NUL \u0000, newline\nand ${'long '.repeat(2_000)}`;
      const record = await store.add('u', text);
      assert.equal((await store.list('u'))[0].text, text);
      assert.equal(record.text, text);
      await store.close?.();
    });

    if (options.durable) {
      it('keeps memories across a restart', async () => {
        const shared = `restart-${randomBytes(4).toString('hex')}`;
        const first = open(shared);
        const record = await first.add('carol', 'Prefers tea');
        await first.close?.();
        const second = open(shared);
        assert.deepEqual(await second.list('carol'), [record]);
        await second.close?.();
      });
    }
  });
}

let counter = 0;
contract('InMemoryMemoryStore', () => new InMemoryMemoryStore(), { durable: false });
contract('SqliteMemoryStore', (shared) => new SqliteMemoryStore({ path: join(dir.path, `${shared ?? `memory-${counter++}`}.db`) }), { durable: true });

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const pg = testSchemas();
contract('PostgresMemoryStore', (shared) => new PostgresMemoryStore({ connectionString: PG_URL, schema: pg.shared(shared) }), { durable: true, cleanup: pg.drop });

describe('PostgresMemoryStore on one database shared by replicas', () => {
  afterEach(pg.drop);
  const twoStores = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresMemoryStore(options), schema, tablePrefix);

  it("two stores on two pools, tables created meanwhile, see each other's memories", async () => {
    const [a, b] = twoStores(pg.fresh(), 'app_');
    const added = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? a : b).add('dora', `fact ${index}`)));
    const listed = await a.list('dora');
    assert.equal(listed.length, 20);
    assert.deepEqual(new Set(listed.map((record) => record.id)), new Set(added.map((record) => record.id)));
    assert.ok(listed.every((record, index) => index === 0 || record.createdAt >= listed[index - 1].createdAt), 'oldest first');
    assert.ok(await b.update('dora', added[0].id, 'changed by b'));
    assert.equal((await a.list('dora')).find((record) => record.id === added[0].id)?.text, 'changed by b');
    // Both delete one memory at once: exactly one of them did.
    const deleted = await Promise.all([a.delete('dora', added[1].id), b.delete('dora', added[1].id)]);
    assert.deepEqual(deleted.sort(), [false, true]);
    await b.clear('dora');
    assert.deepEqual(await a.list('dora'), []);
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".app_memories`);
    assert.equal(rows[0].n, 0);
  });

  it('refuses bad options at construction, saying what to give', () => {
    assertRefusesBadOptions((options) => new PostgresMemoryStore(options), 'PostgresMemoryStore', 47);
  });

  it("close() ends the pool it created, not the app's", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresMemoryStore(options),
      write: (store) => store.add('u', 'x'),
      read: async (store) => assert.equal((await store.list('u')).length, 1),
      closed: /PostgresMemoryStore\) failed: .*pool/i,
    });
  });

  it('says what is wrong when the database is unreachable', async () => {
    await withUnreachableStore(pg, (options) => new PostgresMemoryStore(options), async (store) => {
      await assert.rejects(store.list('x'), /PostgreSQL memory store \(PostgresMemoryStore\) failed: .*ECONNREFUSED/);
    });
  });
});
