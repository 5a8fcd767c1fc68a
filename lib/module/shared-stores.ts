import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AgentRegistry } from './agent.registry';
import { DefinableCluster } from './cluster/definable-cluster';
import type { DefinableModuleOptions } from './definable-module.options';
import { DEFINABLE_OPTIONS } from './definable.module-definition';
import type { DefinableStores } from './definable-stores';
import { HealthRegistry } from './health.registry';

/** How often the stores' database and Redis are asked whether they answer, for `/health`. */
const PROBE_INTERVAL_MS = 5_000;

/**
 * The module's `stores` (see `postgresStores()`) and `cluster` connections as
 * the rest of the app sees them: agents without a session or approval store
 * of their own get the shared ones at start; `/health` shows whether the
 * database and Redis answer, and `/health/ready` is 503 while one does not;
 * the stores are closed at shutdown, after the run store (by `RunRecorder`).
 */
@Injectable()
export class SharedStores implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Stores');
  private readonly stores?: DefinableStores;
  private database: 'up' | 'down' | 'unknown' = 'unknown';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions,
    private readonly agents: AgentRegistry,
    private readonly cluster: DefinableCluster,
    health: HealthRegistry,
  ) {
    this.stores = options?.stores;
    if (this.stores !== undefined && (typeof this.stores !== 'object' || this.stores === null)) {
      throw new TypeError('DefinableModule: stores must be a DefinableStores object, e.g. stores: postgresStores({ connectionString }).');
    }
    if (this.stores?.ping || cluster.enabled) {
      health.contribute(() => ({
        ...(cluster.enabled ? { cluster: { replica: cluster.replicaId, redis: cluster.redisState } } : {}),
        ...(this.stores?.ping ? { stores: this.database } : {}),
      }));
      health.readiness(() => this.unreachable());
    }
  }

  onModuleInit(): void {
    const { stores } = this;
    if (this.cluster.enabled && !stores?.sessions) {
      const local = this.agents.all().filter((agent) => agent.usesDefaultSessionStore);
      if (local.length) {
        this.logger.warn(
          `the app runs on several replicas (cluster) and ${local.map((agent) => agent.name).join(', ')} keep${local.length === 1 ? 's' : ''} sessions in this process's memory: a conversation continued on another replica starts without its history. Give the module shared stores (stores: postgresStores({ connectionString })).`,
        );
      }
    }
    if (!stores) return;
    for (const agent of this.agents.all()) {
      if (stores.sessions && agent.usesDefaultSessionStore) agent.useSessionStore(stores.sessions);
      if (stores.approvals && agent.usesDefaultApprovalStore) agent.useApprovalStore(stores.approvals);
    }
    if (stores.ping) {
      const probe = () => void this.probe();
      probe();
      this.timer = setInterval(probe, PROBE_INTERVAL_MS).unref();
    }
  }

  onApplicationShutdown(): void {
    // The stores themselves are closed by the RunRecorder, after the run store.
    if (this.timer) clearInterval(this.timer);
  }

  /** What does not answer now (`redis`, `database`): the app is not ready while anything does not. */
  private async unreachable(): Promise<string[]> {
    const [redis, database] = await Promise.all([this.cluster.enabled ? this.cluster.ping() : true, this.probe()]);
    return [...(redis ? [] : ['redis']), ...(database ? [] : ['database'])];
  }

  private async probe(): Promise<boolean> {
    if (!this.stores?.ping) return true;
    const up = await this.stores.ping().catch(() => false);
    if (!up && this.database !== 'down') this.logger.error('the stores\' database does not answer');
    else if (up && this.database === 'down') this.logger.log('the stores\' database answers again');
    this.database = up ? 'up' : 'down';
    return up;
  }
}
