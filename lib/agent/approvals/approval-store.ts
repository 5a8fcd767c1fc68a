import type { Message } from '../messages';
import type { ApprovalDecision, ApprovalRecord, ApprovalStatus } from './approval';
import type { ToolCallRecord } from '../run-output';

export type { ApprovalDecision, ApprovalRecord, ApprovalStatus } from './approval';

/**
 * @internal What a paused run needs to go on, as JSON: the conversation so
 * far (history, the new turn up to the paused tool round, its tool results
 * already in), the figures so far, and the calls of the paused round.
 */
export interface PausedRunState {
  input: string;
  metadata: Record<string, unknown>;
  messages: Message[];
  newTurnStart: number;
  system: Message[];
  /** The model steps made so far. */
  steps: number;
  reasoning: string;
  usage: { inputTokens: number; outputTokens: number };
  reasoningTokens: number | null;
  usageReported: boolean;
  toolCalls: ToolCallRecord[];
  references: { id: string; score: number; source?: string; text: string }[];
  /** Milliseconds the run had taken when it paused (its duration goes on from there). */
  elapsedMs: number;
  /**
   * The paused round's calls in the model's order: those that ran (with the
   * result the model gets) and those waiting for a decision.
   */
  round: { id: string; name: string; args: unknown; approvalId?: string; expiresAt?: number; result?: string; error?: string }[];
}

/** A run paused for approvals, as the store keeps it. */
export interface PausedRun {
  runId: string;
  agentName: string;
  sessionId: string;
  userId: string | null;
  pausedAt: number;
  /** `paused`: waiting for decisions; `continuing`: claimed by the process that goes on with it. */
  status: 'paused' | 'continuing';
  state: PausedRunState;
  /** The run's approvals (pending or decided) of the paused round. */
  approvals: ApprovalRecord[];
}

/** Which approvals {@link ApprovalStore.list} returns. */
export interface ApprovalFilter {
  status?: ApprovalStatus;
  /** Only approvals of runs of this user (`null`: runs without a user). */
  userId?: string | null;
  agentName?: string;
  runId?: string;
  /** Only the approval with this id. */
  approvalId?: string;
  /** At most this many, oldest first. Default 100. */
  limit?: number;
}

/**
 * Thrown by approval decisions that cannot be taken: `approval_not_found`
 * (no such approval on that run, or not one the caller may see; no paused
 * run), `approval_decided` (decided already: decisions are single-use),
 * `approval_forbidden` (the caller may not decide it), `approval_pending`
 * (the run cannot go on yet: a decision is missing, or another process is
 * going on with it).
 */
export class ApprovalError extends Error {
  override readonly name = 'ApprovalError';

  constructor(
    readonly code: 'approval_not_found' | 'approval_decided' | 'approval_forbidden' | 'approval_pending',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Where runs paused for approval wait, with their approvals. Decisions are
 * atomic and single-use, and so is going on with a run: of two processes
 * sharing a store, exactly one continues it.
 */
export interface ApprovalStore {
  /** Keeps a paused run and its pending approvals. */
  savePaused(run: PausedRun): Promise<void>;
  /** The paused (or continuing) run, or `null`. */
  getPaused(runId: string): Promise<PausedRun | null>;
  /**
   * Records a decision on a pending approval, atomically: an approval decided
   * already throws {@link ApprovalError} `approval_decided` (whoever decided
   * first wins); an unknown one `approval_not_found`. An approval past its
   * `expiresAt` at `now` is recorded `expired` instead (and the decision is
   * refused with `approval_decided`, its message saying it expired). Returns
   * the approval as recorded.
   */
  decide(runId: string, approvalId: string, decision: ApprovalDecision, now: number): Promise<ApprovalRecord>;
  /** Marks every pending approval past its `expiresAt` `expired`; returns the ids of the runs whose approvals are now all decided. */
  expire(now: number): Promise<string[]>;
  /**
   * Claims a paused run whose approvals are all decided, atomically turning
   * it `continuing`: returns it to the one caller that wins, `null` to the
   * others (and while a decision is pending).
   */
  claim(runId: string): Promise<PausedRun | null>;
  /** Forgets a run that went on (its continuation was recorded, or it failed). */
  remove(runId: string): Promise<void>;
  /** Approvals matching `filter`, oldest first. */
  list(filter?: ApprovalFilter): Promise<ApprovalRecord[]>;
  /** Releases resources. */
  close(): Promise<void>;
}

/**
 * Paused runs in memory: for one process, where a restart may lose them
 * (use a SQLite store to keep them across restarts). Decisions and claims are
 * atomic within the process.
 */
export class InMemoryApprovalStore implements ApprovalStore {
  private readonly runs = new Map<string, PausedRun>();

  async savePaused(run: PausedRun): Promise<void> {
    this.runs.set(run.runId, clone(run));
  }

  async getPaused(runId: string): Promise<PausedRun | null> {
    const run = this.runs.get(runId);
    return run ? clone(run) : null;
  }

  async decide(runId: string, approvalId: string, decision: ApprovalDecision, now: number): Promise<ApprovalRecord> {
    const approval = this.runs.get(runId)?.approvals.find((candidate) => candidate.approvalId === approvalId);
    if (!approval) throw notFound(runId, approvalId);
    if (approval.status === 'pending' && approval.expiresAt <= now) expireApproval(approval, now);
    if (approval.status !== 'pending') throw alreadyDecided(approval);
    Object.assign(approval, decidedFields(decision, now));
    return { ...approval };
  }

  async expire(now: number): Promise<string[]> {
    const settled: string[] = [];
    for (const run of this.runs.values()) {
      let changed = false;
      for (const approval of run.approvals) {
        if (approval.status === 'pending' && approval.expiresAt <= now) {
          expireApproval(approval, now);
          changed = true;
        }
      }
      if (changed && run.approvals.every((approval) => approval.status !== 'pending')) settled.push(run.runId);
    }
    return settled;
  }

  async claim(runId: string): Promise<PausedRun | null> {
    const run = this.runs.get(runId);
    if (!run || run.status !== 'paused' || run.approvals.some((approval) => approval.status === 'pending')) return null;
    run.status = 'continuing';
    return clone(run);
  }

  async remove(runId: string): Promise<void> {
    this.runs.delete(runId);
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const out: ApprovalRecord[] = [];
    for (const run of this.runs.values()) for (const approval of run.approvals) if (matches(approval, filter)) out.push({ ...approval });
    return out.sort((a, b) => a.requestedAt - b.requestedAt).slice(0, filter.limit ?? 100);
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}

/** @internal Whether an approval matches a {@link ApprovalFilter} (stores share the rule). */
export function matches(approval: ApprovalRecord, filter: ApprovalFilter): boolean {
  return (
    (filter.status === undefined || approval.status === filter.status) &&
    (filter.userId === undefined || approval.userId === filter.userId) &&
    (filter.agentName === undefined || approval.agentName === filter.agentName) &&
    (filter.runId === undefined || approval.runId === filter.runId) &&
    (filter.approvalId === undefined || approval.approvalId === filter.approvalId)
  );
}

/** @internal The fields a decision sets. */
export function decidedFields(decision: ApprovalDecision, now: number): Pick<ApprovalRecord, 'status' | 'decidedAt' | 'decidedBy' | 'reason'> {
  return {
    status: decision.approve ? 'approved' : 'rejected',
    decidedAt: now,
    decidedBy: decision.decidedBy,
    ...(decision.reason ? { reason: decision.reason } : {}),
  };
}

/** @internal Marks an approval expired (rejected for it, by nobody). */
export function expireApproval(approval: ApprovalRecord, now: number): void {
  Object.assign(approval, { status: 'expired', decidedAt: now, decidedBy: 'system', reason: 'expired' });
}

/** @internal The error for an unknown approval. */
export function notFound(runId: string, approvalId: string): ApprovalError {
  return new ApprovalError('approval_not_found', `No approval "${approvalId.slice(0, 80)}" on run "${runId.slice(0, 80)}" that you can see: check both ids (GET /approvals lists yours).`);
}

/** @internal The error for a decision on an approval decided already. */
export function alreadyDecided(approval: ApprovalRecord): ApprovalError {
  const how = approval.status === 'expired' ? `expired at ${new Date(approval.expiresAt).toISOString()}` : `was ${approval.status} by ${approval.decidedBy ?? 'someone'}`;
  return new ApprovalError('approval_decided', `Approval "${approval.approvalId}" ${how}: a decision is taken once.`);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}
