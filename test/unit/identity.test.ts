import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { IdentityResolver, PostgresIdentityResolver, SqliteIdentityResolver } from '../../lib';
import { tempDir } from '../support/fixtures';
import { assertCloseEndsOnlyItsOwnPool, assertRefusesBadOptions, PG_URL, testSchemas, withUnreachableStore } from '../support/postgres';

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
const pg = testSchemas();
contract('PostgresIdentityResolver', (shared) => new PostgresIdentityResolver({ connectionString: PG_URL, schema: pg.shared(shared) }), pg.drop);

describe('PostgresIdentityResolver on one database shared by replicas', () => {
  afterEach(pg.drop);
  const twoResolvers = (schema?: string, tablePrefix?: string) => pg.twoStores((options) => new PostgresIdentityResolver(options), schema, tablePrefix);

  it('two replicas redeeming one code at once: exactly one gets the user (40 redeems of 10 codes from two pools)', async () => {
    const [a, b] = twoResolvers(pg.fresh(), 'id_');
    const codes = await Promise.all(Array.from({ length: 10 }, (_, index) => (index % 2 ? a : b).createLinkCode(`telegram:${index}`)));
    const redeems = Array.from({ length: 40 }, (_, index) =>
      (index % 2 ? a : b).redeemLinkCode(codes[index % 10]).then((user) => ({ index: index % 10, user })),
    );
    const results = await Promise.all(redeems);
    for (let index = 0; index < 10; index++) {
      const users = results.filter((result) => result.index === index && result.user !== null).map((result) => result.user);
      assert.deepEqual(users, [`telegram:${index}`], `code ${index} redeemed by ${users.length}`);
    }
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schemas[0]}".id_link_codes`);
    assert.equal(rows[0].n, 0, 'every code used up');
  });

  it("links made by one replica resolve on the other; expired codes are swept as new ones are made", async () => {
    const [a, b] = twoResolvers();
    await a.link('discord', '7', 'telegram:42');
    assert.equal(await b.resolve('discord', '7'), 'telegram:42');
    await b.createLinkCode('u1', -1);
    await b.createLinkCode('u2', -1);
    await a.createLinkCode('u3');
    const { rows } = await pg.admin.query(`SELECT user_id FROM "${pg.schemas[0]}".link_codes`);
    assert.deepEqual(rows.map((row: { user_id: string }) => row.user_id), ['u3']);
  });

  it('refuses bad options and a ttl that is not a number, saying what to give', async () => {
    assertRefusesBadOptions((options) => new PostgresIdentityResolver(options), 'PostgresIdentityResolver', 45);
    const [a] = twoResolvers();
    await assert.rejects(a.createLinkCode('u', Number.NaN), /ttlMs must be a number of milliseconds/);
  });

  it("close() ends the pool it created, not the app's", async () => {
    await assertCloseEndsOnlyItsOwnPool(pg, {
      open: (options) => new PostgresIdentityResolver(options),
      write: (resolver) => resolver.link('telegram', '1', 'ada'),
      read: async (resolver) => assert.equal(await resolver.resolve('telegram', '1'), 'ada'),
      closed: /PostgresIdentityResolver\) failed: .*pool/i,
    });
  });

  it('says what is wrong when the database is unreachable', async () => {
    await withUnreachableStore(pg, (options) => new PostgresIdentityResolver(options), async (resolver) => {
      await assert.rejects(resolver.resolve('telegram', '1'), /PostgreSQL identity resolver \(PostgresIdentityResolver\) failed: .*ECONNREFUSED/);
    });
  });
});
