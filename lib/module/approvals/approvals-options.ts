import type { ApprovalRecord } from '../../agent/approvals/approval';
import type { AuthContext } from '../../auth/auth-provider';

/**
 * Who may decide an approval besides the default (the run's own user, or a
 * trusted principal): e.g. `(principal) => principal?.claims?.role === 'admin'`
 * for "only admins approve refunds". `principal` is undefined without auth.
 */
export type ApproverRule = (principal: AuthContext | undefined, approval: ApprovalRecord) => boolean | Promise<boolean>;

/** Options of the module's tool approvals (`approvals` in `DefinableModule.forRoot`). */
export interface ApprovalsOptions {
  /** Who may decide (replaces the default rule: the run's user or a trusted principal). */
  approver?: ApproverRule;
}
