import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { DedupStore, InboundMessage, InMemoryDedupStore, PostgresDedupStore, SqliteDedupStore } from '../../lib';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

const dir = tempDir();
after(() => dir.cleanup());

type Inbox = Required<DedupStore> & { close?(): Promise<void> };

const message = (id: string, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  platform: 'telegram',
  messageId: id,
  chatId: 'c1',
  direct: true,
  senderId: 'u1',
  fromSelf: false,
  text: `text ${id}`,
  raw: null,
  ...extra,
});

/**
 * The DedupStore / chat inbox contract. `open(shared)` opens a store; stores opened with the same
 * `shared` name see one another's data (the same file, the same schema), as after a restart.
 */
function contract(name: string, open: (shared?: string) => Inbox, options: { durable: boolean; cleanup?: () => Promise<void> }) {
  describe(`${name} (DedupStore contract)`, () => {
    if (options.cleanup) afterEach(options.cleanup);

    it('remembers answered keys', async () => {
      const store = open();
      assert.equal(await store.has('k1'), false);
      await store.add('k1');
      assert.equal(await store.has('k1'), true);
      assert.equal(await store.has('k2'), false);
      await store.add('k1'); // twice is fine
      assert.equal(await store.has('k1'), true);
      await store.close?.();
    });

    it('admits a key once; it waits in its inbox, in the order it came, until answered', async () => {
      const store = open();
      assert.equal(await store.admit('k1', message('1'), 'telegram'), true);
      assert.equal(await store.admit('k2', message('2'), 'telegram'), true);
      assert.equal(await store.admit('k3', message('3'), 'discord'), true);
      assert.equal(await store.admit('k1', message('1'), 'telegram'), false, 'already in the inbox');
      assert.equal(await store.admit('k1', message('1'), 'discord'), false, 'in another inbox counts too');
      assert.equal(await store.has('k1'), true, 'an inboxed key is known');
      assert.equal(await store.answered('k1'), false, 'an inboxed key is not answered');
      assert.deepEqual((await store.pending('telegram')).map((entry) => [entry.key, entry.message.messageId]), [['k1', '1'], ['k2', '2']]);
      assert.deepEqual((await store.pending('discord')).map((entry) => entry.key), ['k3']);
      assert.deepEqual(await store.pending('signal'), []);

      await store.add('k1');
      assert.deepEqual((await store.pending('telegram')).map((entry) => entry.key), ['k2'], 'an answered message leaves its inbox');
      assert.equal(await store.has('k1'), true);
      assert.equal(await store.answered('k1'), true);
      assert.equal(await store.answered('k2'), false);
      assert.equal(await store.answered('unknown'), false);
      assert.equal(await store.admit('k1', message('1'), 'telegram'), false, 'an answered key is not admitted again');
      await store.add('never-admitted');
      assert.equal(await store.admit('never-admitted', message('n'), 'telegram'), false);
      assert.deepEqual((await store.pending('telegram')).map((entry) => entry.key), ['k2']);
      await store.close?.();
    });

    it('keeps a message whole, bytes included', async () => {
      const store = open();
      const bytes = new Uint8Array([0, 1, 2, 250, 255, 137, 80, 78, 71]);
      const sent = message('img', {
        senderName: 'Ada Ł 🚀',
        replyTo: { messageId: '0', text: 'quoted "text" \\ \u0000' },
        images: [{ data: bytes, mimeType: 'image/png' }, { url: 'https://x/y.png' }],
        files: [{ name: 'a.txt', content: Buffer.from('hello'), mimeType: 'text/plain' }],
        raw: { platformObject: true },
      });
      assert.equal(await store.admit('img', sent, 'telegram'), true);
      const [entry] = await store.pending('telegram');
      const expected = options.durable ? { ...sent, raw: null, files: [{ name: 'a.txt', content: new Uint8Array(Buffer.from('hello')), mimeType: 'text/plain' }] } : sent;
      assert.deepEqual(entry.message, expected);
      const image = entry.message.images![0] as { data: Uint8Array };
      assert.ok(image.data instanceof Uint8Array);
      assert.deepEqual([...image.data], [...bytes]);
      await store.close?.();
    });

    if (options.durable) {
      it('keeps answered keys and the inbox across a restart', async () => {
        const shared = `restart-${randomBytes(4).toString('hex')}`;
        const first = open(shared);
        await first.add('answered');
        await first.admit('waiting', message('w'), 'telegram');
        await first.close?.();
        const second = open(shared);
        assert.equal(await second.has('answered'), true);
        assert.equal(await second.admit('answered', message('a'), 'telegram'), false);
        assert.deepEqual((await second.pending('telegram')).map((entry) => [entry.key, entry.message.text]), [['waiting', 'text w']]);
        await second.close?.();
      });
    }
  });
}

let counter = 0;
contract('InMemoryDedupStore', () => new InMemoryDedupStore() as Inbox, { durable: false });
contract('SqliteDedupStore', (shared) => new SqliteDedupStore({ path: join(dir.path, `${shared ?? `dedup-${counter++}`}.db`) }), { durable: true });

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const pg = testSchemas();
contract('PostgresDedupStore', (shared) => new PostgresDedupStore({ connectionString: PG_URL, schema: pg.shared(shared) }), { durable: true, cleanup: pg.drop });

describe('SqliteDedupStore and PostgresDedupStore forget answered keys after retentionMs', () => {
  afterEach(pg.drop);
  for (const [name, open] of [
    ['SqliteDedupStore', () => new SqliteDedupStore({ path: join(dir.path, `retention-${counter++}.db`), retentionMs: 0 })],
    ['PostgresDedupStore', () => new PostgresDedupStore({ connectionString: PG_URL, schema: pg.fresh(), retentionMs: 0 })],
  ] as const) {
    it(name, async () => {
      const store = open();
      await store.add('old');
      await store.admit('waiting', message('w'), 'telegram');
      // The expiry runs every 1,000 answers; the clock moves on meanwhile.
      const start = Date.now();
      for (let index = 0; index < 999; index++) await store.add(`k${index}`);
      assert.ok(Date.now() > start);
      assert.equal(await store.has('old'), false, 'answered past its retention: forgotten');
      assert.equal(await store.has('waiting'), true, 'an unanswered message is never expired');
      assert.deepEqual((await store.pending('telegram')).map((entry) => entry.key), ['waiting']);
      await store.close();
    });
  }
});

describe('PostgresDedupStore on one database shared by replicas', () => {
  afterEach(pg.drop);
  const twoStores = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresDedupStore(options), schema, tablePrefix);

  it('40 concurrent admits of 10 keys from two pools, tables created meanwhile: each key admitted once', async () => {
    const [a, b] = twoStores(pg.fresh(), 'bot_');
    const attempts = Array.from({ length: 40 }, (_, index) => {
      const key = `key-${index % 10}`;
      return (index % 2 ? a : b).admit(key, message(key), 'telegram').then((admitted) => ({ key, admitted }));
    });
    const results = await Promise.all(attempts);
    for (let index = 0; index < 10; index++) {
      const wins = results.filter((result) => result.key === `key-${index}` && result.admitted);
      assert.equal(wins.length, 1, `key-${index} admitted ${wins.length} times`);
    }
    assert.equal((await b.pending('telegram')).length, 10);
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".bot_chat_inbox`);
    assert.equal(rows[0].n, 10);
  });

  it('an answer racing a re-delivery never leaves the key both answered and waiting', async () => {
    const [a, b] = twoStores();
    for (let index = 0; index < 20; index++) await a.admit(`k${index}`, message(`${index}`), 'telegram');
    // Replica a answers each message while replica b receives its re-delivery.
    await Promise.all(Array.from({ length: 20 }, (_, index) => [a.add(`k${index}`), b.admit(`k${index}`, message(`${index}`), 'telegram')]).flat());
    assert.deepEqual(await b.pending('telegram'), []);
    for (let index = 0; index < 20; index++) assert.equal(await b.admit(`k${index}`, message(`${index}`), 'telegram'), false);
  });

  it('reads a message SqliteDedupStore wrote the same way (one serialisation)', async () => {
    const [a] = twoStores();
    const sqlite = new SqliteDedupStore({ path: join(dir.path, `same-${counter++}.db`) });
    const sent = message('m', { images: [{ data: new Uint8Array([1, 2, 3]), mimeType: 'image/png' }] });
    await sqlite.admit('m', sent, 'telegram');
    await a.admit('m', sent, 'telegram');
    const [fromSqlite] = await sqlite.pending('telegram');
    const [fromPostgres] = await a.pending('telegram');
    assert.deepEqual(fromPostgres, fromSqlite);
    await sqlite.close();
  });

  it('refuses bad options at construction, saying what to give', () => {
    assertRefusesBadOptions((options) => new PostgresDedupStore(options), 'PostgresDedupStore', 44);
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, retentionMs: -1 }), /retentionMs must be a number of milliseconds of at least 0/);
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, retentionMs: Number.NaN }), /retentionMs/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresDedupStore(options),
      write: (store) => store.add('k'),
      read: async (store) => assert.equal(await store.has('k'), true),
      closed: /PostgresDedupStore\) failed: .*pool/i,
    });
  });

  it('says what is wrong when the database is unreachable', async () => {
    await withUnreachableStore(pg, (options) => new PostgresDedupStore(options), async (store) => {
      await assert.rejects(store.has('x'), /PostgreSQL chat inbox \(PostgresDedupStore\) failed: .*ECONNREFUSED/);
    });
  });
});
