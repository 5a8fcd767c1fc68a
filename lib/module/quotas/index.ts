export { QuotaExceededError, RunQuotas } from './run-quotas';
export type {
  QuotaCounter,
  QuotaKind,
  QuotaLimitInfo,
  QuotaLimits,
  QuotaOptions,
  QuotaScope,
  QuotaSubject,
  QuotaUsage,
} from './run-quotas';
