import { PostgresApprovalStore } from './agent/approvals/postgres-approval-store';
import { PostgresMemoryStore } from './agent/memory/postgres-memory-store';
import { createPool, type PostgresPool } from './agent/sessions/postgres-pool';
import { PostgresSessionStore } from './agent/sessions/postgres-session-store';
import { PostgresIdentityResolver } from './interfaces/identity/postgres-identity-resolver';
import { PostgresDedupStore } from './interfaces/postgres-dedup-store';
import type { DefinableStores } from './module/definable-stores';
import { PostgresRunStore } from './module/runs/postgres-run-store';
import type { RunRetention } from './module/runs/run-store';

/** How long `/health/ready` waits for the database before calling it unreachable. */
const PING_TIMEOUT_MS = 2_000;

/** Options of {@link postgresStores}. */
export interface PostgresStoresOptions {
  /** Your `pg` `Pool` (or any `PostgresPool`), left open at shutdown. Exactly one of `pool` and `connectionString`. */
  pool?: PostgresPool;
  /** A connection string for a pool of the stores' own, ended at shutdown. */
  connectionString?: string;
  /** The schema of every table (created on first use). Default `definable`. */
  schema?: string;
  /** A prefix for every table name. Default none. */
  tablePrefix?: string;
  /** How long ended runs are kept (see `RunRetention`). */
  runRetention?: RunRetention;
}

/**
 * Every store the app keeps on one PostgreSQL database, over one pool — what
 * replicas must share: `sessions`, `runs` (with event logs and idempotency
 * keys), the chat `inbox`, `approvals`, and `memory` and `identities` for you
 * to give an agent's `Memory` and the module's `identityResolver`. Pass it as
 * the module's `stores`: the first four are used wherever nothing more
 * specific was given.
 */
export class PostgresStores implements DefinableStores {
  readonly sessions: PostgresSessionStore;
  readonly runs: PostgresRunStore;
  readonly inbox: PostgresDedupStore;
  readonly approvals: PostgresApprovalStore;
  /** A `MemoryStore` on the same database: `new Memory({ store: stores.memory })`. */
  readonly memory: PostgresMemoryStore;
  /** An `IdentityResolver` on the same database: the module's `identityResolver`, for `/link`. */
  readonly identities: PostgresIdentityResolver;
  /** The pool every store uses. */
  readonly pool: PostgresPool;
  private readonly ownsPool: boolean;
  private closing?: Promise<void>;

  constructor(options: PostgresStoresOptions) {
    const { pool, connectionString } = options ?? {};
    if ((pool === undefined) === (connectionString === undefined)) {
      throw new TypeError("postgresStores needs exactly one of pool and connectionString, e.g. postgresStores({ connectionString: process.env.DATABASE_URL }).");
    }
    if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString === '')) {
      throw new TypeError('postgresStores: connectionString must be a non-empty string.');
    }
    const shared = { schema: options.schema, tablePrefix: options.tablePrefix };
    this.ownsPool = pool === undefined;
    this.pool = pool ?? createPool(connectionString!, 'postgresStores');
    const on = { pool: this.pool, ...shared };
    try {
      // Each store checks the schema and prefix (no I/O before first use).
      this.sessions = new PostgresSessionStore(on);
      this.runs = new PostgresRunStore({ ...on, retention: options.runRetention });
      this.inbox = new PostgresDedupStore(on);
      this.approvals = new PostgresApprovalStore(on);
      this.memory = new PostgresMemoryStore(on);
      this.identities = new PostgresIdentityResolver(on);
    } catch (error) {
      if (this.ownsPool) void this.pool.end().catch(() => undefined);
      throw new TypeError(`postgresStores: ${(error as Error).message}`);
    }
  }

  /** Whether the database answers a query within 2 s. */
  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS)));
    try {
      return await Promise.race([this.pool.query('SELECT 1').then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every store, then ends the pool if it is the stores' own. Twice is fine. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([this.sessions, this.runs, this.inbox, this.approvals, this.memory, this.identities].map((store) => store.close()));
      if (this.ownsPool) await this.pool.end();
    })();
    return this.closing;
  }
}

/**
 * The stores of an app on several replicas, on one PostgreSQL database (needs
 * the `pg` package): the module's `stores` option. Tables are created on first
 * use, idempotently, in `schema`.
 *
 * @example
 * ```ts
 * DefinableModule.forRoot({
 *   agent,
 *   cluster: redisCluster({ connection: process.env.REDIS_URL! }),
 *   stores: postgresStores({ connectionString: process.env.DATABASE_URL! }),
 * });
 * ```
 */
export function postgresStores(options: PostgresStoresOptions): PostgresStores {
  return new PostgresStores(options);
}
