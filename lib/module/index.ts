export { AgentRegistry } from './agent.registry';
export { AgentRunner } from './agent.runner';
export type { Continuation, RunnerOptions, StartedRun } from './agent.runner';
export { HealthRegistry } from './health.registry';
export type { HealthContributor, ReadinessCheck } from './health.registry';
export type { DefinableStores } from './definable-stores';
export { getAgentToken } from './definable.constants';
export { DEFINABLE_OPTIONS } from './definable.module-definition';
export type { DefinableModuleExtras, DefinableModuleOptions, DefinableServerOptions } from './definable-module.options';
export { InjectAgent } from './inject-agent.decorator';
export { RunTracker } from './run.tracker';
export { InMemoryRunStore, LiveRun, PostgresRunStore, RunIdempotency, RunRecorder, SqliteRunStore } from './runs';
export type {
  IdempotencyClaim,
  IdempotencyRecord,
  InMemoryRunStoreOptions,
  RecordedEvent,
  RecordedRunOutput,
  RecordedRunStatus,
  RunChange,
  RunJob,
  RunListener,
  RunRecord,
  RunRetention,
  RunStore,
  PostgresRunStoreOptions,
  SqliteRunStoreOptions,
} from './runs';
export { QuotaExceededError, RunQuotas } from './quotas';
export type { QuotaCounter, QuotaKind, QuotaLimitInfo, QuotaLimits, QuotaOptions, QuotaScope, QuotaSubject, QuotaUsage } from './quotas';
export { DefinableMetrics } from './telemetry/definable-metrics';
export type { InterfaceGauge } from './telemetry/definable-metrics';
export { RunMetrics, triggerKind } from './telemetry/run-metrics';
export type { EndedRunFigures, MetricsOptions, MetricsSources } from './telemetry/run-metrics';
export { RunTrace, RunTracing } from './telemetry/run-tracing';
export type { TracedRun } from './telemetry/run-tracing';
export type { TracingOptions } from './telemetry/tracing-options';
export { RunApprovals } from './approvals/run-approvals';
export type { ApprovalListener, ApprovalOutcome } from './approvals/run-approvals';
export type { ApprovalsOptions, ApproverRule } from './approvals/approvals-options';
export { approvalDecidedText, approvalRequestText, pausedNote } from './approvals/approval-text';
export { redisCluster } from './cluster/cluster-options';
export type { ClusterConfig, MissedTicks, RedisClusterOptions, RedisConnection } from './cluster/cluster-options';
