import type { ApprovalStore, SessionStore } from '../agent';
import type { DedupStore } from '../interfaces/dedup-store';
import type { RunStore } from './runs/run-store';

/**
 * The module's `stores` option: stores shared by every replica of the app,
 * each used where nothing more specific was given — `postgresStores()` makes
 * one on PostgreSQL. Closed with the app (`close`).
 */
export interface DefinableStores {
  /** History of the agents that have no `sessionStore` of their own. */
  readonly sessions?: SessionStore;
  /** The run store, unless the module's `runStore` is given. */
  readonly runs?: RunStore;
  /** The chat inbox (and dedup store) of interfaces that name no `dedup`. */
  readonly inbox?: DedupStore;
  /** Runs paused for approval, of agents that have no `approvals.store` of their own. */
  readonly approvals?: ApprovalStore;
  /** Whether the stores' database answers now: `/health/ready` is 503 while it does not. */
  ping?(): Promise<boolean>;
  /** Closes the stores (and their connections) at shutdown, after the runs have drained. */
  close?(): Promise<void>;
}
