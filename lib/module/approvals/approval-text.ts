import type { ApprovalRecord } from '../../agent/approvals/approval';

/**
 * What a client without approval buttons is told of a run paused for
 * approvals (OpenAI-compatible answers, MCP results): which calls wait, and
 * how to decide them over HTTP.
 */
export function pausedNote(runId: string, approvals: ApprovalRecord[]): string {
  const calls = approvals.map((approval) => `${describeCall(approval)} — approval ${approval.approvalId}`);
  return (
    `Waiting for approval before going on: ${calls.join('; ')}. ` +
    `Decide with POST /runs/${runId}/approvals/<approval id> {"approve": true | false}; the answer then follows on GET /runs/${runId}/events.`
  );
}

/**
 * The chat message asking for a decision: the call (tool name and
 * arguments), the approval's id and expiry, and how to decide by text —
 * which works on every platform, buttons or not.
 */
export function approvalRequestText(approval: ApprovalRecord): string {
  const expires = new Date(approval.expiresAt).toISOString().replace(/:\d\d\.\d{3}Z$/, ' UTC').replace('T', ' ');
  return (
    `Approval needed: ${describeCall(approval)}\n` +
    `Approval ${approval.approvalId}, expires ${expires}.\n` +
    `Reply "yes ${approval.approvalId}" to approve or "no ${approval.approvalId} [reason]" to reject.`
  );
}

/** What the approval message of a chat says once decided: the call, then "✅ Approved by alice", "❌ Rejected by bob: <reason>" or "⌛ Expired". */
export function approvalDecidedText(approval: ApprovalRecord): string {
  const outcome =
    approval.status === 'approved'
      ? `✅ Approved by ${approval.decidedBy ?? 'someone'}`
      : approval.status === 'rejected'
        ? `❌ Rejected by ${approval.decidedBy ?? 'someone'}${approval.reason ? `: ${approval.reason}` : ''}`
        : approval.status === 'expired'
          ? '⌛ Expired'
          : 'Waiting for a decision';
  return `${describeCall(approval)}\n${outcome}`;
}

/** `tool({"arg":…})`, its arguments cut at 200 characters. */
function describeCall(approval: ApprovalRecord): string {
  return `${approval.toolName}(${truncate(JSON.stringify(approval.args ?? {}), 200)})`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
