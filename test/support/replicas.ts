import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Redis from 'ioredis';
import { killHard, startChild } from './child-process';
import { dropSchemas, schemaName } from './postgres';

/** The machine's Redis (as CI's); DEFINABLE_TEST_REDIS overrides it. */
export const REDIS_URL = process.env.DEFINABLE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export { PG_URL } from './postgres';

/** A PostgreSQL schema of a test's own, and a way to drop it. */
export function pgSchema(): { schema: string; cleanup: () => Promise<void> } {
  const schema = schemaName();
  return { schema, cleanup: () => dropSchemas([schema]) };
}

/** The /health of a replica (null when it does not answer). */
export async function health(replica: Replica): Promise<Record<string, any> | null> {
  try {
    const response = await fetch(`${replica.url}/health`);
    return (await response.json()) as Record<string, any>;
  } catch {
    return null;
  }
}

/** A replica of test/support/replica-app: its process and its URL. */
export interface Replica {
  child: ChildProcess;
  url: string;
}

/** Starts one replica (`env`: the REPLICA_* settings) and resolves once it listens. */
export async function startReplica(env: Record<string, string>): Promise<Replica> {
  const { child, said } = await startChild(join(__dirname, 'replica-app.js'), { REPLICA_REDIS_URL: REDIS_URL, ...env }, (line) => (line.startsWith('http') ? line : undefined));
  return { child, url: said };
}

/** Stops replicas: SIGKILL (what is left of a test needs no clean shutdown). */
export async function stopReplicas(replicas: (Replica | undefined)[]): Promise<void> {
  await Promise.all(replicas.map((replica) => replica && killHard(replica.child)));
}

/** A Redis key prefix of a test's own, and a way to delete every key under it. */
export function redisPrefix(): { prefix: string; cleanup: () => Promise<void> } {
  const prefix = `definable-test-${randomBytes(5).toString('hex')}`;
  return {
    prefix,
    cleanup: async () => {
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        for (const pattern of [`${prefix}:*`, `bull:${prefix}*`]) {
          let cursor = '0';
          do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            if (keys.length) await redis.del(...keys);
          } while (cursor !== '0');
        }
      } finally {
        redis.disconnect();
      }
    },
  };
}
