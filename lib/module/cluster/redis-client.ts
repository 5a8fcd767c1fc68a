// The part of an ioredis client the cluster uses. ioredis is an optional peer dependency, loaded
// lazily; its types stay out of our declarations.
import type { RedisConnection } from './cluster-options';

/** @internal What the cluster calls on an ioredis client. */
export interface RedisClient {
  readonly status: string;
  connect(): Promise<void>;
  set(key: string, value: string, ...options: (string | number)[]): Promise<string | null>;
  get(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<number>;
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(...channels: string[]): Promise<unknown>;
  zadd(key: string, score: number, member: string): Promise<unknown>;
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
  zrem(key: string, member: string): Promise<number>;
  ping(): Promise<string>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: any[]) => void): unknown; // eslint-disable-line @typescript-eslint/no-explicit-any -- ioredis events carry various arguments
}

type RedisConstructor = new (...args: unknown[]) => RedisClient;

/** Loads the optional `ioredis` peer dependency, or says how to install it. */
function loadIoredis(): RedisConstructor {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require('ioredis') as { default?: RedisConstructor; Redis?: RedisConstructor };
    return (loaded.Redis ?? loaded.default ?? loaded) as RedisConstructor;
  } catch (error) {
    throw new Error(`redisCluster needs the "ioredis" package: run \`npm install ioredis@5 bullmq@6\`. (${(error as Error).message})`);
  }
}

/**
 * Options that make a command fail fast while Redis is away (a claim, a lease
 * renewal must not wait minutes in ioredis' offline queue), and reconnect
 * forever, at most every 2 s.
 */
const FAIL_FAST = {
  lazyConnect: true,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (times: number) => Math.min(100 * times, 2_000),
};

/** @internal A new ioredis client on `connection` (not connected yet: `connect()` it). */
export function createRedis(connection: RedisConnection, name: string): RedisClient {
  const Redis = loadIoredis();
  const options = { ...FAIL_FAST, connectionName: name };
  return typeof connection === 'string' ? new Redis(connection, options) : new Redis({ ...connection, ...options });
}

/** @internal The connection as BullMQ takes it (its own clients; it needs `maxRetriesPerRequest: null` for workers). */
export function bullConnection(connection: RedisConnection): Record<string, unknown> {
  if (typeof connection !== 'string') return { ...connection };
  const url = new URL(connection);
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
