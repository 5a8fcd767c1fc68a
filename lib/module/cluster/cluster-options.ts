import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

/**
 * Where the replicas' Redis is: a URL (`redis://user:password@host:6379/0`,
 * `rediss://` for TLS), or the connection options of `ioredis` (host, port,
 * password, db, tls…). The cluster opens its own connections from it (one for
 * commands, one for pub/sub, and BullMQ's), and closes them at shutdown.
 */
export type RedisConnection = string | { host?: string; port?: number; username?: string; password?: string; db?: number; tls?: object; [option: string]: unknown };

/** What a tick missed while no replica was up becomes (see {@link RedisClusterOptions.missedTicks}). */
export type MissedTicks = 'skip' | 'once';

/** Options of {@link redisCluster}. */
export interface RedisClusterOptions {
  /** The Redis every replica shares. */
  connection: RedisConnection;
  /**
   * The prefix of every key, channel and queue the cluster uses, so several
   * apps (or tests) share one Redis. Letters, digits, `_`, `-`, `.` and `:`.
   * Default `definable`.
   */
  prefix?: string;
  /**
   * How long a lease lives unless its holder renews it, in ms: the longest a
   * Telegram poller or Discord gateway is without a replica after its holder
   * dies, and how soon a dead replica's runs are found. Renewed every third of
   * it. Default 15,000; at least 1,000.
   */
  leaseTtl?: number;
  /**
   * This replica's id in leases, run records and `/health`. Default
   * `<hostname>-<pid>-<random>`, new at each start (a restarted replica is a
   * new one; the runs of the one it replaces are recovered as a dead
   * replica's).
   */
  replicaId?: string;
  /**
   * A cron tick that passed while no replica was up: `'skip'` (the default)
   * forgets it; `'once'` runs the latest missed tick once, when the first
   * replica starts (however many ticks were missed).
   */
  missedTicks?: MissedTicks;
  /**
   * How long a queued job's worker holds its lock without renewing it, in ms
   * (BullMQ's `lockDuration`): a job whose replica died is taken up by
   * another within about twice this. Default 30,000; at least 1,000.
   */
  jobLockDuration?: number;
}

/**
 * The `cluster` option of `DefinableModule.forRoot()`: made by
 * {@link redisCluster}. Its fields are the checked options.
 */
export interface ClusterConfig {
  readonly kind: 'redis';
  readonly connection: RedisConnection;
  readonly prefix: string;
  readonly leaseTtl: number;
  readonly replicaId: string;
  readonly missedTicks: MissedTicks;
  readonly jobLockDuration: number;
}

const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * Runs the app on several replicas that share one Redis: each `@Cron` tick
 * runs once across them, a Telegram poller or Discord gateway runs on one
 * replica at a time (another takes over within `leaseTtl` when it dies), one
 * chat is answered by one replica at a time, async webhooks are BullMQ jobs
 * that survive a replica's death, and `POST /runs/:id/cancel` reaches the
 * replica running the run. Pair it with shared stores (`postgresStores()`),
 * so sessions, runs and inboxes are seen by every replica. Needs the
 * `ioredis` and `bullmq` packages.
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
export function redisCluster(options: RedisClusterOptions): ClusterConfig {
  if (!options || (typeof options.connection !== 'string' && (typeof options.connection !== 'object' || options.connection === null))) {
    throw new TypeError("redisCluster needs the Redis connection: redisCluster({ connection: 'redis://127.0.0.1:6379' }) or ioredis options ({ host, port, password }).");
  }
  const prefix = options.prefix ?? 'definable';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new TypeError(`redisCluster: prefix "${String(prefix)}" must be 1 to 64 letters, digits, "_", "-", "." or ":".`);
  }
  const leaseTtl = options.leaseTtl ?? 15_000;
  if (!Number.isInteger(leaseTtl) || leaseTtl < 1_000) throw new RangeError(`redisCluster: leaseTtl must be a whole number of milliseconds, at least 1000; got ${leaseTtl}.`);
  const jobLockDuration = options.jobLockDuration ?? 30_000;
  if (!Number.isInteger(jobLockDuration) || jobLockDuration < 1_000) {
    throw new RangeError(`redisCluster: jobLockDuration must be a whole number of milliseconds, at least 1000; got ${jobLockDuration}.`);
  }
  const missedTicks = options.missedTicks ?? 'skip';
  if (missedTicks !== 'skip' && missedTicks !== 'once') throw new TypeError(`redisCluster: missedTicks must be 'skip' or 'once', got ${JSON.stringify(missedTicks)}.`);
  const replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (typeof replicaId !== 'string' || !/^[\w.:-]{1,128}$/.test(replicaId)) {
    throw new TypeError(`redisCluster: replicaId "${String(replicaId)}" must be 1 to 128 letters, digits, "_", "-", "." or ":".`);
  }
  return Object.freeze({ kind: 'redis' as const, connection: options.connection, prefix, leaseTtl, replicaId, missedTicks, jobLockDuration });
}
