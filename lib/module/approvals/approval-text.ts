import type { ApprovalRecord } from '../../agent/approvals/approval';

/**
 * What a client without approval buttons is told of a run paused for
 * approvals (OpenAI-compatible answers, MCP results): which calls wait, and
 * how to decide them over HTTP.
 */
export function pausedNote(runId: string, approvals: ApprovalRecord[]): string {
  const calls = approvals.map((approval) => `${approval.toolName}(${truncate(JSON.stringify(approval.args ?? {}), 200)}) — approval ${approval.approvalId}`);
  return (
    `Waiting for approval before going on: ${calls.join('; ')}. ` +
    `Decide with POST /runs/${runId}/approvals/<approval id> {"approve": true | false}; the answer then follows on GET /runs/${runId}/events.`
  );
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
