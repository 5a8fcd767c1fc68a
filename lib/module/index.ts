export { AgentRegistry } from './agent.registry';
export { AgentRunner } from './agent.runner';
export type { RunnerOptions, StartedRun } from './agent.runner';
export { HealthRegistry } from './health.registry';
export type { HealthContributor } from './health.registry';
export { getAgentToken } from './definable.constants';
export { DEFINABLE_OPTIONS } from './definable.module-definition';
export type { DefinableModuleExtras, DefinableModuleOptions, DefinableServerOptions } from './definable-module.options';
export { InjectAgent } from './inject-agent.decorator';
export { RunTracker } from './run.tracker';
export { InMemoryRunStore, LiveRun, RunIdempotency, RunRecorder, SqliteRunStore } from './runs';
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
  SqliteRunStoreOptions,
} from './runs';
