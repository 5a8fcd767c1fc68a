import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DefinableModuleOptions } from '../definable-module.options';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import { redactSecrets } from '../redact';
import type { ClusterConfig } from './cluster-options';
import { Lease } from './lease';
import { createRedis, RedisClient } from './redis-client';

/** How often a lock waiter tries again (ms, with jitter up to as much again). */
const LOCK_RETRY_MS = 50;

/** What a replica found gone left behind: handled by whoever registered (the run recorder). */
export type ReapHandler = (replicaId: string, now: number) => Promise<void>;

/**
 * The replicas' shared coordination, on Redis, when the module has a
 * `cluster` option (see `redisCluster()`): claims (a cron tick runs once),
 * leases (one poller per bot token), per-conversation locks, pub/sub between
 * replicas (cancelling a run on the replica that runs it), and the replicas'
 * heartbeats — a replica whose heartbeat stops is gone, and the runs it left
 * are recovered by the one replica that notices first.
 *
 * Without the option it is disabled: `enabled` is false and nothing here is
 * called (the embedded, one-node behaviour).
 */
@Injectable()
export class DefinableCluster implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  /** The cluster options, or `undefined` on one node. */
  readonly config?: ClusterConfig;
  private readonly logger = new Logger('Definable:Cluster');
  private redisClient?: RedisClient;
  private subscriber?: RedisClient;
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private readonly reapers: ReapHandler[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private lastRedisError = 0;
  private closed = false;

  constructor(@Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions) {
    const cluster = options?.cluster;
    if (cluster !== undefined && (typeof cluster !== 'object' || cluster === null || (cluster as ClusterConfig).kind !== 'redis')) {
      throw new TypeError('DefinableModule: cluster must be made by redisCluster({ connection }).');
    }
    this.config = cluster;
  }

  /** Whether the app runs as one of several replicas. */
  get enabled(): boolean {
    return this.config !== undefined;
  }

  /** This replica's id (`undefined` on one node). */
  get replicaId(): string | undefined {
    return this.config?.replicaId;
  }

  /** A key (or channel) under the cluster's prefix. */
  key(...parts: string[]): string {
    return [this.config!.prefix, ...parts].join(':');
  }

  /** The command connection (made on first use). */
  get redis(): RedisClient {
    if (!this.redisClient) {
      this.redisClient = createRedis(this.config!.connection, `definable:${this.config!.replicaId}`);
      this.watch(this.redisClient);
      void this.redisClient.connect().catch(() => undefined);
    }
    return this.redisClient;
  }

  onModuleInit(): void {
    // Connecting starts here, not in a provider factory; nothing waits for it.
    if (this.enabled) void this.redis;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const interval = Math.floor(this.config!.leaseTtl / 3);
    const beat = () => void this.beat().catch((error) => this.redisFailed('heartbeat', error));
    beat();
    this.heartbeat = setInterval(beat, interval).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (!this.redisClient) return;
    // A clean exit: this replica's runs have ended (drained or marked); nothing of it is left to recover.
    await this.redisClient.zrem(this.key('replicas'), this.config!.replicaId).catch(() => undefined);
    // quit() waits for Redis to answer: a client that is not connected is dropped at once.
    await Promise.all([this.redisClient, this.subscriber].map((client) => (client?.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client?.disconnect())));
  }

  /**
   * Takes `key` for `ttl` ms unless someone has it: exactly one of the
   * replicas claiming one key at once gets `true`. Rejects when Redis cannot
   * be reached (the caller decides: a cron tick is then not run here).
   */
  async claim(key: string, ttl: number): Promise<boolean> {
    return (await this.redis.set(key, this.config!.replicaId, 'PX', ttl, 'NX')) === 'OK';
  }

  /** A lease on `key` (not taken yet: see {@link Lease.acquire}). */
  lease(key: string, ttl = this.config!.leaseTtl): Lease {
    return new Lease(this.redis, key, ttl, this.config!.replicaId);
  }

  /**
   * Runs `work` holding the lock `key` (a lease of `leaseTtl`, renewed while
   * it runs), waiting for it while another holder has it. A holder that died
   * leaves it for at most `leaseTtl`. Rejects when Redis cannot be reached.
   */
  async withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const lease = this.lease(key);
    while (!(await lease.acquire())) {
      if (this.closed) throw new Error('The app is shutting down.');
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS + Math.random() * LOCK_RETRY_MS));
    }
    lease.keep((reason) => this.logger.warn(`lost the lock ${key} while holding it: ${reason}`));
    try {
      return await work();
    } finally {
      await lease.release().catch(() => lease.stopKeeping());
    }
  }

  /** Sends `message` to every replica listening on `channel` (this one included). */
  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(this.key('channel', channel), message);
  }

  /** Listens on `channel`; returns a function that stops listening. */
  subscribe(channel: string, listener: (message: string) => void): () => void {
    const name = this.key('channel', channel);
    let listeners = this.channels.get(name);
    if (!listeners) {
      this.channels.set(name, (listeners = new Set()));
      void this.subscriberClient()
        .subscribe(name)
        .catch((error) => this.redisFailed(`subscribing to ${channel}`, error));
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Registers what to do with the runs of a replica found gone. */
  onReplicaGone(handler: ReapHandler): void {
    this.reapers.push(handler);
  }

  /** Whether Redis answers now (for `/health/ready`). */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** The connection's state for `/health`: `up`, or what ioredis says it is doing. */
  get redisState(): string {
    const status = this.redisClient?.status ?? 'wait';
    return status === 'ready' ? 'up' : status === 'wait' || status === 'connecting' || status === 'connect' ? 'connecting' : 'down';
  }

  /**
   * Marks this replica alive, and — for the one replica that claims this
   * period's sweep — recovers the runs of replicas whose heartbeat stopped
   * more than a lease TTL ago.
   */
  private async beat(): Promise<void> {
    const now = Date.now();
    const { leaseTtl, replicaId } = this.config!;
    const replicas = this.key('replicas');
    await this.redis.zadd(replicas, now, replicaId);
    if (!(await this.claim(this.key('sweep'), Math.floor(leaseTtl / 3)))) return;
    for (const gone of await this.redis.zrangebyscore(replicas, '-inf', now - leaseTtl)) {
      this.logger.warn(`replica ${gone} stopped answering: recovering what it left`);
      try {
        for (const reap of this.reapers) await reap(gone, now);
        await this.redis.zrem(replicas, gone);
      } catch (error) {
        // Left in the set: the next sweep tries again.
        this.logger.error(`recovering what replica ${gone} left failed: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
      }
    }
  }

  private subscriberClient(): RedisClient {
    if (!this.subscriber) {
      this.subscriber = createRedis(this.config!.connection, `definable:${this.config!.replicaId}:sub`);
      this.watch(this.subscriber);
      this.subscriber.on('message', (channel: string, message: string) => {
        for (const listener of this.channels.get(channel) ?? []) {
          try {
            listener(message);
          } catch (error) {
            this.logger.error(`a listener of ${channel} failed: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      });
      void this.subscriber.connect().catch(() => undefined);
    }
    return this.subscriber;
  }

  /** Logs a client's errors (at most one every 10 s: a Redis that is down repeats them on every retry). */
  private watch(client: RedisClient): void {
    client.on('error', (error: Error) => this.redisFailed('connection', error));
    client.on('ready', () => {
      if (this.lastRedisError) this.logger.log('Redis is reachable again');
      this.lastRedisError = 0;
    });
  }

  private redisFailed(what: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastRedisError < 10_000) return;
    this.lastRedisError = now;
    this.logger.error(`Redis (${what}): ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
  }
}
