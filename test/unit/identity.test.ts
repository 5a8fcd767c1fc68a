import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { Pool } from 'pg';
import { IdentityResolver, PostgresIdentityResolver, SqliteIdentityResolver } from '../../lib';
import { tempDir } from '../support/fixtures';

const dir = tempDir();
after(() => dir.cleanup());

type Resolver = IdentityResolver & { close(): Promise<void> };

/** The IdentityResolver contract. Resolvers opened with the same `shared` name see one another's data (a restart). */
function contract(name: string, open: (shared?: string) => Resolver, cleanup?: () => Promise<void>) {
  describe(`${name} (IdentityResolver contract)`, () => {
    if (cleanup) afterEach(cleanup);

    it('resolves unlinked accounts to <platform>:<id>, links and unlinks', async () => {
      const resolver = open();
      assert.equal(await resolver.resolve('telegram', '42'), 'telegram:42');
      await resolver.link('discord', '7', 'telegram:42');
      assert.equal(await resolver.resolve('discord', '7'), 'telegram:42');
      assert.deepEqual(await resolver.getIdentities('telegram:42'), [{ platform: 'discord', platformUserId: '7' }]);
      await resolver.unlink('discord', '7');
      assert.equal(await resolver.resolve('discord', '7'), 'discord:7');
      await resolver.close();
    });

    it('relinks an account to another user, and lists every account of a user by platform', async () => {
      const resolver = open();
      await resolver.link('signal', '+33', 'ada');
      await resolver.link('discord', '9', 'ada');
      await resolver.link('Telegram', '1', 'ada');
      await resolver.link('discord', '9', 'grace');
      assert.equal(await resolver.resolve('discord', '9'), 'grace');
      assert.deepEqual(await resolver.getIdentities('ada'), [
        { platform: 'Telegram', platformUserId: '1' },
        { platform: 'signal', platformUserId: '+33' },
      ]);
      assert.deepEqual(await resolver.getIdentities('nobody'), []);
      await resolver.unlink('discord', 'never-linked');
      await resolver.close();
    });

    it('issues single-use codes of capital letters and digits that expire', async () => {
      const shared = `codes-${randomBytes(4).toString('hex')}`;
      const resolver = open(shared);
      const code = await resolver.createLinkCode('telegram:1');
      assert.match(code, /^[A-Z0-9]{6,10}$/);
      const expired = await resolver.createLinkCode('telegram:2', -1);
      assert.equal(await resolver.redeemLinkCode(expired), null);
      await resolver.close();
      const reopened = open(shared);
      assert.equal(await reopened.redeemLinkCode(` ${code.toLowerCase()} `), 'telegram:1', 'codes survive a restart and are case-insensitive');
      assert.equal(await reopened.redeemLinkCode(code), null, 'single use');
      assert.equal(await reopened.redeemLinkCode('NOSUCHCD'), null);
      await reopened.close();
    });
  });
}

let counter = 0;
contract('SqliteIdentityResolver', (shared) => new SqliteIdentityResolver({ path: join(dir.path, `${shared ?? `identity-${counter++}`}.db`) }));

// The machine's PostgreSQL (as CI's): each test on a schema of its own, dropped after it.
const PG_URL = process.env.DEFINABLE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new Pool({ connectionString: PG_URL, max: 2 });
after(() => admin.end());
const schemas: string[] = [];
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
  'PostgresIdentityResolver',
  (shared) => {
    let schema = shared === undefined ? freshSchema() : sharedSchemas.get(shared);
    if (schema === undefined) sharedSchemas.set(shared!, (schema = freshSchema()));
    return new PostgresIdentityResolver({ connectionString: PG_URL, schema });
  },
  dropSchemas,
);

describe('PostgresIdentityResolver on one database shared by replicas', () => {
  afterEach(dropSchemas);
  const pools: Pool[] = [];
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end();
  });
  const twoResolvers = (schema = freshSchema(), tablePrefix?: string) => {
    const [a, b] = [new Pool({ connectionString: PG_URL }), new Pool({ connectionString: PG_URL })];
    pools.push(a, b);
    return [new PostgresIdentityResolver({ pool: a, schema, tablePrefix }), new PostgresIdentityResolver({ pool: b, schema, tablePrefix })];
  };

  it('two replicas redeeming one code at once: exactly one gets the user (40 redeems of 10 codes from two pools)', async () => {
    const [a, b] = twoResolvers(freshSchema(), 'id_');
    const codes = await Promise.all(Array.from({ length: 10 }, (_, index) => (index % 2 ? a : b).createLinkCode(`telegram:${index}`)));
    const redeems = Array.from({ length: 40 }, (_, index) =>
      (index % 2 ? a : b).redeemLinkCode(codes[index % 10]).then((user) => ({ index: index % 10, user })),
    );
    const results = await Promise.all(redeems);
    for (let index = 0; index < 10; index++) {
      const users = results.filter((result) => result.index === index && result.user !== null).map((result) => result.user);
      assert.deepEqual(users, [`telegram:${index}`], `code ${index} redeemed by ${users.length}`);
    }
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schemas[0]}".id_link_codes`);
    assert.equal(rows[0].n, 0, 'every code used up');
  });

  it("links made by one replica resolve on the other; expired codes are swept as new ones are made", async () => {
    const [a, b] = twoResolvers();
    await a.link('discord', '7', 'telegram:42');
    assert.equal(await b.resolve('discord', '7'), 'telegram:42');
    await b.createLinkCode('u1', -1);
    await b.createLinkCode('u2', -1);
    await a.createLinkCode('u3');
    const { rows } = await admin.query(`SELECT user_id FROM "${schemas[0]}".link_codes`);
    assert.deepEqual(rows.map((row: { user_id: string }) => row.user_id), ['u3']);
  });

  it('refuses bad options and a ttl that is not a number, saying what to give', async () => {
    assert.throws(() => new PostgresIdentityResolver({ connectionString: PG_URL, schema: 'bad-schema' }), /PostgresIdentityResolver: schema "bad-schema" must be letters, digits and "_"/);
    assert.throws(() => new PostgresIdentityResolver({ connectionString: PG_URL, tablePrefix: 'p'.repeat(46) }), /tablePrefix .* too long: at most 45/);
    assert.throws(() => new PostgresIdentityResolver({}), /PostgresIdentityResolver needs exactly one of pool and connectionString/);
    const [a] = twoResolvers();
    await assert.rejects(a.createLinkCode('u', Number.NaN), /ttlMs must be a number of milliseconds/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    const [borrowed] = twoResolvers();
    await borrowed.link('telegram', '1', 'ada');
    await borrowed.close();
    assert.equal((await pools[0].query('SELECT 1 AS one')).rows[0].one, 1, "the app's pool still works");
    const owning = new PostgresIdentityResolver({ connectionString: PG_URL, schema: schemas[0] });
    assert.equal(await owning.resolve('telegram', '1'), 'ada');
    await owning.close();
    await owning.close();
    await assert.rejects(owning.resolve('telegram', '1'), /PostgresIdentityResolver\) failed: .*pool/i);
  });

  it('says what is wrong when the database is unreachable', async () => {
    const resolver = new PostgresIdentityResolver({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() });
    await assert.rejects(resolver.resolve('telegram', '1'), /PostgreSQL identity resolver \(PostgresIdentityResolver\) failed: .*ECONNREFUSED/);
    await resolver.close();
  });
});
