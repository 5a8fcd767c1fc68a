import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { Pool } from 'pg';
import { DedupStore, InboundMessage, InMemoryDedupStore, PostgresDedupStore, SqliteDedupStore } from '../../lib';
import { tempDir } from '../support/fixtures';

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
const PG_URL = process.env.DEFINABLE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new Pool({ connectionString: PG_URL, max: 2 });
after(() => admin.end());
let schemas: string[] = [];
const freshSchema = () => {
  const schema = `definable_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
};
async function dropSchemas(): Promise<void> {
  for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
const sharedSchemas = new Map<string, string>();
contract(
  'PostgresDedupStore',
  (shared) => {
    let schema = shared === undefined ? freshSchema() : sharedSchemas.get(shared);
    if (schema === undefined) sharedSchemas.set(shared!, (schema = freshSchema()));
    return new PostgresDedupStore({ connectionString: PG_URL, schema });
  },
  { durable: true, cleanup: dropSchemas },
);

describe('SqliteDedupStore and PostgresDedupStore forget answered keys after retentionMs', () => {
  afterEach(dropSchemas);
  for (const [name, open] of [
    ['SqliteDedupStore', () => new SqliteDedupStore({ path: join(dir.path, `retention-${counter++}.db`), retentionMs: 0 })],
    ['PostgresDedupStore', () => new PostgresDedupStore({ connectionString: PG_URL, schema: freshSchema(), retentionMs: 0 })],
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
  afterEach(dropSchemas);
  const pools: Pool[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end();
  });
  const twoStores = (schema = freshSchema(), tablePrefix?: string) => {
    const [a, b] = [new Pool({ connectionString: PG_URL }), new Pool({ connectionString: PG_URL })];
    pools.push(a, b);
    return [new PostgresDedupStore({ pool: a, schema, tablePrefix }), new PostgresDedupStore({ pool: b, schema, tablePrefix })];
  };

  it('40 concurrent admits of 10 keys from two pools, tables created meanwhile: each key admitted once', async () => {
    const [a, b] = twoStores(freshSchema(), 'bot_');
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
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schemas[0]}".bot_chat_inbox`);
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
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, schema: 'bad-schema' }), /PostgresDedupStore: schema "bad-schema" must be letters, digits and "_"/);
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, tablePrefix: 'p'.repeat(45) }), /tablePrefix .* too long: at most 44/);
    assert.throws(() => new PostgresDedupStore({}), /PostgresDedupStore needs exactly one of pool and connectionString/);
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, retentionMs: -1 }), /retentionMs must be a number of milliseconds of at least 0/);
    assert.throws(() => new PostgresDedupStore({ connectionString: PG_URL, retentionMs: Number.NaN }), /retentionMs/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    const [borrowed] = twoStores();
    await borrowed.add('k');
    await borrowed.close();
    assert.equal((await pools[0].query('SELECT 1 AS one')).rows[0].one, 1, "the app's pool still works");
    const owning = new PostgresDedupStore({ connectionString: PG_URL, schema: schemas[0] });
    assert.equal(await owning.has('k'), true);
    await owning.close();
    await owning.close();
    await assert.rejects(owning.has('k'), /PostgresDedupStore\) failed: .*pool/i);
  });

  it('says what is wrong when the database is unreachable', async () => {
    const store = new PostgresDedupStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() });
    await assert.rejects(store.has('x'), /PostgreSQL chat inbox \(PostgresDedupStore\) failed: .*ECONNREFUSED/);
    await store.close();
  });
});
