import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Agent } from '../agent';
import { AgentRegistry } from '../module/agent.registry';
import { AgentRunner } from '../module/agent.runner';
import { RunApprovals } from '../module/approvals/run-approvals';
import { DefinableMetrics } from '../module/telemetry/definable-metrics';
import { HealthRegistry } from '../module/health.registry';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import { DEFINABLE_OPTIONS } from '../module/definable.module-definition';
import { redactSecrets } from '../module/redact';
import { SqliteRunStore } from '../module/runs/sqlite-run-store';
import { settleWithin } from '../module/settle-within';
import { DefinableCluster } from '../module/cluster/definable-cluster';
import type { Lease } from '../module/cluster/lease';
import { Backoff } from './backoff';
import { DedupStore, SqliteDedupStore } from './dedup-store';
import { INTERFACE_CLIENTS } from './interface-client';
import { MessagePipeline } from './message-pipeline';
import { InterfaceAuthError, InterfaceConflictError, InterfaceSetupError, MessagingInterface } from './messaging-interface';

/**
 * Where an interface is in its life. `standby`: on several replicas, another
 * replica holds the interface's lease and receives; this one takes over if
 * that one goes away.
 */
export type InterfaceState = 'starting' | 'running' | 'restarting' | 'standby' | 'failed' | 'stopped';

/**
 * An interface's part on several replicas (the module's `cluster` option):
 * `leader` — this replica holds the lease and receives; `standby` — another
 * replica does; `shared` — every replica receives (webhook mode).
 */
export type InterfaceRole = 'leader' | 'standby' | 'shared';

/** An interface's state as `/health` and {@link InterfaceSupervisor.status} report it. */
export interface InterfaceStatus {
  name: string;
  platform: string;
  state: InterfaceState;
  restarts: number;
  /** When `restarting`: the time of the next attempt (ISO 8601). */
  nextAttemptAt?: string;
  lastError?: string;
  /** Messages queued or being answered. */
  pending: number;
  /** On several replicas (`cluster`): this replica's part in receiving. */
  role?: InterfaceRole;
}

interface Entry {
  platform: MessagingInterface;
  pipeline: MessagePipeline;
  backoff: Backoff;
  state: InterfaceState;
  restarts: number;
  generation: number;
  runningSince?: number;
  nextAttemptAt?: number;
  lastError?: string;
  timer?: NodeJS.Timeout;
  /** On several replicas: the key of the lease to hold before receiving (none: every replica receives). */
  exclusive?: string;
  lease?: Lease;
  role?: InterfaceRole;
}

/**
 * Runs the module's messaging interfaces: starts each after bootstrap without
 * blocking it, restarts one that fails — at start-up or any time later — with
 * exponential backoff (1 s … 60 s, reset after 60 s of stable running), parks
 * one whose credentials are refused in `failed`, and at shutdown stops intake,
 * lets the messages in flight be answered (up to `shutdownTimeout`) and closes
 * the clients.
 */
@Injectable()
export class InterfaceSupervisor implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Interfaces');
  private readonly entries: Entry[];
  /** The chat inbox of interfaces without a `dedup` store, in a `SqliteRunStore`'s file. */
  private readonly sharedInbox?: DedupStore;
  /** The inbox opened here (closed here); the module's `stores.inbox` closes with the stores. */
  private ownInbox?: SqliteDedupStore;
  private stopping = false;

  constructor(
    @Inject(DEFINABLE_OPTIONS) private readonly options: DefinableModuleOptions,
    agents: AgentRegistry,
    runner: AgentRunner,
    health: HealthRegistry,
    @Inject(INTERFACE_CLIENTS) private readonly clients: ReadonlyMap<string, unknown>,
    // Only for interfaces built by a forRootAsync factory (unknown when the providers are declared,
    // so they have no client token) and for custom interfaces that still implement attach().
    private readonly moduleRef: ModuleRef,
    metrics: DefinableMetrics,
    approvals: RunApprovals,
    private readonly cluster: DefinableCluster,
  ) {
    // Public /health shows states and restart counts, never raw errors (they can carry phone
    // numbers, internal URLs, tokens): those are in the log and in status().
    health.contribute(() => ({ interfaces: this.status().map(({ lastError: _hidden, ...shown }) => shown) }));
    const names = new Set<string>();
    // With a durable run store, interfaces that name no dedup store keep their chat inbox in its file.
    const runStore = options?.runStore;
    this.sharedInbox = options?.stores?.inbox ?? (runStore instanceof SqliteRunStore && runStore.path !== ':memory:' ? (this.ownInbox = new SqliteDedupStore({ path: runStore.path })) : undefined);
    this.entries = (options?.interfaces ?? []).map((platform) => {
      if (!(platform instanceof MessagingInterface)) {
        throw new TypeError('DefinableModule: interfaces must be TelegramInterface, DiscordInterface, SignalInterface or other MessagingInterface instances.');
      }
      if (names.has(platform.name)) throw new Error(`DefinableModule: two interfaces are named "${platform.name}"; give each a distinct name option.`);
      names.add(platform.name);
      const chosen = platform.options.agent;
      const pipeline = new MessagePipeline(platform, chosen instanceof Agent ? agents.resolve(chosen) : agents.get(chosen), runner, options.identityResolver, this.sharedInbox, approvals, cluster);
      metrics.addQueue(`chat:${platform.name}`, () => pipeline.pending);
      return { platform, pipeline, backoff: new Backoff(), state: 'stopped' as InterfaceState, restarts: 0, generation: 0 };
    });
    metrics.watchInterfaces(() => this.entries.map(({ platform, state, restarts }) => ({ name: platform.name, state, restarts })));
  }

  /** Every interface's state, restart count and last error. */
  status(): InterfaceStatus[] {
    return this.entries.map((entry) => ({
      name: entry.platform.name,
      platform: entry.platform.platform,
      state: entry.state,
      restarts: entry.restarts,
      ...(entry.state === 'restarting' && entry.nextAttemptAt ? { nextAttemptAt: new Date(entry.nextAttemptAt).toISOString() } : {}),
      ...(entry.lastError ? { lastError: entry.lastError } : {}),
      pending: entry.pipeline.pending,
      ...(entry.role ? { role: entry.role } : {}),
    }));
  }

  onApplicationBootstrap(): void {
    const lookup = (token: unknown) => {
      if (token === undefined) return undefined;
      try {
        return this.moduleRef.get(token as string, { strict: false });
      } catch {
        return undefined;
      }
    };
    for (const entry of this.entries) {
      const { platform } = entry;
      try {
        if (this.clients.has(platform.name)) platform.useClient?.(this.clients.get(platform.name));
        else if (platform.resolveClient) platform.useClient?.(platform.resolveClient(lookup(platform.appClientToken?.())));
        platform.attach?.(lookup);
      } catch (error) {
        // A missing platform package, say: the interface is parked, the app runs on.
        this.failed(entry, error);
        continue;
      }
      if (this.cluster.enabled) {
        entry.exclusive = platform.exclusiveKey();
        entry.role = entry.exclusive === undefined ? 'shared' : 'standby';
        // Not awaited, like a launch: the replica that gets the lease receives, the others stand by.
        if (entry.exclusive !== undefined) {
          void this.contend(entry);
          continue;
        }
      }
      // Not awaited: a slow or failing platform never holds up the app. Messages a crash left in the
      // inbox are queued first, so each chat's order holds; they are answered once the interface runs.
      void entry.pipeline
        .recover()
        .catch((error) => this.logger.error(`${platform.name}: could not read the chat inbox: ${redactSecrets(String(error))}`))
        .then(() => this.launch(entry));
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    for (const entry of this.entries) clearTimeout(entry.timer);
    await Promise.all(this.entries.map((entry) => this.quietly(entry, () => entry.platform.stop())));
    // Stopped receiving: a standby replica takes over now, while this one answers what it has (chat locks keep the order).
    await Promise.all(this.entries.map((entry) => entry.lease?.release().catch(() => entry.lease?.stopKeeping())));
    await settleWithin(Promise.all(this.entries.map((entry) => entry.pipeline.drain())), this.options?.shutdownTimeout ?? 10_000);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(
      this.entries.map(async (entry) => {
        entry.pipeline.close();
        await this.quietly(entry, () => entry.platform.close());
        entry.state = 'stopped';
      }),
    );
    await this.ownInbox?.close();
  }

  private async launch(entry: Entry): Promise<void> {
    if (this.stopping) return;
    const generation = ++entry.generation;
    entry.state = 'starting';
    entry.runningSince = undefined;
    try {
      await entry.platform.start({
        receive: (message) => entry.pipeline.receive(message),
        decide: (decision) => entry.pipeline.decide(decision),
        crashed: (error) => {
          if (generation === entry.generation && entry.state === 'running') this.failed(entry, error);
        },
      });
      if (generation !== entry.generation || this.stopping) return;
      entry.state = 'running';
      entry.pipeline.ready();
      entry.runningSince = Date.now();
      this.logger.log(`${entry.platform.name} is running`);
    } catch (error) {
      if (generation === entry.generation) this.failed(entry, error);
    }
  }

  private failed(entry: Entry, thrown: unknown): void {
    if (this.stopping) return;
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    entry.lastError = error.message;
    entry.generation++;
    void this.quietly(entry, () => entry.platform.stop());
    if (error instanceof InterfaceAuthError || error instanceof InterfaceSetupError) {
      entry.state = 'failed';
      // Another replica may try (and, with the same credentials, park too).
      void entry.lease?.release().catch(() => entry.lease?.stopKeeping());
      const fix = error instanceof InterfaceAuthError ? ' Fix the credentials and restart the app.' : '';
      this.logger.error(`${entry.platform.name} stopped for good: ${redactSecrets(error.message)}${fix}`);
      return;
    }
    const ranFor = entry.runningSince === undefined ? 0 : Date.now() - entry.runningSince;
    const delay = entry.backoff.next(ranFor);
    entry.state = 'restarting';
    entry.restarts++;
    entry.nextAttemptAt = Date.now() + delay;
    const kind = error instanceof InterfaceConflictError ? 'conflict' : 'failure';
    this.logger.warn(`${entry.platform.name} ${kind}: ${redactSecrets(error.message)} — restarting in ${delay / 1000} s (restart #${entry.restarts})`);
    entry.timer = setTimeout(() => void this.launch(entry), delay);
  }

  /**
   * On several replicas: takes the interface's lease and receives (first
   * answering what the shared inbox holds unanswered), or stands by and tries
   * again every third of the lease TTL — so when the holder dies without
   * releasing it, a standby replica receives within the TTL.
   */
  private async contend(entry: Entry): Promise<void> {
    if (this.stopping || entry.state === 'failed') return;
    const lease = (entry.lease ??= this.cluster.lease(this.cluster.key('interface', entry.exclusive!)));
    let held = false;
    try {
      held = await lease.acquire();
    } catch (error) {
      this.logger.warn(`${entry.platform.name}: could not reach Redis for the interface's lease: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
    }
    if (this.stopping) {
      if (held) await lease.release().catch(() => undefined);
      return;
    }
    if (!held) {
      entry.role = 'standby';
      entry.state = 'standby';
      entry.timer = setTimeout(() => void this.contend(entry), Math.floor(this.cluster.config!.leaseTtl / 3));
      return;
    }
    entry.role = 'leader';
    this.logger.log(`${entry.platform.name}: this replica holds the lease and receives`);
    lease.keep((reason) => this.demote(entry, reason));
    await entry.pipeline.recover().catch((error) => this.logger.error(`${entry.platform.name}: could not read the chat inbox: ${redactSecrets(String(error))}`));
    await this.launch(entry);
  }

  /** The lease was lost (taken over, or not renewed while Redis was away): stop receiving and stand by. */
  private demote(entry: Entry, reason: string): void {
    if (this.stopping) return;
    this.logger.warn(`${entry.platform.name}: lost the interface's lease (${reason}); standing by`);
    entry.generation++;
    clearTimeout(entry.timer);
    void this.quietly(entry, () => entry.platform.stop());
    entry.role = 'standby';
    entry.state = 'standby';
    entry.timer = setTimeout(() => void this.contend(entry), Math.floor(this.cluster.config!.leaseTtl / 3));
  }

  private async quietly(entry: Entry, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.warn(`${entry.platform.name}: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
    }
  }
}
