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
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    // A client whose rollback fails is broken: release it with the error so the pool discards it.
    const broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: Error) => rollbackError,
    );
    client.release(broken ?? undefined);
    throw error;
  }
}
