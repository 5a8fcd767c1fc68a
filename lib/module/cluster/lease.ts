import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis-client';

// Takes the key when it is free, renews it when this holder has it.
const ACQUIRE = `local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if held then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;

/**
 * @internal A lease on one Redis key: held by one holder at a time until it
 * lapses (`ttl` ms without renewal) or is released. The holder is this
 * replica's id and a token of this lease, so two leases of one replica never
 * hold one key together.
 */
export class Lease {
  /** What the key holds while this lease has it. */
  readonly holder: string;
  /** Until when (ms since the epoch, this clock) the lease is surely ours: the last renewal's start plus the TTL. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    readonly ttl: number,
    replicaId: string,
  ) {
    this.holder = `${replicaId}:${randomBytes(4).toString('hex')}`;
  }

  /** Whether the lease is held now, as far as the last renewal tells. */
  get held(): boolean {
    return Date.now() < this.validUntil;
  }

  /** Takes the lease if it is free, or renews it if this holder has it. Resolves whether it is held; rejects when Redis cannot be reached. */
  async acquire(): Promise<boolean> {
    const started = Date.now();
    const taken = (await this.redis.eval(ACQUIRE, 1, this.key, this.holder, this.ttl)) === 1;
    this.validUntil = taken ? started + this.ttl : 0;
    return taken;
  }

  /**
   * Renews the lease every third of its TTL while it is held. `lost` is
   * called once when it is not: taken by another holder, or not renewed in
   * time (Redis away) — in which case it is given up before it can lapse, at
   * two thirds of its TTL, so that no two holders act together.
   */
  keep(lost: (reason: string) => void): void {
    this.stopKeeping();
    const interval = Math.max(100, Math.floor(this.ttl / 3));
    const renew = async () => {
      try {
        if (!(await this.acquire())) return this.lose(lost, 'another replica holds it');
      } catch (error) {
        if (Date.now() >= this.validUntil - interval) return this.lose(lost, `it could not be renewed: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (this.timer) this.timer = setTimeout(() => void renew(), interval).unref();
    };
    this.timer = setTimeout(() => void renew(), interval).unref();
  }

  /** Stops renewing and frees the key if this holder still has it. */
  async release(): Promise<void> {
    this.stopKeeping();
    this.validUntil = 0;
    await this.redis.eval(RELEASE, 1, this.key, this.holder);
  }

  /** Stops renewing (the key lapses after its TTL). */
  stopKeeping(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private lose(lost: (reason: string) => void, reason: string): void {
    this.stopKeeping();
    this.validUntil = 0;
    lost(reason);
  }
}
