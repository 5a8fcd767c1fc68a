import { createHash } from 'node:crypto';
// Internal helpers of the PostgreSQL stores. Nothing here imports `pg`'s types, so no public
// declaration names the optional `pg` package: an app without it still compiles ours.

/** The result of a query, as `pg` returns it (only what the stores read). */
export interface PostgresQueryResult {
  rows: any[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- rows are typed where they are read
}

/** A client checked out of a pool, as `pg`'s `PoolClient` is (only what the stores call). */
export interface PostgresPoolClient {
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
  release(error?: Error | boolean): void;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * What a PostgreSQL store needs of a connection pool: a `pg` `Pool` (from
 * `new Pool({ ... })` of the `pg` package) has it, and so does anything
 * shaped like one.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { PostgresSessionStore } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const sessions = new PostgresSessionStore({ pool }); // a pg Pool is a PostgresPool
 * ```
 */
export interface PostgresPool {
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>;
  connect(): Promise<PostgresPoolClient>;
  end(): Promise<void>;
}

interface PgModule {
  Pool: new (config: { connectionString: string }) => PostgresPool & {
    on(event: 'error', listener: (error: Error) => void): unknown;
  };
}

/** Loads the optional `pg` peer dependency, or says how to install it. */
export function loadPg(user: string): PgModule {
  try {
    // Loaded lazily: pg is an optional peer dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('pg') as PgModule;
  } catch (error) {
    throw new Error(`${user} needs the "pg" package: run \`npm install pg@8\`. (${(error as Error).message})`);
  }
}

/**
 * A pool of our own on `connectionString`. An idle client's error (the server
 * restarted, a connection was killed) is absorbed here: `pg` emits it on the
 * pool, where an unheard 'error' event would end the process; the pool drops
 * that client and the next query connects anew.
 */
export function createPool(connectionString: string, user: string): PostgresPool {
  const { Pool } = loadPg(user);
  const pool = new Pool({ connectionString });
  pool.on('error', () => undefined);
  return pool;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks an identifier given in options (a schema, a table prefix) is letters,
 * digits and "_" and leaves room for the longest name made from it within
 * PostgreSQL's 63 bytes (which would otherwise cut it silently), and quotes it.
 */
export function checkIdentifier(value: unknown, what: string, room: number, allowEmpty = false): string {
  if (typeof value !== 'string' || (value === '' ? !allowEmpty : !IDENTIFIER.test(value))) {
    throw new TypeError(`${what} "${String(value)}" must be letters, digits and "_" (not starting with a digit).`);
  }
  if (value.length > 63 - room) {
    throw new TypeError(`${what} "${value}" is too long: at most ${63 - room} characters.`);
  }
  return value;
}

/** Quotes a checked identifier. */
export function quote(identifier: string): string {
  return `"${identifier}"`;
}

/** Runs `work` in one transaction on a client of `pool`, rolled back if it throws. */
export async function transaction<T>(pool: PostgresPool, work: (client: PostgresPoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection lost between two statements is an 'error' event on the checked-out client, which
  // would end the process unheard: the next statement fails with it instead, and the client is dropped.
  let lost: Error | undefined;
  const onError = (error: Error) => (lost = error);
  client.on?.('error', onError);
  const release = (error?: Error) => {
    client.off?.('error', onError);
    client.release(error ?? lost);
  };
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    release();
    return result;
  } catch (error) {
    // A client whose rollback fails is broken: release it with the error so the pool discards it.
    const broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: Error) => rollbackError,
    );
    release(broken ?? undefined);
    throw error;
  }
}

/** The connection options every PostgreSQL store takes (each store's own options interface documents them). */
export interface PostgresStoreConnection {
  pool?: PostgresPool;
  connectionString?: string;
  schema?: string;
  tablePrefix?: string;
}

/**
 * What a PostgreSQL store shares with the others: its options checked (exactly
 * one of `pool` and `connectionString`, an identifier for the schema and the
 * prefix), its pool (its own one ended by {@link PostgresTables.close}, an
 * app's one left open), its quoted table names, and its tables created once
 * on first use.
 */
export class PostgresTables {
  readonly pool: PostgresPool;
  /** The quoted schema. */
  readonly schema: string;
  private readonly ownsPool: boolean;
  private readonly prefix: string;
  private ready?: Promise<void>;
  private ended?: Promise<void>;
  private readonly failure: (message: string, cause: unknown) => Error;

  /**
   * @param store the store's class name, for the error messages.
   * @param longestName the longest name the store gives after the prefix (a table or an index).
   * @param create the DDL of the store's tables, run once (`CREATE ... IF NOT EXISTS`).
   * @param failure what a database failure becomes: the store's label in "<label> failed: …", or a function.
   */
  constructor(
    options: PostgresStoreConnection | undefined,
    store: string,
    longestName: string,
    private readonly create: (tables: PostgresTables) => string,
    /**
     * What a failure becomes: an `Error` "<label> failed: <message>" for a
     * label, or what the function makes (which may return an error of the
     * store's own contract as it is).
     */
    failure: string | ((message: string, cause: unknown) => Error),
  ) {
    this.failure = typeof failure === 'string' ? (message, cause) => new Error(`${failure} failed: ${message}`, { cause }) : failure;
    const { pool, connectionString } = options ?? {};
    if ((pool === undefined) === (connectionString === undefined)) {
      throw new TypeError(`${store} needs exactly one of pool and connectionString, e.g. new ${store}({ connectionString: 'postgres://user@host/db' }).`);
    }
    if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString === '')) {
      throw new TypeError(`${store}: connectionString must be a non-empty string.`);
    }
    if (pool !== undefined && (typeof pool?.query !== 'function' || typeof pool.connect !== 'function')) {
      throw new TypeError(`${store}: pool must be a pg Pool (with query() and connect()).`);
    }
    this.schema = quote(checkIdentifier(options?.schema ?? 'definable', `${store}: schema`, 0));
    this.prefix = checkIdentifier(options?.tablePrefix ?? '', `${store}: tablePrefix`, longestName.length, true);
    this.ownsPool = pool === undefined;
    this.pool = preparedStatements(pool ?? createPool(connectionString!, store));
  }

  /** A table's qualified, quoted name: `"schema"."<prefix>name"`. */
  table(name: string): string {
    return `${this.schema}.${this.local(name)}`;
  }

  /** A quoted name within the schema (an index's): `"<prefix>name"`. */
  local(name: string): string {
    return quote(`${this.prefix}${name}`);
  }

  /**
   * Runs `work` once the tables exist. What it throws is rethrown as the
   * store's `failure` makes it (the thrown error as its `cause`).
   */
  async use<T>(work: () => Promise<T>): Promise<T> {
    try {
      await this.setUp();
      return await work();
    } catch (error) {
      throw this.failure(error instanceof Error ? error.message : String(error), error);
    }
  }

  /** Creates the schema and tables once; a failed attempt (database down) is tried again on the next call. */
  setUp(): Promise<void> {
    this.ready ??= transaction(this.pool, async (client) => {
      // CREATE ... IF NOT EXISTS is not safe against itself run concurrently (a duplicate key in the
      // catalog): one process at a time per schema, whichever store (CREATE SCHEMA is shared by all).
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nestjs-definable:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query(this.create(this));
    }).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** Ends the pool made from `connectionString`; an app's `pool` is left open. Twice is fine. */
  async close(): Promise<void> {
    if (!this.ownsPool) return;
    this.ended ??= this.pool.end();
    await this.ended;
  }
}

/** Milliseconds since the epoch on the database's clock, the same for every replica (SQL). */
// The statement's start: the same value everywhere in one statement (a row's created_at and updated_at agree).
export const PG_NOW_MS = `(extract(epoch from statement_timestamp()) * 1000)::bigint`;

/** Statements prepared per pool at most: a store's texts are few (batch inserts vary with their size). */
const MAX_PREPARED = 256;

/**
 * A `pg` pool whose single-statement queries run as named prepared statements
 * (`{ name, text, values }`): PostgreSQL parses and plans each once per
 * connection instead of at every call. Anything other than a `pg` `Pool` is
 * used as it is (its `query` may not take a query config).
 */
export function preparedStatements(pool: PostgresPool): PostgresPool {
  let Pool: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Pool = (require('pg') as PgModule).Pool;
  } catch {
    return pool;
  }
  if (!(pool instanceof (Pool as new () => PostgresPool))) return pool;
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED && !text.includes(';')) {
      name = `definable_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    query: (text, values) => {
      const name = nameOf(text);
      return name ? (pool as unknown as { query(config: object): Promise<PostgresQueryResult> }).query({ name, text, values }) : pool.query(text, values);
    },
    connect: () => pool.connect(),
    end: () => pool.end(),
  };
}
