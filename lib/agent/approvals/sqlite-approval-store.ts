import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../sessions/open-sqlite';
import { alreadyDecided, decidedFields, notFound } from './approval-store';
import { EXPIRED, fromApprovalRow, type ApprovalRow } from './approval-row';
import type { ApprovalDecision, ApprovalFilter, ApprovalRecord, ApprovalStore, PausedRun, PausedRunState } from './approval-store';

/**
 * Options of {@link SqliteApprovalStore}.
 *
 * @example
 * ```ts
 * const options: SqliteApprovalStoreOptions = { path: './agent.db', tablePrefix: 'myapp_' };
 * const approvals = new SqliteApprovalStore(options);
 * ```
 */
export interface SqliteApprovalStoreOptions {
  /** The database file (created if missing); it may be shared with the other SQLite stores, and with other processes. */
  path: string;
  /** Prefix of the store's table names, to share a database file. Default `definable_`. */
  tablePrefix?: string;
}

interface RunRow {
  run_id: string;
  agent_name: string;
  session_id: string;
  user_id: string | null;
  paused_at: number;
  status: PausedRun['status'];
  state: string;
}



/** What a decision's transaction found: the record as it stands after it, and whether the decision was taken. */
type Decided = { found: false } | { found: true; taken: boolean; record: ApprovalRecord };

/**
 * A durable {@link ApprovalStore} on `better-sqlite3` (an optional peer
 * dependency: `npm install better-sqlite3`): runs paused for approval and
 * their approvals survive a restart, and several processes may share the
 * file. Every method is one SQLite transaction, and those that read and then
 * write take the write lock first (`BEGIN IMMEDIATE`), so a decision is
 * single-use and a paused run is claimed by exactly one caller across every
 * process and store instance on the file.
 *
 * @example
 * ```ts
 * import { SqliteApprovalStore } from 'nestjs-definable';
 *
 * const approvals = new SqliteApprovalStore({ path: './agent.db' });
 * const pending = await approvals.list({ status: 'pending', userId: 'alice' });
 * await approvals.decide(pending[0].runId, pending[0].approvalId, { approve: true, decidedBy: 'alice' }, Date.now());
 * const run = await approvals.claim(pending[0].runId); // the paused run for the one caller that goes on with it, else null
 * await approvals.close();
 * ```
 */
export class SqliteApprovalStore implements ApprovalStore {
  private readonly db: BetterSqlite3.Database;
  private readonly tables: { runs: string; approvals: string };
  private readonly statements: Record<
    | 'upsertRun'
    | 'insertApproval'
    | 'getRun'
    | 'runApprovals'
    | 'getApproval'
    | 'setDecision'
    | 'overdueRuns'
    | 'expireOverdue'
    | 'pendingCount'
    | 'claim'
    | 'deleteApprovals'
    | 'deleteRun',
    BetterSqlite3.Statement
  >;
  /** The list queries, one per combination of filter fields, prepared when first asked for. */
  private readonly listStatements = new Map<string, BetterSqlite3.Statement>();
  private readonly saveTx: BetterSqlite3.Transaction<(run: PausedRun) => void>;
  private readonly getTx: BetterSqlite3.Transaction<(runId: string) => PausedRun | null>;
  private readonly decideTx: BetterSqlite3.Transaction<(runId: string, approvalId: string, decision: ApprovalDecision, now: number) => Decided>;
  private readonly expireTx: BetterSqlite3.Transaction<(now: number) => string[]>;
  private readonly claimTx: BetterSqlite3.Transaction<(runId: string) => PausedRun | null>;
  private readonly removeTx: BetterSqlite3.Transaction<(runId: string) => void>;

  constructor(options: SqliteApprovalStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteApprovalStore needs a file path, e.g. new SqliteApprovalStore({ path: './agent.db' }).");
    }
    const prefix = options.tablePrefix ?? 'definable_';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
      throw new TypeError(`SqliteApprovalStore: tablePrefix "${prefix}" must be letters, digits and "_".`);
    }
    const runs = `${prefix}paused_runs`;
    const approvals = `${prefix}approvals`;
    this.tables = { runs, approvals };
    this.db = openSqlite(options.path, 'SqliteApprovalStore');
    try {
      this.db.exec(schema(runs, approvals));
    } catch (error) {
      this.db.close();
      throw error;
    }
    const approvalColumns =
      'run_id, approval_id, position, agent_name, session_id, user_id, tool_name, tool_call_id, args, status, requested_at, expires_at, decided_at, decided_by, reason';
    this.statements = {
      upsertRun: this.db.prepare(
        `INSERT INTO ${runs} (run_id, agent_name, session_id, user_id, paused_at, status, state)
         VALUES (@runId, @agentName, @sessionId, @userId, @pausedAt, @status, @state)
         ON CONFLICT (run_id) DO UPDATE SET agent_name = excluded.agent_name, session_id = excluded.session_id, user_id = excluded.user_id,
           paused_at = excluded.paused_at, status = excluded.status, state = excluded.state`,
      ),
      insertApproval: this.db.prepare(
        `INSERT INTO ${approvals} (${approvalColumns})
         VALUES (@runId, @approvalId, @position, @agentName, @sessionId, @userId, @toolName, @toolCallId, @args, @status, @requestedAt, @expiresAt, @decidedAt, @decidedBy, @reason)`,
      ),
      getRun: this.db.prepare(`SELECT run_id, agent_name, session_id, user_id, paused_at, status, state FROM ${runs} WHERE run_id = ?`),
      runApprovals: this.db.prepare(`SELECT ${approvalColumns} FROM ${approvals} WHERE run_id = ? ORDER BY position`),
      getApproval: this.db.prepare(`SELECT ${approvalColumns} FROM ${approvals} WHERE run_id = ? AND approval_id = ?`),
      // Conditional on `pending`: a decision never overwrites another, whatever happened before it.
      setDecision: this.db.prepare(
        `UPDATE ${approvals} SET status = @status, decided_at = @decidedAt, decided_by = @decidedBy, reason = @reason
         WHERE run_id = @runId AND approval_id = @approvalId AND status = 'pending'`,
      ),
      overdueRuns: this.db.prepare(
        `SELECT DISTINCT a.run_id FROM ${approvals} a JOIN ${runs} r ON r.run_id = a.run_id
         WHERE a.status = 'pending' AND a.expires_at <= ? ORDER BY r.paused_at, a.run_id`,
      ),
      expireOverdue: this.db.prepare(
        `UPDATE ${approvals} SET status = @status, decided_at = @now, decided_by = @decidedBy, reason = @reason
         WHERE status = 'pending' AND expires_at <= @now`,
      ),
      pendingCount: this.db.prepare(`SELECT COUNT(*) AS n FROM ${approvals} WHERE run_id = ? AND status = 'pending'`),
      // One statement decides who wins: only a paused run with nothing pending turns continuing, once.
      claim: this.db.prepare(
        `UPDATE ${runs} SET status = 'continuing'
         WHERE run_id = @runId AND status = 'paused'
           AND NOT EXISTS (SELECT 1 FROM ${approvals} WHERE run_id = @runId AND status = 'pending')`,
      ),
      deleteApprovals: this.db.prepare(`DELETE FROM ${approvals} WHERE run_id = ?`),
      deleteRun: this.db.prepare(`DELETE FROM ${runs} WHERE run_id = ?`),
    };

    this.saveTx = this.db.transaction((run: PausedRun) => {
      this.statements.upsertRun.run({
        runId: run.runId,
        agentName: run.agentName,
        sessionId: run.sessionId,
        userId: run.userId,
        pausedAt: run.pausedAt,
        status: run.status,
        state: JSON.stringify(run.state),
      });
      // Saving again replaces the run's approvals, as the in-memory store does.
      this.statements.deleteApprovals.run(run.runId);
      for (const [position, approval] of run.approvals.entries()) {
        this.statements.insertApproval.run({
          runId: run.runId,
          approvalId: approval.approvalId,
          position,
          agentName: approval.agentName,
          sessionId: approval.sessionId,
          userId: approval.userId,
          toolName: approval.toolName,
          toolCallId: approval.toolCallId,
          args: approval.args === undefined ? null : JSON.stringify(approval.args),
          status: approval.status,
          requestedAt: approval.requestedAt,
          expiresAt: approval.expiresAt,
          decidedAt: approval.decidedAt ?? null,
          decidedBy: approval.decidedBy ?? null,
          reason: approval.reason ?? null,
        });
      }
    });
    // Read in one transaction, so the run and its approvals are of one moment.
    this.getTx = this.db.transaction((runId: string) => this.readRun(runId));
    this.decideTx = this.db.transaction((runId: string, approvalId: string, decision: ApprovalDecision, now: number): Decided => {
      const row = this.statements.getApproval.get(runId, approvalId) as ApprovalRow | undefined;
      if (!row) return { found: false };
      const record = fromApprovalRow(row);
      if (record.status === 'pending' && record.expiresAt <= now) {
        // The expiry is recorded (and committed) even though the decision is refused. Only this one:
        // other overdue approvals stay for expire(), which reports the runs they settle.
        this.statements.setDecision.run({ runId, approvalId, ...EXPIRED, decidedAt: now });
        return { found: true, taken: false, record: this.approval(runId, approvalId) };
      }
      if (record.status !== 'pending') return { found: true, taken: false, record };
      const fields = decidedFields(decision, now);
      this.statements.setDecision.run({ runId, approvalId, status: fields.status, decidedAt: fields.decidedAt, decidedBy: fields.decidedBy, reason: fields.reason ?? null });
      return { found: true, taken: true, record: this.approval(runId, approvalId) };
    });
    this.expireTx = this.db.transaction((now: number) => {
      const runIds = (this.statements.overdueRuns.all(now) as { run_id: string }[]).map((row) => row.run_id);
      if (runIds.length === 0) return [];
      this.statements.expireOverdue.run({ ...EXPIRED, now });
      return runIds.filter((runId) => (this.statements.pendingCount.get(runId) as { n: number }).n === 0);
    });
    this.claimTx = this.db.transaction((runId: string) => (this.statements.claim.run({ runId }).changes === 1 ? this.readRun(runId) : null));
    this.removeTx = this.db.transaction((runId: string) => {
      this.statements.deleteApprovals.run(runId);
      this.statements.deleteRun.run(runId);
    });
  }

  async savePaused(run: PausedRun): Promise<void> {
    this.saveTx.immediate(run);
  }

  async getPaused(runId: string): Promise<PausedRun | null> {
    return this.getTx.deferred(runId);
  }

  async decide(runId: string, approvalId: string, decision: ApprovalDecision, now: number): Promise<ApprovalRecord> {
    // IMMEDIATE: the write lock is taken before the read, so two processes never both read `pending`.
    const outcome = this.decideTx.immediate(runId, approvalId, decision, now);
    if (!outcome.found) throw notFound(runId, approvalId);
    if (!outcome.taken) throw alreadyDecided(outcome.record);
    return outcome.record;
  }

  async expire(now: number): Promise<string[]> {
    return this.expireTx.immediate(now);
  }

  async claim(runId: string): Promise<PausedRun | null> {
    return this.claimTx.immediate(runId);
  }

  async remove(runId: string): Promise<void> {
    this.removeTx.immediate(runId);
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.max(0, Math.floor(filter.limit ?? 100)) };
    if (filter.status !== undefined) {
      where.push('status = @status');
      params.status = filter.status;
    }
    if (filter.userId !== undefined) {
      // `IS` compares NULL (runs without a user) as a value.
      where.push('user_id IS @userId');
      params.userId = filter.userId;
    }
    if (filter.agentName !== undefined) {
      where.push('agent_name = @agentName');
      params.agentName = filter.agentName;
    }
    if (filter.runId !== undefined) {
      where.push('run_id = @runId');
      params.runId = filter.runId;
    }
    if (filter.approvalId !== undefined) {
      where.push('approval_id = @approvalId');
      params.approvalId = filter.approvalId;
    }
    const key = where.join(' AND ');
    let statement = this.listStatements.get(key);
    if (!statement) {
      statement = this.db.prepare(
        `SELECT * FROM ${this.tables.approvals} ${key ? `WHERE ${key}` : ''} ORDER BY requested_at, run_id, position LIMIT @limit`,
      );
      this.listStatements.set(key, statement);
    }
    return (statement.all(params) as ApprovalRow[]).map(fromApprovalRow);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private readRun(runId: string): PausedRun | null {
    const row = this.statements.getRun.get(runId) as RunRow | undefined;
    if (!row) return null;
    return {
      runId: row.run_id,
      agentName: row.agent_name,
      sessionId: row.session_id,
      userId: row.user_id,
      pausedAt: row.paused_at,
      status: row.status,
      state: JSON.parse(row.state) as PausedRunState,
      approvals: (this.statements.runApprovals.all(runId) as ApprovalRow[]).map(fromApprovalRow),
    };
  }

  private approval(runId: string, approvalId: string): ApprovalRecord {
    return fromApprovalRow(this.statements.getApproval.get(runId, approvalId) as ApprovalRow);
  }
}

/**
 * The tables: a paused run (its state as JSON) and its approvals, one row
 * each, keyed by run and approval id (the contract looks an approval up by
 * both), `position` keeping the round's order. Indexes serve the listing by
 * status and by user, oldest first, and the expiry sweep over pending ones.
 */
function schema(runs: string, approvals: string): string {
  return `
    CREATE TABLE IF NOT EXISTS ${runs} (
      run_id TEXT PRIMARY KEY,
      agent_name TEXT NOT NULL,
      session_id TEXT NOT NULL,
      user_id TEXT,
      paused_at INTEGER NOT NULL,
      status TEXT NOT NULL,
      state TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ${approvals} (
      run_id TEXT NOT NULL,
      approval_id TEXT NOT NULL,
      position INTEGER NOT NULL,
      agent_name TEXT NOT NULL,
      session_id TEXT NOT NULL,
      user_id TEXT,
      tool_name TEXT NOT NULL,
      tool_call_id TEXT NOT NULL,
      args TEXT,
      status TEXT NOT NULL,
      requested_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      decided_at INTEGER,
      decided_by TEXT,
      reason TEXT,
      PRIMARY KEY (run_id, approval_id)
    );
    CREATE INDEX IF NOT EXISTS ${approvals}_by_status ON ${approvals}(status, requested_at);
    CREATE INDEX IF NOT EXISTS ${approvals}_by_user ON ${approvals}(user_id, requested_at);
    CREATE INDEX IF NOT EXISTS ${approvals}_pending_expiry ON ${approvals}(expires_at) WHERE status = 'pending';
  `;
}

