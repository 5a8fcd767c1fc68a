import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Agent } from '../../agent';
import type { ApprovalFilter, ApprovalRecord, ApprovalStore } from '../../agent/approvals/approval-store';
import { ApprovalError } from '../../agent/approvals/approval-store';
import { SqliteApprovalStore } from '../../agent/approvals/sqlite-approval-store';
import type { AuthContext } from '../../auth/auth-provider';
import type { ApproverRule } from './approvals-options';
import { AgentRegistry } from '../agent.registry';
import { AgentRunner } from '../agent.runner';
import type { DefinableModuleOptions } from '../definable-module.options';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import { RunRecorder } from '../runs/run-recorder';
import { SqliteRunStore } from '../runs/sqlite-run-store';
import type { RunRecord } from '../runs/run-store';

/** How often approvals past their time are expired and decided runs left paused are taken up. */
const SWEEP_INTERVAL_MS = 60_000;

/** What {@link RunApprovals.decide} answers. */
export interface ApprovalOutcome {
  approval: ApprovalRecord;
  /** The run went on (every approval of its round decided): follow it with `GET /runs/:id/events`. */
  continued: boolean;
}

/**
 * What a listener of {@link RunApprovals.listen} hears. Each callback is
 * optional; one that throws (or rejects) is logged and never fails the
 * decision or the run.
 */
export interface ApprovalListener {
  /**
   * An approval was decided — over HTTP, in a chat, from code through
   * {@link RunApprovals.decide} — or expired (`status: 'expired'`, found by
   * {@link RunApprovals.sweep}).
   */
  decided?(approval: ApprovalRecord): void | Promise<void>;
  /**
   * A continuation this service started (after a decision, or in a sweep)
   * ended — or paused again (`record.status === 'paused'`). `record.output`
   * holds its content and the run's `metadata` (a chat run's `platform`,
   * `chatId`, `messageId`).
   */
  ended?(runId: string, record: RunRecord): void | Promise<void>;
}

/**
 * The module's side of tool approvals: who may decide, the decision (single
 * use), the continuation of a run once its approvals are decided (through
 * {@link AgentRunner.continue}), the listing of what a caller may decide, and
 * the expiry of undecided approvals. Agents keep their paused runs in their
 * `approvals.store`; agents on the default in-memory store get a
 * `SqliteApprovalStore` on the module's `SqliteRunStore` file when it has
 * one, so paused runs survive restarts with the runs. At start, runs whose
 * approvals were all decided but which never went on (the process stopped)
 * go on.
 */
@Injectable()
export class RunApprovals implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Approvals');
  private readonly approver?: ApproverRule;
  private owned?: SqliteApprovalStore;
  private readonly sharedApprovals: boolean;
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<ApprovalListener>();
  /** Expired approvals the listeners heard of (whoever expired them: a sweep, or a run going on). */
  private readonly expiredHeard = new WeakMap<ApprovalStore, Set<string>>();

  constructor(
    private readonly agents: AgentRegistry,
    private readonly runner: AgentRunner,
    private readonly recorder: RunRecorder,
    @Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions,
  ) {
    this.approver = options?.approvals?.approver;
    this.sharedApprovals = options?.stores?.approvals !== undefined;
    if (this.approver !== undefined && typeof this.approver !== 'function') {
      throw new TypeError('DefinableModule option approvals.approver must be a function (principal, approval) => boolean.');
    }
  }

  onModuleInit(): void {
    const store = this.recorder.store;
    // The module's shared stores give their approval store (SharedStores), not a file.
    if (!(store instanceof SqliteRunStore) || this.sharedApprovals) return;
    for (const agent of this.agents.all()) {
      if (!agent.usesDefaultApprovalStore) continue;
      this.owned ??= new SqliteApprovalStore({ path: store.path });
      agent.useApprovalStore(this.owned);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.owned?.close();
  }

  /**
   * Decides an approval for `principal` (undefined without auth) and, when
   * the run's approvals are all decided, lets the run go on before resolving.
   * Throws {@link ApprovalError}: `approval_not_found` for an approval the
   * caller cannot see (as for an unknown one), `approval_forbidden` when
   * it may see but not decide it, `approval_decided` when decided already.
   */
  async decide(runId: string, approvalId: string, decision: { approve: boolean; reason?: string }, principal?: AuthContext): Promise<ApprovalOutcome> {
    const { agent, approval } = await this.find(runId, approvalId);
    const visible = this.visible(principal, approval);
    const allowed = this.approver ? (await this.approver(principal, approval)) === true : visible;
    if (!allowed) {
      if (!visible) throw notFound(runId, approvalId);
      throw new ApprovalError('approval_forbidden', `You may not decide approval "${approvalId}" (the approvals.approver rule of this server refuses it).`);
    }
    const { approval: decided, ready } = await agent.decide(runId, approvalId, { ...decision, decidedBy: principal?.userId ?? 'anonymous' });
    this.notify((listener) => listener.decided?.(decided));
    const continued = ready ? await this.goOn(runId, agent.name) : false;
    return { approval: decided, continued };
  }

  /**
   * Listens to decisions (wherever they were made) and to the ends of the
   * continuations this service starts — how a chat edits the approval
   * message it sent and gets the run's answer. Returns a function that stops
   * listening.
   */
  listen(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * The approval with this id (any run, any agent, any status), or `null`:
   * for a chat reply that quotes only the approval's id. Nobody's permission
   * is checked here — {@link RunApprovals.decide} does that.
   */
  async lookup(approvalId: string): Promise<ApprovalRecord | null> {
    for (const store of this.stores()) {
      const [found] = await store.list({ approvalId, limit: 1 });
      if (found) return found;
    }
    return null;
  }

  /**
   * The approvals `principal` may decide (or see): its own runs', every one
   * for a trusted principal or without auth, and with an `approver` rule
   * those it allows. Oldest first.
   */
  async list(principal: AuthContext | undefined, filter: Omit<ApprovalFilter, 'userId'> = {}): Promise<ApprovalRecord[]> {
    const out: ApprovalRecord[] = [];
    const seen = new Set<string>();
    const own = principal && !principal.trusted && !this.approver ? { userId: principal.userId } : {};
    for (const store of this.stores()) {
      for (const approval of await store.list({ ...filter, ...own })) {
        const key = `${approval.runId}/${approval.approvalId}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (this.approver ? (await this.approver(principal, approval)) === true || this.visible(principal, approval) : true) out.push(approval);
      }
    }
    return out.sort((a, b) => a.requestedAt - b.requestedAt).slice(0, filter.limit ?? 100);
  }

  /**
   * Expires approvals past their time and lets go on every run whose
   * approvals are all decided but which is still paused (decided just before
   * a stop, or now expired). Runs on start and every minute.
   */
  async sweep(): Promise<void> {
    try {
      const now = Date.now();
      for (const store of this.stores()) {
        const runs = new Set(await store.expire(now));
        await this.announceExpired(store);
        for (const status of ['approved', 'rejected', 'expired'] as const) for (const approval of await store.list({ status })) runs.add(approval.runId);
        for (const runId of runs) {
          const paused = await store.getPaused(runId);
          if (paused?.status === 'paused' && paused.approvals.every((approval) => approval.status !== 'pending')) await this.goOn(runId, paused.agentName);
        }
      }
    } catch (error) {
      this.logger.error(`Taking up decided approvals failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Lets a decided run go on; its listeners hear when the continuation ends. */
  private async goOn(runId: string, agentName: string): Promise<boolean> {
    const continuation = await this.runner.continuation(runId, agentName);
    if (!continuation) return false;
    void continuation.ended.then((record) => this.notify((listener) => listener.ended?.(runId, record)));
    return true;
  }

  /** Tells the listeners of approvals that expired since the last sweep. */
  private async announceExpired(store: ApprovalStore): Promise<void> {
    const heard = this.expiredHeard.get(store) ?? new Set<string>();
    this.expiredHeard.set(store, heard);
    const listed = new Set<string>();
    for (const approval of await store.list({ status: 'expired', limit: Number.MAX_SAFE_INTEGER })) {
      const key = `${approval.runId}/${approval.approvalId}`;
      listed.add(key);
      if (heard.has(key)) continue;
      heard.add(key);
      this.notify((listener) => listener.decided?.(approval));
    }
    // Runs that went on left the store, and their keys are no longer needed.
    for (const key of heard) if (!listed.has(key)) heard.delete(key);
  }

  /** Calls every listener; a failing one is logged. */
  private notify(call: (listener: ApprovalListener) => void | Promise<void>): void {
    for (const listener of this.listeners) {
      void (async () => call(listener))().catch((error: unknown) => this.logger.error(`An approval listener failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  /** The agent of a paused run and one of its approvals; `approval_not_found` otherwise. */
  private async find(runId: string, approvalId: string): Promise<{ agent: Agent; approval: ApprovalRecord }> {
    for (const store of this.stores()) {
      const paused = await store.getPaused(runId);
      const agent = paused ? this.agents.find(paused.agentName) : undefined;
      const approval = paused?.approvals.find((candidate) => candidate.approvalId === approvalId);
      if (agent && approval && agent.approvalStore === store) return { agent, approval };
    }
    throw notFound(runId, approvalId);
  }

  private visible(principal: AuthContext | undefined, approval: ApprovalRecord): boolean {
    return !principal || principal.trusted === true || principal.userId === approval.userId;
  }

  private stores(): ApprovalStore[] {
    return [...new Set(this.agents.all().map((agent) => agent.approvalStore))];
  }
}

function notFound(runId: string, approvalId: string): ApprovalError {
  return new ApprovalError(
    'approval_not_found',
    `No approval "${approvalId.slice(0, 80)}" on run "${runId.slice(0, 80)}" that you can see: check both ids (GET /approvals lists yours).`,
  );
}
