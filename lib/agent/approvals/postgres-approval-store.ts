import { PostgresTables, transaction, type PostgresPool } from '../sessions/postgres-pool';
import { alreadyDecided, ApprovalError, decidedFields, notFound } from './approval-store';
import { EXPIRED, fromApprovalRow, type ApprovalRow } from './approval-row';
import type { ApprovalDecision, ApprovalFilter, ApprovalRecord, ApprovalStore, PausedRun, PausedRunState } from './approval-store';

/**
 * Options of {@link PostgresApprovalStore}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresApprovalStore, type PostgresApprovalStoreOptions } from 'nestjs-definable';
 *
 * const options: PostgresApprovalStoreOptions = { connectionString: 'postgres://app@db:5432/app', schema: 'definable' };
 * const approvals = new PostgresApprovalStore(options);
 * ```
 */
export interface PostgresApprovalStoreOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The store borrows it:
   * {@link PostgresApprovalStore.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the store's own, ended by {@link PostgresApprovalStore.close}. */
  connectionString?: string;
  /** The schema of the store's tables, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table names (`<prefix>paused_runs`, `<prefix>approvals`), to share a schema. Default none. */
  tablePrefix?: string;
}

interface RunRow {
  run_id: string;
  agent_name: string;
  session_id: string;
  user_id: string | null;
  paused_at: string | number;
  status: PausedRun['status'];
  state: PausedRunState;
  /** The run's approvals in order, from a JSON aggregate (numbers as numbers), or null when it has none. */
  approvals: ApprovalRow[] | null;
}



/** The columns of an approval as {@link fromApprovalRow} reads them. */
const APPROVAL_COLUMNS =
  'run_id, approval_id, agent_name, session_id, user_id, tool_name, tool_call_id, args::text AS args, status, requested_at, expires_at, decided_at, decided_by, reason';

/** The longest name made from the table prefix (an index of the approvals table). */
const LONGEST_NAME = 'approvals_pending_expiry';

/**
 * An {@link ApprovalStore} on PostgreSQL through `pg` (an optional peer
 * dependency: `npm install pg`), for apps on several replicas: a run paused
 * on one replica can be decided through another and continued by whichever
 * claims it first.
 *
 * Two tables, created on first use under an advisory lock: paused runs (their
 * state as `json`, kept as written) and their approvals, keyed by run and
 * approval id, deleted with their run. A decision is one conditional update
 * of a `pending` row: the row lock makes concurrent decisions queue up, and
 * each one after the first finds the approval decided (`approval_decided`).
 * A claim is one update of a `paused` run with nothing pending, so of
 * concurrent claims from any replica exactly one gets the run.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { Agent, OpenAIChat, PostgresApprovalStore } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const agent = new Agent({
 *   model: new OpenAIChat({ id: 'gpt-4o-mini' }),
 *   approvals: { store: new PostgresApprovalStore({ pool }) },
 * });
 * ```
 */
export class PostgresApprovalStore implements ApprovalStore {
  private readonly connection: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly runs: string;
  private readonly approvals: string;

  constructor(options: PostgresApprovalStoreOptions) {
    this.connection = new PostgresTables(options, 'PostgresApprovalStore', LONGEST_NAME, (c) => this.ddl(c), (message, cause) =>
      // The contract's own refusals (approval_decided…) pass as they are.
      cause instanceof ApprovalError ? cause : new Error(`PostgreSQL approval store failed: ${message}`, { cause }),
    );
    this.pool = this.connection.pool;
    this.runs = this.connection.table('paused_runs');
    this.approvals = this.connection.table('approvals');
  }

  async savePaused(run: PausedRun): Promise<void> {
    await this.connection.use(() =>
      transaction(this.pool, async (client) => {
        // Saving again replaces the run's approvals, as the in-memory store does.
        await client.query(
          `WITH run AS (
             INSERT INTO ${this.runs} (run_id, agent_name, session_id, user_id, paused_at, status, state) VALUES ($1, $2, $3, $4, $5, $6, $7::json)
             ON CONFLICT (run_id) DO UPDATE SET agent_name = EXCLUDED.agent_name, session_id = EXCLUDED.session_id, user_id = EXCLUDED.user_id,
               paused_at = EXCLUDED.paused_at, status = EXCLUDED.status, state = EXCLUDED.state
           )
           DELETE FROM ${this.approvals} WHERE run_id = $1`,
          [run.runId, run.agentName, run.sessionId, run.userId, run.pausedAt, run.status, JSON.stringify(run.state)],
        );
        if (run.approvals.length === 0) return;
        const column = <T>(pick: (approval: ApprovalRecord) => T) => run.approvals.map(pick);
        // All of them in one insert, a column per array.
        await client.query(
          `INSERT INTO ${this.approvals} (run_id, approval_id, position, agent_name, session_id, user_id, tool_name, tool_call_id, args,
             status, requested_at, expires_at, decided_at, decided_by, reason)
           SELECT $1, a.approval_id, a.i - 1, a.agent_name, a.session_id, a.user_id, a.tool_name, a.tool_call_id, a.args,
             a.status, a.requested_at, a.expires_at, a.decided_at, a.decided_by, a.reason
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::json[], $9::text[], $10::bigint[], $11::bigint[],
             $12::bigint[], $13::text[], $14::text[])
             WITH ORDINALITY AS a(approval_id, agent_name, session_id, user_id, tool_name, tool_call_id, args, status, requested_at, expires_at,
               decided_at, decided_by, reason, i)`,
          [
            run.runId,
            column((a) => a.approvalId),
            column((a) => a.agentName),
            column((a) => a.sessionId),
            column((a) => a.userId),
            column((a) => a.toolName),
            column((a) => a.toolCallId),
            column((a) => (a.args === undefined ? null : JSON.stringify(a.args))),
            column((a) => a.status),
            column((a) => a.requestedAt),
            column((a) => a.expiresAt),
            column((a) => a.decidedAt ?? null),
            column((a) => a.decidedBy ?? null),
            column((a) => a.reason ?? null),
          ],
        );
      }),
    );
  }

  async getPaused(runId: string): Promise<PausedRun | null> {
    return this.connection.use(async () => {
      // One statement, so the run and its approvals are of one moment.
      const { rows } = await this.pool.query(`SELECT r.*, ${this.approvalsOf('r')} AS approvals FROM ${this.runs} r WHERE r.run_id = $1`, [runId]);
      return rows.length ? fromRunRow(rows[0] as RunRow) : null;
    });
  }

  async decide(runId: string, approvalId: string, decision: ApprovalDecision, now: number): Promise<ApprovalRecord> {
    /** The decision as recorded, or null when the approval was found pending again (the run saved anew meanwhile). */
    const attempt = async (): Promise<ApprovalRecord | null> => {
      const fields = decidedFields(decision, now);
      const overdue = 'expires_at <= $3';
      // Conditional on `pending`: the first decision takes the row's lock, the others wait for it and then find it decided.
      // One past its time is recorded expired (only this one: expire() reports the runs the others settle).
      const { rows } = await this.pool.query(
        `UPDATE ${this.approvals} SET
           status = CASE WHEN ${overdue} THEN $4 ELSE $5 END,
           decided_at = $3,
           decided_by = CASE WHEN ${overdue} THEN $6 ELSE $7 END,
           reason = CASE WHEN ${overdue} THEN $8 ELSE $9 END
         WHERE run_id = $1 AND approval_id = $2 AND status = 'pending'
         RETURNING ${APPROVAL_COLUMNS}`,
        [runId, approvalId, now, EXPIRED.status, fields.status, EXPIRED.decidedBy, fields.decidedBy, EXPIRED.reason, fields.reason ?? null],
      );
      if (rows.length) {
        const record = fromApprovalRow(rows[0] as ApprovalRow);
        if (record.status === 'expired') throw alreadyDecided(record);
        return record;
      }
      // Not pending: a later statement sees the decision that won (it committed before our update went on).
      const { rows: held } = await this.pool.query(`SELECT ${APPROVAL_COLUMNS} FROM ${this.approvals} WHERE run_id = $1 AND approval_id = $2`, [
        runId,
        approvalId,
      ]);
      if (held.length === 0) throw notFound(runId, approvalId);
      const record = fromApprovalRow(held[0] as ApprovalRow);
      // Pending again: the run was saved anew meanwhile; decide on what it holds now.
      if (record.status === 'pending') return null;
      throw alreadyDecided(record);
    };
    return this.connection.use(async () => {
      for (;;) {
        const record = await attempt();
        if (record) return record;
      }
    });
  }

  async expire(now: number): Promise<string[]> {
    return this.connection.use(() =>
      transaction(this.pool, async (client) => {
        // The overdue rows are locked in one order, so two replicas expiring at once queue up instead of deadlocking.
        const { rows } = await client.query(
          `UPDATE ${this.approvals} SET status = $2, decided_at = $1, decided_by = $3, reason = $4
           WHERE status = 'pending' AND (run_id, approval_id) IN (
             SELECT run_id, approval_id FROM ${this.approvals} WHERE status = 'pending' AND expires_at <= $1 ORDER BY run_id, approval_id FOR UPDATE
           )
           RETURNING run_id`,
          [now, EXPIRED.status, EXPIRED.decidedBy, EXPIRED.reason],
        );
        if (rows.length === 0) return [];
        const { rows: settled } = await client.query(
          `SELECT r.run_id FROM ${this.runs} r
           WHERE r.run_id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM ${this.approvals} a WHERE a.run_id = r.run_id AND a.status = 'pending')
           ORDER BY r.paused_at, r.run_id`,
          [[...new Set(rows.map((row: { run_id: string }) => row.run_id))]],
        );
        return settled.map((row: { run_id: string }) => row.run_id);
      }),
    );
  }

  async claim(runId: string): Promise<PausedRun | null> {
    return this.connection.use(async () => {
      // One statement decides who wins: only a paused run with nothing pending turns continuing, once (a concurrent claim
      // waits for the row and then finds it continuing).
      const { rows } = await this.pool.query(
        `WITH won AS (
           UPDATE ${this.runs} SET status = 'continuing'
           WHERE run_id = $1 AND status = 'paused' AND NOT EXISTS (SELECT 1 FROM ${this.approvals} WHERE run_id = $1 AND status = 'pending')
           RETURNING *
         )
         SELECT won.*, ${this.approvalsOf('won')} AS approvals FROM won`,
        [runId],
      );
      return rows.length ? fromRunRow(rows[0] as RunRow) : null;
    });
  }

  async remove(runId: string): Promise<void> {
    // Its approvals go with it (ON DELETE CASCADE).
    await this.connection.use(() => this.pool.query(`DELETE FROM ${this.runs} WHERE run_id = $1`, [runId]));
  }

  async list(filter: ApprovalFilter = {}): Promise<ApprovalRecord[]> {
    return this.connection.use(async () => {
      const where: string[] = [];
      const values: unknown[] = [];
      const add = (condition: (parameter: string) => string, value: unknown) => {
        values.push(value);
        where.push(condition(`$${values.length}`));
      };
      if (filter.status !== undefined) add((p) => `status = ${p}`, filter.status);
      if (filter.userId === null) where.push('user_id IS NULL');
      else if (filter.userId !== undefined) add((p) => `user_id = ${p}`, filter.userId);
      if (filter.agentName !== undefined) add((p) => `agent_name = ${p}`, filter.agentName);
      if (filter.runId !== undefined) add((p) => `run_id = ${p}`, filter.runId);
      if (filter.approvalId !== undefined) add((p) => `approval_id = ${p}`, filter.approvalId);
      values.push(Math.max(0, Math.floor(filter.limit ?? 100)));
      const { rows } = await this.pool.query(
        `SELECT ${APPROVAL_COLUMNS} FROM ${this.approvals} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY requested_at, run_id, position LIMIT $${values.length}`,
        values,
      );
      return (rows as ApprovalRow[]).map(fromApprovalRow);
    });
  }

  /** Ends the pool the store created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  /** A subquery: the approvals of the run row `alias`, in order, as a JSON array (null if none). */
  private approvalsOf(alias: string): string {
    return `(SELECT json_agg(a ORDER BY a.position) FROM (SELECT position, ${APPROVAL_COLUMNS} FROM ${this.approvals} WHERE run_id = ${alias}.run_id) a)`;
  }

  /**
   * The DDL of the store's tables (idempotent, run on first use): a paused
   * run and its approvals, one row each, keyed by run and approval id (the
   * contract looks an approval up by both), `position` keeping the round's
   * order. Indexes serve the listing by status and by user, oldest first, and
   * the expiry sweep over pending ones.
   */
  private ddl(c: PostgresTables): string {
    return `
      CREATE TABLE IF NOT EXISTS ${this.runs} (
        run_id text PRIMARY KEY,
        agent_name text NOT NULL,
        session_id text NOT NULL,
        user_id text,
        paused_at bigint NOT NULL,
        status text NOT NULL,
        state json NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${this.approvals} (
        run_id text NOT NULL REFERENCES ${this.runs} (run_id) ON DELETE CASCADE,
        approval_id text NOT NULL,
        position integer NOT NULL,
        agent_name text NOT NULL,
        session_id text NOT NULL,
        user_id text,
        tool_name text NOT NULL,
        tool_call_id text NOT NULL,
        args json,
        status text NOT NULL,
        requested_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        decided_at bigint,
        decided_by text,
        reason text,
        PRIMARY KEY (run_id, approval_id)
      );
      CREATE INDEX IF NOT EXISTS ${c.local('approvals_by_status')} ON ${this.approvals} (status, requested_at);
      CREATE INDEX IF NOT EXISTS ${c.local('approvals_by_user')} ON ${this.approvals} (user_id, requested_at);
      CREATE INDEX IF NOT EXISTS ${c.local('approvals_pending_expiry')} ON ${this.approvals} (expires_at) WHERE status = 'pending';
    `;
  }
}

function fromRunRow(row: RunRow): PausedRun {
  return {
    runId: row.run_id,
    agentName: row.agent_name,
    sessionId: row.session_id,
    userId: row.user_id,
    pausedAt: Number(row.paused_at),
    status: row.status,
    state: row.state,
    approvals: (row.approvals ?? []).map(fromApprovalRow),
  };
}

