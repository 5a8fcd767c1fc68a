// How the SQL approval stores (SQLite, PostgreSQL) keep an approval: one row, read back the same way.
import { expireApproval } from './approval-store';
import type { ApprovalRecord, ApprovalStatus } from './approval-store';

/** @internal An approval as a SQL store keeps it (PostgreSQL's \`bigint\` times arrive as strings). */
export interface ApprovalRow {
  run_id: string;
  approval_id: string;
  agent_name: string;
  session_id: string;
  user_id: string | null;
  tool_name: string;
  tool_call_id: string;
  /** The arguments' JSON text: SQL NULL (no arguments) and JSON \`null\` stay apart. */
  args: string | null;
  status: ApprovalStatus;
  requested_at: string | number;
  expires_at: string | number;
  decided_at: string | number | null;
  decided_by: string | null;
  reason: string | null;
}

/** @internal The fields an expiry sets besides its time, from the rule the stores share. */
export const EXPIRED = (() => {
  const approval = {} as ApprovalRecord;
  expireApproval(approval, 0);
  return { status: approval.status, decidedBy: approval.decidedBy ?? null, reason: approval.reason ?? null };
})();

/** @internal An approval row as the record the in-memory store would give: unset fields absent, not \`null\`. */
export function fromApprovalRow(row: ApprovalRow): ApprovalRecord {
  const record: ApprovalRecord = {
    approvalId: row.approval_id,
    runId: row.run_id,
    agentName: row.agent_name,
    sessionId: row.session_id,
    userId: row.user_id,
    toolName: row.tool_name,
    toolCallId: row.tool_call_id,
    args: row.args === null ? undefined : JSON.parse(row.args),
    status: row.status,
    requestedAt: Number(row.requested_at),
    expiresAt: Number(row.expires_at),
  };
  if (row.decided_at !== null) record.decidedAt = Number(row.decided_at);
  if (row.decided_by !== null) record.decidedBy = row.decided_by;
  if (row.reason !== null) record.reason = row.reason;
  return record;
}
