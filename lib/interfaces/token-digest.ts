import { createHash } from 'node:crypto';

/** A bot token's short digest: names the token in lease keys without writing the token anywhere. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 24);
}
