import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Pool } from 'pg';

/** The machine's PostgreSQL (as CI's); DEFINABLE_TEST_PG overrides it. */
export const PG_URL = process.env.DEFINABLE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A PostgreSQL URL nothing listens at: a store opened on it fails every call with ECONNREFUSED. */
export const UNREACHABLE_PG_URL = 'postgres://postgres@127.0.0.1:1/test';

/** A name for a schema of a test's own: `definable_test_<random>`. */
export function schemaName(): string {
  return `definable_test_${randomBytes(6).toString('hex')}`;
}

/** Drops schemas (and what is in them) on a pool of its own, ended after. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const pool = new Pool({ connectionString: PG_URL, max: 1 });
  try {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}

/** The options every PostgreSQL store takes: an app's pool or a connection string, a schema, a table prefix. */
export interface PgStoreOptions {
  pool?: Pool;
  connectionString?: string;
  schema?: string;
  tablePrefix?: string;
}

/** See {@link testSchemas}. */
export interface TestSchemas {
  /** A pool for the test's own queries (counting rows...), ended after the file. */
  readonly admin: Pool;
  /** The schemas made since the last drop(), oldest first (`schemas[0]`: the test's first). */
  readonly schemas: readonly string[];
  /** The pools made by pool() and twoPools() since the last drop(), oldest first. */
  readonly pools: readonly Pool[];
  /** A new schema name, dropped by the next drop(). */
  fresh(): string;
  /**
   * The schema for `name`: a fresh one the first time, the same one after (until drop()), for stores
   * that must meet on one; no name: a fresh one.
   */
  shared(name: string | undefined): string;
  /** An app's pool on PG_URL, ended by the next drop(). */
  pool(): Pool;
  /** Two "replicas'" pools on PG_URL, ended by the next drop(). */
  twoPools(): [Pool, Pool];
  /**
   * Two "replicas": a store on a pool of its own each (twoPools()), both on one schema (a fresh one
   * unless given) and table prefix.
   */
  twoStores<S>(open: (options: PgStoreOptions & { pool: Pool; schema: string }) => S, schema?: string, tablePrefix?: string): [S, S];
  /** Ends the pools and drops the schemas made since the last drop() (an afterEach). */
  drop(): Promise<void>;
  /** Ends the admin pool (registered with after() by testSchemas()). */
  close(): Promise<void>;
}

/**
 * The PostgreSQL scaffolding of a test file: each test on schemas of its own (`fresh()`, or `shared(name)`
 * for stores that must meet on one), dropped by `drop()` (give it to afterEach), and pools tracked and
 * ended the same way. The admin pool is ended after the file.
 */
export function testSchemas(): TestSchemas {
  const admin = new Pool({ connectionString: PG_URL, max: 2 });
  const schemas: string[] = [];
  const pools: Pool[] = [];
  const shared = new Map<string, string>();
  const fresh = () => {
    const schema = schemaName();
    schemas.push(schema);
    return schema;
  };
  const pool = () => {
    const made = new Pool({ connectionString: PG_URL });
    pools.push(made);
    return made;
  };
  const twoPools = (): [Pool, Pool] => [pool(), pool()];
  const helpers: TestSchemas = {
    admin,
    schemas,
    pools,
    fresh,
    shared: (name) => {
      if (name === undefined) return fresh();
      let schema = shared.get(name);
      if (schema === undefined) shared.set(name, (schema = fresh()));
      return schema;
    },
    pool,
    twoPools,
    twoStores: (open, schema = fresh(), tablePrefix) => {
      const [a, b] = twoPools();
      return [open({ pool: a, schema, tablePrefix }), open({ pool: b, schema, tablePrefix })];
    },
    drop: async () => {
      shared.clear();
      for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      for (const made of pools.splice(0)) await made.end();
    },
    close: () => admin.end(),
  };
  after(helpers.close);
  return helpers;
}

/**
 * What every PostgreSQL store refuses at construction, with the store's name in the message: a schema
 * that is not an identifier, a table prefix longer than `maxTablePrefix`, no connection, and (given an
 * app's `pool`) both a pool and a connection string.
 */
export function assertRefusesBadOptions(open: (options: any) => unknown, store: string, maxTablePrefix: number, pool?: Pool): void {
  assert.throws(() => open({ connectionString: PG_URL, schema: 'bad-schema' }), new RegExp(`${store}: schema "bad-schema" must be letters, digits and "_"`));
  assert.throws(() => open({ connectionString: PG_URL, tablePrefix: 'p'.repeat(maxTablePrefix + 1) }), new RegExp(`tablePrefix .* too long: at most ${maxTablePrefix}`));
  assert.throws(() => open({}), new RegExp(`${store} needs exactly one of pool and connectionString`));
  if (pool) assert.throws(() => open({ pool, connectionString: PG_URL }), /exactly one of pool and connectionString/);
}

/**
 * close() ends the pool a store created, not the app's: a store on an app's pool writes, is closed, and
 * the pool still answers; a store on its own connection string reads what was written, is closed (twice
 * is fine), and then `read` (or `readClosed`) rejects with `closed`.
 */
export async function assertCloseEndsOnlyItsOwnPool<S extends { close(): Promise<void> }>(
  pg: TestSchemas,
  options: {
    open: (options: PgStoreOptions) => S;
    write: (store: S) => Promise<unknown>;
    /** Reads what `write` wrote, asserting it is there. */
    read: (store: S) => Promise<unknown>;
    /** The call that must fail once the store is closed (default: `read`). */
    readClosed?: (store: S) => Promise<unknown>;
    closed: RegExp | ((error: unknown) => boolean);
  },
): Promise<void> {
  const appPool = pg.pool();
  const schema = pg.fresh();
  const borrowed = options.open({ pool: appPool, schema });
  await options.write(borrowed);
  await borrowed.close();
  assert.equal((await appPool.query('SELECT 1 AS one')).rows[0].one, 1, "the app's pool still works");
  const owning = options.open({ connectionString: PG_URL, schema });
  await options.read(owning);
  await owning.close();
  await owning.close(); // twice is fine
  await assert.rejects((options.readClosed ?? options.read)(owning), options.closed);
}

/** A store on a database that is not there (on a fresh schema): `check` asserts what its calls say; closed after. */
export async function withUnreachableStore<S extends { close(): Promise<void> }>(pg: TestSchemas, open: (options: PgStoreOptions) => S, check: (store: S) => Promise<void>): Promise<void> {
  const store = open({ connectionString: UNREACHABLE_PG_URL, schema: pg.fresh() });
  await check(store);
  await store.close();
}
