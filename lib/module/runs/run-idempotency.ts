import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AuthContext } from '../../auth';
import type { DefinableModuleOptions } from '../definable-module.options';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import { DefinableHttpError } from '../http-errors';
import { RunRecorder } from './run-recorder';
import { hasEnded } from './run-store';
import type { RunRecord } from './run-store';

/** How long a request waits for a run another request claimed a key for to be recorded, before the key is taken as lost. */
const CLAIM_SETTLE_MS = 5_000;
const POLL_MS = 25;

/** What a claim of an idempotency key decided: run now under `runId`, or answer from the run `runId` already is. */
export interface IdempotencyClaim {
  runId: string;
  /** `true`: the key was used before with the same request; answer from that run, do not run again. */
  replay: boolean;
}

/**
 * Idempotency keys of `POST /run` and webhooks (`Idempotency-Key` header):
 * scoped to the principal, kept for `idempotency.ttl` (default 24 h) in the run
 * store, so a retried request is answered from the first run — never a second
 * model call — and a key reused with another request is refused (409
 * `idempotency_mismatch`). A key whose run did not complete (error,
 * cancelled, interrupted) is given back, so the retry runs.
 */
@Injectable()
export class RunIdempotency {
  private readonly ttl: number;

  constructor(
    private readonly recorder: RunRecorder,
    @Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions,
  ) {
    this.ttl = options?.idempotency?.ttl ?? 24 * 60 * 60 * 1000;
    if (!(this.ttl > 0)) throw new RangeError(`DefinableModule: idempotency.ttl must be a positive number of milliseconds, got ${this.ttl}.`);
  }

  /**
   * The key of a request's `Idempotency-Key` header, `undefined` without one;
   * 400 for one that is empty, over 255 characters or not printable ASCII.
   */
  keyOf(headers: Record<string, unknown> | undefined): string | undefined {
    const header = headers?.['idempotency-key'];
    if (header === undefined) return undefined;
    const key = Array.isArray(header) ? header[0] : header;
    if (typeof key !== 'string' || !/^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/.test(key)) {
      throw new DefinableHttpError(400, 'invalid_request', 'Idempotency-Key must be 1 to 255 printable ASCII characters, e.g. a UUID.');
    }
    return key;
  }

  /**
   * Claims `key` for the principal and this request (`request`: what makes two
   * requests the same, e.g. input, session, user and agent). A fresh key
   * gives a new `runId` to run under; a key used before with the same request
   * gives that run's id with `replay`; with another request, 409.
   */
  async claim(principal: AuthContext | undefined, key: string, request: unknown): Promise<IdempotencyClaim> {
    const scope = scopeOf(principal);
    const requestHash = createHash('sha256').update(stableJson(request)).digest('base64url');
    for (;;) {
      const now = Date.now();
      const runId = randomUUID();
      const held = await this.recorder.store.claimIdempotencyKey({ scope, key, requestHash, runId, createdAt: now, expiresAt: now + this.ttl });
      if (held.runId === runId) return { runId, replay: false };
      if (held.requestHash !== requestHash) {
        throw new DefinableHttpError(
          409,
          'idempotency_mismatch',
          'This Idempotency-Key was already used with a different request: use a new key for a new request, or resend the same body to get the first answer.',
        );
      }
      const record = await this.recorded(held.runId, held.createdAt);
      // Completed work is what must not be done twice; a run that failed, was cancelled or
      // interrupted (or was never recorded) answers nothing worth repeating: the retry runs.
      if (record && (!hasEnded(record.status) || record.status === 'completed')) return { runId: held.runId, replay: true };
      await this.recorder.store.releaseIdempotencyKey(scope, key, held.runId);
    }
  }

  /**
   * Gives back a key whose run was refused before it began (over quota,
   * shutting down): a retry under the key runs at once instead of waiting for
   * a run that will never be recorded.
   */
  async release(principal: AuthContext | undefined, key: string, runId: string): Promise<void> {
    await this.recorder.store.releaseIdempotencyKey(scopeOf(principal), key, runId);
  }

  /** Waits for the run to end (live in this process, or in the store) and returns its record; `null` if it is gone. */
  async ended(runId: string): Promise<RunRecord | null> {
    for (;;) {
      const live = this.recorder.find(runId);
      if (live) return live.ended;
      const record = await this.recorder.get(runId);
      if (!record || hasEnded(record.status)) return record;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS * 20));
    }
  }

  /** The run a key holds, waiting a little for a concurrent claimant to record it. */
  private async recorded(runId: string, claimedAt: number): Promise<RunRecord | null> {
    for (;;) {
      const record = await this.recorder.get(runId);
      if (record || Date.now() - claimedAt > CLAIM_SETTLE_MS) return record;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/** Whose keys these are: one namespace per authenticated principal. */
function scopeOf(principal: AuthContext | undefined): string {
  return principal ? `${principal.provider}:${principal.userId}` : 'anonymous';
}

/** JSON with object keys sorted, so two equal requests hash alike whatever their key order. */
function stableJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}
