// The approval records alone, apart from the store, so that run outputs and events can name them
// without importing the store (which names run outputs' tool-call records).

/** Where an approval stands. `expired`: nobody decided within its time; the call was rejected for it. */
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

/** One tool call waiting for (or past) a person's decision. */
export interface ApprovalRecord {
  /** A short unguessable id (also what chat replies quote). */
  approvalId: string;
  runId: string;
  agentName: string;
  sessionId: string;
  /** The run's user: by default the one who may decide. */
  userId: string | null;
  toolName: string;
  toolCallId: string;
  /** The validated arguments the model called the tool with. */
  args: unknown;
  status: ApprovalStatus;
  /** Milliseconds since the epoch. */
  requestedAt: number;
  expiresAt: number;
  decidedAt?: number;
  /** Who decided (a user id, `system` for an expiry). */
  decidedBy?: string;
  /** The reason given with a rejection (or `expired`). */
  reason?: string;
}

/** A decision on one approval, as {@link ApprovalStore.decide} records it. */
export interface ApprovalDecision {
  approve: boolean;
  reason?: string;
  /** Who decides: recorded with the decision. */
  decidedBy: string;
}
