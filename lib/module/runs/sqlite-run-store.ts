import type BetterSqlite3 from 'better-sqlite3';
import { isTerminalEvent } from '../../agent/run-events';
import { openSqlite } from '../../agent/sessions/open-sqlite';
import { retentionOf } from './run-store';
import type { IdempotencyRecord, RecordedEvent, RecordedRunStatus, RunChange, RunRecord, RunRetention, RunStore } from './run-store';

/** Stands for the run row's output in a stored terminal event. */
const RUN_OUTPUT = '$run.output';

/** Options of {@link SqliteRunStore}. */
export interface SqliteRunStoreOptions {
  /** The database file (created if missing); it may be shared with the other SQLite stores. */
  path: string;
  /** Prefix of the tables. Default `definable_`. */
  tablePrefix?: string;
  /** How long ended runs are kept. Default 7 days and 10,000 runs. */
  retention?: RunRetention;
}

interface RunRow {
  run_id: string;
  agent: string;
  user_id: string | null;
  session_id: string;
  trigger_name: string;
  status: RecordedRunStatus;
  background: number;
  created_at: number;
  ended_at: number | null;
  output: string | null;
  error: string | null;
  last_seq: number;
  job: string | null;
}

/**
 * A {@link RunStore} on `better-sqlite3` (an optional peer dependency: `npm
 * install better-sqlite3`) for one node: runs, their event logs and
 * idempotency keys survive a crash or a restart, and on start the runs a dead
 * process left behind are marked `interrupted`. Events are written in batches
 * (one row per batch), so a streamed run costs a few writes, not one per token.
 */
export class SqliteRunStore implements RunStore {
  /** The database file (interfaces without a `dedup` store keep their chat inbox in it too). */
  readonly path: string;
  private readonly db: BetterSqlite3.Database;
  private readonly retention: Required<RunRetention>;
  private readonly statements: Record<
    | 'create'
    | 'get'
    | 'events'
    | 'appendEvents'
    | 'keyGet'
    | 'keyPut'
    | 'keyRelease'
    | 'queued'
    | 'running'
    | 'expired'
    | 'overCount'
    | 'deleteEvents'
    | 'deleteRun'
    | 'deleteKeys',
    BetterSqlite3.Statement
  >;
  private readonly tables: { runs: string; events: string };
  private readonly writeTx: (runId: string, events: RecordedEvent[], change?: RunChange) => void;
  private readonly createTx: (run: RunRecord, events: RecordedEvent[]) => void;
  private readonly claimTx: BetterSqlite3.Transaction<(claim: IdempotencyRecord) => IdempotencyRecord>;
  private readonly deleteTx: (runIds: string[]) => void;
  /** Writes waiting for the next group commit (see `grouped`). */
  private group: { work: () => void; resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(options: SqliteRunStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteRunStore needs a file path, e.g. new SqliteRunStore({ path: 'runs.db' }).");
    }
    const prefix = options.tablePrefix ?? 'definable_';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) throw new TypeError(`SqliteRunStore: tablePrefix must be letters, digits and underscores, got "${prefix}".`);
    this.retention = retentionOf(options.retention, 'SqliteRunStore');
    const runs = `${prefix}runs`;
    const events = `${prefix}run_events`;
    const keys = `${prefix}idempotency_keys`;
    this.tables = { runs, events };
    this.path = options.path;
    this.db = openSqlite(options.path, 'SqliteRunStore');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ${runs} (
        run_id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        user_id TEXT,
        session_id TEXT NOT NULL,
        trigger_name TEXT NOT NULL,
        status TEXT NOT NULL,
        background INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        ended_at INTEGER,
        output TEXT,
        error TEXT,
        last_seq INTEGER NOT NULL,
        job TEXT
      );
      CREATE INDEX IF NOT EXISTS ${runs}_status ON ${runs}(status) WHERE ended_at IS NULL;
      CREATE INDEX IF NOT EXISTS ${runs}_ended ON ${runs}(ended_at) WHERE ended_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS ${events} (
        run_id TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        events TEXT NOT NULL,
        PRIMARY KEY (run_id, first_seq)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ${keys} (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      ) WITHOUT ROWID;
    `);
    // A file from before jobs were recorded gets the column.
    if (!(this.db.pragma(`table_info(${runs})`) as { name: string }[]).some((column) => column.name === 'job')) this.db.exec(`ALTER TABLE ${runs} ADD COLUMN job TEXT`);
    this.statements = {
      create: this.db.prepare(
        `INSERT INTO ${runs} (run_id, agent, user_id, session_id, trigger_name, status, background, created_at, ended_at, output, error, last_seq, job)
         VALUES (@runId, @agent, @userId, @sessionId, @trigger, @status, @background, @createdAt, @endedAt, @output, @error, @lastSeq, @job)
         ON CONFLICT (run_id) DO UPDATE SET agent = excluded.agent, user_id = excluded.user_id, session_id = excluded.session_id,
           status = excluded.status, ended_at = excluded.ended_at, output = excluded.output, error = excluded.error, last_seq = excluded.last_seq`,
      ),
      queued: this.db.prepare(`SELECT * FROM ${runs} WHERE ended_at IS NULL AND status = 'queued' AND job IS NOT NULL ORDER BY created_at`),
      running: this.db.prepare(`SELECT * FROM ${runs} WHERE ended_at IS NULL AND status IN ('queued', 'running')`),
      get: this.db.prepare(`SELECT * FROM ${runs} WHERE run_id = ?`),
      events: this.db.prepare(`SELECT first_seq, events FROM ${events} WHERE run_id = ? AND last_seq > ? ORDER BY first_seq`),
      appendEvents: this.db.prepare(`INSERT INTO ${events} (run_id, first_seq, last_seq, events) VALUES (?, ?, ?, ?)`),
      keyGet: this.db.prepare(`SELECT scope, key, request_hash, run_id, created_at, expires_at FROM ${keys} WHERE scope = ? AND key = ?`),
      keyPut: this.db.prepare(`INSERT OR REPLACE INTO ${keys} (scope, key, request_hash, run_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
      keyRelease: this.db.prepare(`DELETE FROM ${keys} WHERE scope = ? AND key = ? AND run_id = ?`),
      expired: this.db.prepare(`SELECT run_id FROM ${runs} WHERE ended_at IS NOT NULL AND ended_at < ? LIMIT 1000`),
      overCount: this.db.prepare(`SELECT run_id FROM ${runs} WHERE ended_at IS NOT NULL ORDER BY created_at LIMIT ?`),
      deleteEvents: this.db.prepare(`DELETE FROM ${events} WHERE run_id = ?`),
      deleteRun: this.db.prepare(`DELETE FROM ${runs} WHERE run_id = ?`),
      deleteKeys: this.db.prepare(`DELETE FROM ${keys} WHERE expires_at <= ?`),
    };
    this.writeTx = this.db.transaction((runId: string, batch: RecordedEvent[], change?: RunChange) => {
      const lastSeq = this.appendEvents(runId, batch, Boolean(change?.output));
      this.applyChange(runId, change ?? {}, lastSeq);
    });
    this.createTx = this.db.transaction((run: RunRecord, batch: RecordedEvent[]) => {
      this.statements.create.run({
        ...run,
        background: run.background ? 1 : 0,
        output: run.output === null ? null : JSON.stringify(run.output),
        error: run.error === null ? null : JSON.stringify(run.error),
        job: run.job ? JSON.stringify(run.job) : null,
      });
      this.appendEvents(run.runId, batch, run.output !== null);
    });
    this.claimTx = this.db.transaction((claim: IdempotencyRecord) => {
      const held = this.statements.keyGet.get(claim.scope, claim.key) as KeyRow | undefined;
      if (held && held.expires_at > claim.createdAt) return fromKeyRow(held);
      this.statements.keyPut.run(claim.scope, claim.key, claim.requestHash, claim.runId, claim.createdAt, claim.expiresAt);
      return claim;
    });
    this.deleteTx = this.db.transaction((runIds: string[]) => {
      for (const runId of runIds) {
        this.statements.deleteEvents.run(runId);
        this.statements.deleteRun.run(runId);
      }
    });
  }

  async create(run: RunRecord, events: RecordedEvent[] = []): Promise<void> {
    return this.grouped(() => this.createTx(run, events));
  }

  async write(runId: string, events: RecordedEvent[], change?: RunChange): Promise<void> {
    return this.grouped(() => this.writeTx(runId, events, change));
  }

  async queuedJobs(): Promise<RunRecord[]> {
    return (this.statements.queued.all() as RunRow[]).map(fromRow);
  }

  async resetRun(runId: string, change: RunChange): Promise<void> {
    return this.grouped(() => {
      this.statements.deleteEvents.run(runId);
      this.applyChange(runId, change, 0);
    });
  }

  async get(runId: string): Promise<RunRecord | null> {
    const row = this.statements.get.get(runId) as RunRow | undefined;
    return row ? fromRow(row) : null;
  }

  async events(runId: string, afterSeq = 0): Promise<RecordedEvent[]> {
    const rows = this.statements.events.all(runId, afterSeq) as { first_seq: number; events: string }[];
    const recorded: RecordedEvent[] = [];
    for (const row of rows) {
      const batch = JSON.parse(row.events) as (RecordedEvent['event'] & { output?: unknown })[];
      batch.forEach((event, index) => {
        const seq = row.first_seq + index;
        if (seq <= afterSeq) return;
        if (event.output === RUN_OUTPUT) event.output = this.outputOf(runId);
        recorded.push({ seq, event });
      });
    }
    return recorded;
  }

  /** The run row's output (what a stored terminal event stands for). */
  private outputOf(runId: string): unknown {
    const row = this.statements.get.get(runId) as RunRow | undefined;
    return row?.output ? JSON.parse(row.output) : null;
  }

  async claimIdempotencyKey(claim: IdempotencyRecord): Promise<IdempotencyRecord> {
    return this.claimTx.immediate(claim);
  }

  async releaseIdempotencyKey(scope: string, key: string, runId: string): Promise<void> {
    this.statements.keyRelease.run(scope, key, runId);
  }

  async recover(now: number): Promise<string[]> {
    return this.db.transaction(() => {
      const ended: string[] = [];
      const error = { code: 'interrupted', message: 'The process running this run stopped before it ended.' } as const;
      for (const row of this.statements.running.all() as RunRow[]) {
        const { job } = fromRow(row);
        if (job && row.status === 'queued') continue;
        if (job && job.attempts < job.maxAttempts) {
          // The attempt the crash cut counts; the job waits for its next one.
          this.statements.deleteEvents.run(row.run_id);
          this.applyChange(row.run_id, { status: 'queued', job: { ...job, nextAttemptAt: now } }, 0);
          continue;
        }
        this.applyChange(row.run_id, { status: job ? 'failed' : 'interrupted', endedAt: now, error });
        ended.push(row.run_id);
      }
      return ended;
    }).immediate();
  }

  async prune(now: number): Promise<void> {
    const oldest = now - this.retention.maxAge;
    for (;;) {
      const expired = (this.statements.expired.all(oldest) as { run_id: string }[]).map((row) => row.run_id);
      if (expired.length === 0) break;
      this.deleteTx(expired);
    }
    const { n } = this.db.prepare(`SELECT COUNT(*) AS n FROM ${this.tables.runs}`).get() as { n: number };
    if (n > this.retention.maxRuns) {
      this.deleteTx((this.statements.overCount.all(n - this.retention.maxRuns) as { run_id: string }[]).map((row) => row.run_id));
    }
    this.statements.deleteKeys.run(now);
  }

  async close(): Promise<void> {
    this.commitGroup();
    if (this.db.open) this.db.close();
  }

  /**
   * Runs a write in the next group commit: the writes issued in one turn of
   * the event loop (runs ending together under load) share one transaction,
   * in the order they were issued. Resolves once committed.
   */
  private grouped(work: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.group.push({ work, resolve, reject });
      if (this.group.length === 1) setImmediate(() => this.commitGroup());
    });
  }

  private commitGroup(): void {
    const writes = this.group;
    if (writes.length === 0) return;
    this.group = [];
    if (!this.db.open) {
      for (const write of writes) write.reject(new Error('SqliteRunStore is closed.'));
      return;
    }
    try {
      this.db.transaction(() => {
        for (const write of writes) write.work();
      })();
      for (const write of writes) write.resolve();
    } catch {
      // One failing write must not take the others with it: each alone, as it would have been.
      for (const write of writes) {
        try {
          this.db.transaction(write.work)();
          write.resolve();
        } catch (error) {
          write.reject(error);
        }
      }
    }
  }

  /** Appends a batch as one row; returns its last sequence number (undefined for an empty batch). */
  /**
   * Appends a batch as one row; returns its last sequence number (undefined
   * for an empty batch). With `endsRun` (the write that records the run's
   * output), the terminal event's output — the same output — is stored once,
   * in the run row, and put back by {@link SqliteRunStore.events}.
   */
  private appendEvents(runId: string, batch: RecordedEvent[], endsRun: boolean): number | undefined {
    if (batch.length === 0) return undefined;
    const last = batch[batch.length - 1].seq;
    // A pause's output stays in its event: the run row's output is the continuation's, later.
    const events = batch.map(({ event }) =>
      endsRun && isTerminalEvent(event.event) && event.event !== 'RunPaused' && 'output' in event ? { ...event, output: RUN_OUTPUT } : event,
    );
    this.statements.appendEvents.run(runId, batch[0].seq, last, JSON.stringify(events));
    return last;
  }

  private applyChange(runId: string, change: RunChange, lastSeq?: number): void {
    const columns: string[] = [];
    const values: unknown[] = [];
    if (lastSeq !== undefined) columns.push('last_seq = ?') && values.push(lastSeq);
    if (change.status !== undefined) columns.push('status = ?') && values.push(change.status);
    if (change.endedAt !== undefined) columns.push('ended_at = ?') && values.push(change.endedAt);
    if (change.output !== undefined) columns.push('output = ?') && values.push(change.output === null ? null : JSON.stringify(change.output));
    if (change.error !== undefined) columns.push('error = ?') && values.push(change.error === null ? null : JSON.stringify(change.error));
    if (change.job !== undefined) columns.push('job = ?') && values.push(change.job === null ? null : JSON.stringify(change.job));
    if (columns.length === 0) return;
    // A few optional columns: a statement per combination, prepared once and kept.
    this.changeStatement(columns.join(', ')).run(...values, runId);
  }

  private readonly changeStatements = new Map<string, BetterSqlite3.Statement>();

  private changeStatement(set: string): BetterSqlite3.Statement {
    let statement = this.changeStatements.get(set);
    if (!statement) this.changeStatements.set(set, (statement = this.db.prepare(`UPDATE ${this.tables.runs} SET ${set} WHERE run_id = ?`)));
    return statement;
  }
}

interface KeyRow {
  scope: string;
  key: string;
  request_hash: string;
  run_id: string;
  created_at: number;
  expires_at: number;
}

function fromKeyRow(row: KeyRow): IdempotencyRecord {
  return { scope: row.scope, key: row.key, requestHash: row.request_hash, runId: row.run_id, createdAt: row.created_at, expiresAt: row.expires_at };
}

function fromRow(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    agent: row.agent,
    userId: row.user_id,
    sessionId: row.session_id,
    trigger: row.trigger_name,
    status: row.status,
    background: row.background === 1,
    createdAt: row.created_at,
    endedAt: row.ended_at,
    output: row.output === null ? null : JSON.parse(row.output),
    error: row.error === null ? null : JSON.parse(row.error),
    lastSeq: row.last_seq,
    job: row.job === null ? null : JSON.parse(row.job),
  };
}
