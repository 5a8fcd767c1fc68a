export { InMemoryRunStore } from './in-memory-run-store';
export type { InMemoryRunStoreOptions } from './in-memory-run-store';
export { LiveRun, RunRecorder } from './run-recorder';
export type { RunListener } from './run-recorder';
export type { IdempotencyRecord, RecordedEvent, RecordedRunOutput, RecordedRunStatus, RunChange, RunJob, RunRecord, RunRetention, RunStore } from './run-store';
export { SqliteRunStore } from './sqlite-run-store';
export type { SqliteRunStoreOptions } from './sqlite-run-store';
export { RunIdempotency } from './run-idempotency';
export type { IdempotencyClaim } from './run-idempotency';
