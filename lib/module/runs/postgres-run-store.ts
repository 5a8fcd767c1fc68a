import { isTerminalEvent } from '../../agent/run-events';
import { PostgresTables, transaction, type PostgresPool, type PostgresPoolClient } from '../../agent/sessions/postgres-pool';
import { retentionOf } from './run-store';
import type { IdempotencyRecord, RecordedEvent, RecordedRunStatus, RunChange, RunJob, RunRecord, RunRetention, RunStore } from './run-store';

/** Stands for the run row's output in a stored terminal event (as in the SQLite store). */
const RUN_OUTPUT = '$run.output';

/** Ended runs deleted per statement when pruning, so one prune never holds a huge set of rows. */
const PRUNE_CHUNK = 1000;

/** The longest name made from the table prefix (an index of the runs table). */
const LONGEST_NAME = 'runs_unended_status';

/**
 * Options of {@link PostgresRunStore}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresRunStore, type PostgresRunStoreOptions } from 'nestjs-definable';
 *
 * const options: PostgresRunStoreOptions = {
 *   connectionString: 'postgres://app@db:5432/app',
 *   schema: 'definable',
 *   retention: { maxAge: 24 * 60 * 60 * 1000 },
 * };
 * const runs = new PostgresRunStore(options);
 * ```
 */
export interface PostgresRunStoreOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The store borrows it:
   * {@link PostgresRunStore.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the store's own, ended by {@link PostgresRunStore.close}. */
  connectionString?: string;
  /** The schema of the store's tables, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table names (`<prefix>runs`, `<prefix>run_events`, `<prefix>idempotency_keys`), to share a schema. Default none. */
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
  background: boolean;
  created_at: string;
  ended_at: string | null;
  output: RunRecord['output'];
  error: RunRecord['error'];
  last_seq: number;
  job: RunJob | null;
  owner: string | null;
}

interface KeyRow {
  scope: string;
  key: string;
  request_hash: string;
  run_id: string;
  created_at: string;
  expires_at: string;
}

const RUN_COLUMNS = 'run_id, agent, user_id, session_id, trigger_name, status, background, created_at, ended_at, output, error, last_seq, job, owner';

/** What recover() records on a run it ends (the SQLite store's words). */
const INTERRUPTED = JSON.stringify({ code: 'interrupted', message: 'The process running this run stopped before it ended.' });

/**
 * A {@link RunStore} on PostgreSQL through `pg` (an optional peer dependency:
 * `npm install pg`), for apps on several replicas: every replica on the same
 * database and schema sees the same runs, event logs and idempotency keys,
 * and a replica found gone has its runs recovered by another
 * (`recover(now, owner)`).
 *
 * Three tables, created on first use under an advisory lock: runs (output,
 * error and job as `json`, kept as written: JSONB would refuse a NUL character
 * and reorder keys), their events, one row per event keyed by (run, sequence
 * number), and idempotency keys. A write — a batch of events and the run's
 * change — is one statement, so one round trip: the update of the run row
 * locks it (concurrent writes of one run queue up) and the batch goes in one
 * multi-row insert, only if the run exists. Of concurrent claims of one
 * idempotency key exactly one wins: the claim is one upsert that replaces the
 * key only where it expired and returns whoever holds it.
 *
 * @example
 * ```ts
 * import { DefinableModule, PostgresRunStore } from 'nestjs-definable';
 *
 * DefinableModule.forRoot({
 *   agents: [agent],
 *   runStore: new PostgresRunStore({ connectionString: process.env.DATABASE_URL }),
 * });
 * ```
 */
export class PostgresRunStore implements RunStore {
  /** Every replica on the database sees the same runs. */
  readonly shared = true;
  private readonly connection: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly retention: Required<RunRetention>;
  private readonly runs: string;
  private readonly eventLog: string;
  private readonly keys: string;
  private readonly createStatement: string;
  /** Creates waiting for the next group write (see {@link PostgresRunStore.create}). */
  private readonly grouped: { run: RunRecord; events: RecordedEvent[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private flushing: Promise<void> = Promise.resolve();

  constructor(options: PostgresRunStoreOptions) {
    // Retention first: a bad option throws before a pool is made.
    this.retention = retentionOf(options?.retention, 'PostgresRunStore');
    this.connection = new PostgresTables(options, 'PostgresRunStore', LONGEST_NAME, (c) => this.ddl(c), 'PostgreSQL run store');
    this.pool = this.connection.pool;
    this.runs = this.connection.table('runs');
    this.eventLog = this.connection.table('run_events');
    this.keys = this.connection.table('idempotency_keys');
    // A run recorded already (a queued job starting) keeps its job, creation time, trigger and background.
    this.createStatement = `WITH input AS (
        SELECT * FROM json_to_recordset($1::json) AS r(run_id text, agent text, user_id text, session_id text, trigger_name text, status text,
          background boolean, created_at bigint, ended_at bigint, output text, error text, last_seq integer, job text, owner text)
      ), run AS (
        INSERT INTO ${this.runs} (${RUN_COLUMNS})
        SELECT run_id, agent, user_id, session_id, trigger_name, status, background, created_at, ended_at, output::json, error::json, last_seq, job::json, owner FROM input
        ON CONFLICT (run_id) DO UPDATE SET agent = EXCLUDED.agent, user_id = EXCLUDED.user_id, session_id = EXCLUDED.session_id,
          status = EXCLUDED.status, ended_at = EXCLUDED.ended_at, output = EXCLUDED.output, error = EXCLUDED.error,
          last_seq = EXCLUDED.last_seq, owner = EXCLUDED.owner
        RETURNING run_id
      )
      INSERT INTO ${this.eventLog} (run_id, seq, event)
      SELECT e.run_id, e.seq, e.event::json FROM json_to_recordset($2::json) AS e(run_id text, seq integer, event text) JOIN run USING (run_id)`;
  }

  /**
   * Records runs in groups: the creates that arrive while one group is being
   * written go together in the next statement (a busy server ends many runs
   * at once; one round trip records them all). A group that fails is retried
   * run by run, so one bad run does not fail the others.
   */
  async create(run: RunRecord, events: RecordedEvent[] = []): Promise<void> {
    // One statement cannot upsert a run twice: a run already waiting in the group goes in the next one.
    if (this.grouped.some((entry) => entry.run.runId === run.runId)) await this.flushing;
    return new Promise((resolve, reject) => {
      this.grouped.push({ run, events, resolve, reject });
      if (this.grouped.length === 1) this.flushing = this.flushing.then(() => this.flushGroup());
    });
  }

  /** Writes the waiting creates as one statement. */
  private async flushGroup(): Promise<void> {
    const group = this.grouped.splice(0);
    if (!group.length) return;
    try {
      await this.connection.use(() => this.pool.query(this.createStatement, this.createValues(group)));
      for (const entry of group) entry.resolve();
    } catch (error) {
      if (group.length === 1) return group[0].reject(error);
      for (const entry of group) {
        await this.connection.use(() => this.pool.query(this.createStatement, this.createValues([entry]))).then(entry.resolve, entry.reject);
      }
    }
  }

  /** The two parameters of the create statement: the runs, and their events, as JSON arrays. */
  private createValues(group: { run: RunRecord; events: RecordedEvent[] }[]): [string, string] {
    const runs = group.map(({ run }) => ({
      run_id: run.runId,
      agent: run.agent,
      user_id: run.userId,
      session_id: run.sessionId,
      trigger_name: run.trigger,
      status: run.status,
      background: run.background,
      created_at: run.createdAt,
      ended_at: run.endedAt,
      // JSON values travel as JSON text (cast back in SQL): extracted as json, PostgreSQL would refuse a NUL escape.
      output: json(run.output),
      error: json(run.error),
      last_seq: run.lastSeq,
      job: run.job ? JSON.stringify(run.job) : null,
      owner: run.owner ?? null,
    }));
    const events = group.flatMap(({ run, events: batch }) => {
      const stored = storedEvents(batch, run.output !== null);
      return batch.map(({ seq }, index) => ({ run_id: run.runId, seq, event: JSON.stringify(stored[index]) }));
    });
    return [JSON.stringify(runs), JSON.stringify(events)];
  }

  async write(runId: string, events: RecordedEvent[], change?: RunChange): Promise<void> {
    const lastSeq = events.length ? events[events.length - 1].seq : undefined;
    const { set, values } = changeSet(change ?? {}, lastSeq, 2);
    if (set === '') return;
    await this.connection.use(async () => {
      const update = `UPDATE ${this.runs} SET ${set} WHERE run_id = $1`;
      if (events.length === 0) {
        await this.pool.query(update, [runId, ...values]);
        return;
      }
      // One statement: the update locks the run's row, and the events go in only if it exists.
      await this.pool.query(`WITH run AS (${update} RETURNING run_id) ${this.insertEvents(values.length + 1)}`, [
        runId,
        ...values,
        ...this.batch(events, Boolean(change?.output)),
      ]);
    });
  }

  async queuedJobs(): Promise<RunRecord[]> {
    return this.connection.use(async () => {
      const { rows } = await this.pool.query(
        `SELECT ${RUN_COLUMNS} FROM ${this.runs} WHERE ended_at IS NULL AND status = 'queued' AND job IS NOT NULL ORDER BY created_at, run_id`,
      );
      return (rows as RunRow[]).map(fromRow);
    });
  }

  async resetRun(runId: string, change: RunChange): Promise<void> {
    const { set, values } = changeSet(change, 0, 2);
    await this.connection.use(() =>
      transaction(this.pool, async (client) => {
        // The row lock first: a write of the run waits for it, and then the delete sees every event written before.
        await client.query(`UPDATE ${this.runs} SET ${set} WHERE run_id = $1`, [runId, ...values]);
        await client.query(`DELETE FROM ${this.eventLog} WHERE run_id = $1`, [runId]);
      }),
    );
  }

  async get(runId: string): Promise<RunRecord | null> {
    return this.connection.use(async () => {
      const { rows } = await this.pool.query(`SELECT ${RUN_COLUMNS} FROM ${this.runs} WHERE run_id = $1`, [runId]);
      return rows.length ? fromRow(rows[0] as RunRow) : null;
    });
  }

  async events(runId: string, afterSeq = 0): Promise<RecordedEvent[]> {
    return this.connection.use(async () => {
      const { rows } = await this.pool.query(`SELECT seq, event FROM ${this.eventLog} WHERE run_id = $1 AND seq > $2 ORDER BY seq`, [
        runId,
        Math.floor(afterSeq),
      ]);
      const recorded = (rows as { seq: number; event: RecordedEvent['event'] & { output?: unknown } }[]).map(({ seq, event }) => ({ seq, event }));
      const terminal = recorded.find(({ event }) => (event as { output?: unknown }).output === RUN_OUTPUT);
      if (terminal) {
        const { rows: run } = await this.pool.query(`SELECT output FROM ${this.runs} WHERE run_id = $1`, [runId]);
        (terminal.event as { output?: unknown }).output = run[0]?.output ?? null;
      }
      return recorded;
    });
  }

  async claimIdempotencyKey(claim: IdempotencyRecord): Promise<IdempotencyRecord> {
    return this.connection.use(async () => {
      // One statement, so one winner: the upsert locks the key's row (or waits for the concurrent insert of it), replaces
      // it only where it expired, and always returns the row as it stands — ours when we took it.
      const expired = 'k.expires_at <= EXCLUDED.created_at';
      const { rows } = await this.pool.query(
        `INSERT INTO ${this.keys} AS k (scope, key, request_hash, run_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (scope, key) DO UPDATE SET
           request_hash = CASE WHEN ${expired} THEN EXCLUDED.request_hash ELSE k.request_hash END,
           run_id = CASE WHEN ${expired} THEN EXCLUDED.run_id ELSE k.run_id END,
           created_at = CASE WHEN ${expired} THEN EXCLUDED.created_at ELSE k.created_at END,
           expires_at = CASE WHEN ${expired} THEN EXCLUDED.expires_at ELSE k.expires_at END
         RETURNING scope, key, request_hash, run_id, created_at, expires_at`,
        [claim.scope, claim.key, claim.requestHash, claim.runId, claim.createdAt, claim.expiresAt],
      );
      const row = rows[0] as KeyRow;
      return {
        scope: row.scope,
        key: row.key,
        requestHash: row.request_hash,
        runId: row.run_id,
        createdAt: Number(row.created_at),
        expiresAt: Number(row.expires_at),
      };
    });
  }

  async releaseIdempotencyKey(scope: string, key: string, runId: string): Promise<void> {
    await this.connection.use(() => this.pool.query(`DELETE FROM ${this.keys} WHERE scope = $1 AND key = $2 AND run_id = $3`, [scope, key, runId]));
  }

  async recover(now: number, owner?: string): Promise<string[]> {
    return this.connection.use(() =>
      transaction(this.pool, async (client) => {
        // FOR UPDATE: two replicas recovering the same dead one at once do not both take a run — the second waits for the
        // first, then finds the run no longer queued or running and skips it.
        const { rows } = await client.query(
          `SELECT run_id, status, job FROM ${this.runs}
           WHERE ended_at IS NULL AND status IN ('queued', 'running') AND NOT (status = 'queued' AND job IS NOT NULL)
             ${owner === undefined ? '' : 'AND owner = $1'}
           ORDER BY run_id FOR UPDATE`,
          owner === undefined ? [] : [owner],
        );
        const requeued: { id: string; job: string }[] = [];
        const ended: { id: string; status: RecordedRunStatus }[] = [];
        for (const row of rows as Pick<RunRow, 'run_id' | 'status' | 'job'>[]) {
          const job = row.job;
          // The attempt the crash cut counts; the job waits for its next one.
          if (job && job.attempts < job.maxAttempts) requeued.push({ id: row.run_id, job: JSON.stringify({ ...job, nextAttemptAt: now }) });
          else ended.push({ id: row.run_id, status: job ? 'failed' : 'interrupted' });
        }
        if (requeued.length) await this.requeue(client, requeued);
        if (ended.length) {
          await client.query(
            `UPDATE ${this.runs} AS r SET status = e.status, ended_at = $3, error = $4::json
             FROM unnest($1::text[], $2::text[]) AS e(run_id, status) WHERE r.run_id = e.run_id`,
            [ended.map((run) => run.id), ended.map((run) => run.status), now, INTERRUPTED],
          );
        }
        return ended.map((run) => run.id);
      }),
    );
  }

  async prune(now: number): Promise<void> {
    await this.connection.use(async () => {
      const oldest = now - this.retention.maxAge;
      const expired = `SELECT run_id FROM ${this.runs} WHERE ended_at IS NOT NULL AND ended_at < $1 ORDER BY run_id LIMIT ${PRUNE_CHUNK}`;
      while ((await transaction(this.pool, (client) => this.deleteRuns(client, expired, [oldest]))) === PRUNE_CHUNK);
      await transaction(this.pool, async (client) => {
        // One replica at a time counts and deletes: two at once would each delete the excess.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`nestjs-definable:prune:${this.runs}`]);
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${this.runs}`);
        const over = (rows[0] as { n: number }).n - this.retention.maxRuns;
        if (over > 0) await this.deleteRuns(client, `SELECT run_id FROM ${this.runs} WHERE ended_at IS NOT NULL ORDER BY created_at, run_id LIMIT $1`, [over]);
      });
      await this.pool.query(`DELETE FROM ${this.keys} WHERE expires_at <= $1`, [now]);
    });
  }

  /** Ends the pool the store created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.connection.close();
  }

  /** Puts jobs back in the queue, their events dropped (inside recover's transaction, their rows locked). */
  private async requeue(client: PostgresPoolClient, jobs: { id: string; job: string }[]): Promise<void> {
    await client.query(`DELETE FROM ${this.eventLog} WHERE run_id = ANY($1::text[])`, [jobs.map((job) => job.id)]);
    await client.query(
      `UPDATE ${this.runs} AS r SET status = 'queued', job = q.job::json, last_seq = 0
       FROM unnest($1::text[], $2::text[]) AS q(run_id, job) WHERE r.run_id = q.run_id`,
      [jobs.map((job) => job.id), jobs.map((job) => job.job)],
    );
  }

  /**
   * Deletes the runs `select` picks (ended ones, locked in one order, those
   * locked by a concurrent prune skipped) and their events, in the caller's
   * transaction; returns how many. The events go in a second statement, which
   * sees every event committed before the runs' rows were locked.
   */
  private async deleteRuns(client: PostgresPoolClient, select: string, values: unknown[]): Promise<number> {
    const { rows } = await client.query(
      `DELETE FROM ${this.runs} WHERE run_id IN (${select} FOR UPDATE SKIP LOCKED) AND ended_at IS NOT NULL RETURNING run_id`,
      values,
    );
    if (rows.length === 0) return 0;
    await client.query(`DELETE FROM ${this.eventLog} WHERE run_id = ANY($1::text[])`, [rows.map((row: { run_id: string }) => row.run_id)]);
    return rows.length;
  }

  /** The INSERT of a batch of events after a `run` CTE naming the run (none if it has no row): parameters `$n+1` (sequence numbers) and `$n+2` (the events as one JSON array). */
  private insertEvents(n: number): string {
    return `INSERT INTO ${this.eventLog} (run_id, seq, event)
      SELECT run.run_id, ($${n + 1}::int[])[item.i], item.event FROM run, json_array_elements($${n + 2}::json) WITH ORDINALITY AS item(event, i)`;
  }

  /**
   * A batch as the two parameters of {@link PostgresRunStore.insertEvents}.
   * With `endsRun` (the write that records the run's output), the terminal
   * event's output — the same output — is stored once, in the run row, and
   * put back by {@link PostgresRunStore.events}.
   */
  private batch(events: RecordedEvent[], endsRun: boolean): [number[], string] {
    return [events.map((recorded) => recorded.seq), JSON.stringify(storedEvents(events, endsRun))];
  }

  /** The DDL of the store's tables (idempotent). */
  private ddl(c: PostgresTables): string {
    return `
      CREATE TABLE IF NOT EXISTS ${this.runs} (
        run_id text PRIMARY KEY,
        agent text NOT NULL,
        user_id text,
        session_id text NOT NULL,
        trigger_name text NOT NULL,
        status text NOT NULL,
        background boolean NOT NULL,
        created_at bigint NOT NULL,
        ended_at bigint,
        output json,
        error json,
        last_seq integer NOT NULL,
        job json,
        owner text
      );
      CREATE INDEX IF NOT EXISTS ${c.local('runs_unended_status')} ON ${this.runs} (status) WHERE ended_at IS NULL;
      CREATE INDEX IF NOT EXISTS ${c.local('runs_ended')} ON ${this.runs} (ended_at) WHERE ended_at IS NOT NULL;
      CREATE TABLE IF NOT EXISTS ${this.eventLog} (
        run_id text NOT NULL,
        seq integer NOT NULL,
        event json NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
      CREATE TABLE IF NOT EXISTS ${this.keys} (
        scope text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        run_id text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        PRIMARY KEY (scope, key)
      );
    `;
  }
}

/** A JSON column's parameter: `null` stays SQL NULL. */
/**
 * Events as the log keeps them: with `endsRun` (the write that records the
 * run's output), the terminal event's output — the same output — is stored
 * once, in the run row (a pause's output stays in its event: the run row's
 * output is the continuation's, later).
 */
function storedEvents(events: RecordedEvent[], endsRun: boolean): unknown[] {
  return events.map(({ event }) => (endsRun && isTerminalEvent(event.event) && event.event !== 'RunPaused' && 'output' in event ? { ...event, output: RUN_OUTPUT } : event));
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** The SET list of a change (and the new last sequence number, if any), with its parameters from `$first`. */
function changeSet(change: RunChange, lastSeq: number | undefined, first: number): { set: string; values: unknown[] } {
  const columns: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, value: unknown, cast = '') => {
    values.push(value);
    columns.push(`${column} = $${first + values.length - 1}${cast}`);
  };
  if (lastSeq !== undefined) add('last_seq', lastSeq);
  if (change.status !== undefined) add('status', change.status);
  if (change.endedAt !== undefined) add('ended_at', change.endedAt);
  if (change.output !== undefined) add('output', json(change.output), '::json');
  if (change.error !== undefined) add('error', json(change.error), '::json');
  if (change.job !== undefined) add('job', json(change.job), '::json');
  if (change.owner !== undefined) add('owner', change.owner);
  return { set: columns.join(', '), values };
}

function fromRow(row: RunRow): RunRecord {
  return {
    runId: row.run_id,
    agent: row.agent,
    userId: row.user_id,
    sessionId: row.session_id,
    trigger: row.trigger_name,
    status: row.status,
    background: row.background,
    createdAt: Number(row.created_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    output: row.output,
    error: row.error,
    lastSeq: row.last_seq,
    job: row.job,
    owner: row.owner,
  };
}
