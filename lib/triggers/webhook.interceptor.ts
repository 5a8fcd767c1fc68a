import { CallHandler, ExecutionContext, HttpException, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { catchError, from, mergeMap, Observable } from 'rxjs';
import { AgentError, AgentRunError } from '../agent';
import { AgentRunner } from '../module/agent.runner';
import { AUTH_CONTEXT_PROPERTY } from '../auth';
import type { AuthContext } from '../auth';
import { RunIdempotency } from '../module/runs/run-idempotency';
import { RunRecorder } from '../module/runs/run-recorder';
import { assertContentType, DefinableHttpError, newRequestId } from '../module/http-errors';
import { redactSecrets } from '../module/redact';
import type { TriggerEvent, TriggerResult } from './trigger-event';
import { TRIGGER_EVENT_PROPERTY, WebhookMeta } from './trigger.metadata';
import type { WebhookMetadata } from './trigger.metadata';
import { EXPRESS_RAW_BODY_FIX } from './webhook-raw-body';
import { WebhookSignatureError } from './webhook-signatures';
import { WebhookQueue } from './webhook-queue';
import type { WebhookVerifier } from './webhook-signatures';
import { TriggerExecutor, TriggerResultError } from './trigger.executor';

const WEBHOOK_CONTENT_TYPE_HINT = "send Content-Type: application/json, or (server side) accept other types with @Webhook(path, { contentTypes: ['application/x-www-form-urlencoded'] })";

/**
 * Runs around every `@Webhook` handler: hands it the {@link TriggerEvent},
 * then runs the agent with what it returns and answers with the run's
 * `{ content, run_id, session_id }` (or `{ status: 'ok' }`). A handler that
 * throws answers 500 with its message — never a silent 200. Once shutdown has
 * begun it answers 503 `shutting_down` without calling the handler. A
 * delivery with an idempotency key seen before is answered from its first run
 * without calling the handler.
 */
@Injectable()
export class WebhookInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Definable:Webhooks');

  // Injected in the webhook's own module: DefinableModule is global by default, so any module sees it.
  constructor(
    private readonly executor: TriggerExecutor,
    private readonly runner: AgentRunner,
    private readonly reflector: Reflector,
    private readonly idempotency: RunIdempotency,
    private readonly recorder: RunRecorder,
    private readonly queue: WebhookQueue,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // Intake stops first at shutdown: the handler does not run for a run that would be refused.
    if (this.runner.isClosing) {
      throw new DefinableHttpError(503, 'shutting_down', 'The server is shutting down; retry the delivery against another instance.');
    }
    const request = context.switchToHttp().getRequest();
    const meta = this.reflector.get(WebhookMeta, context.getHandler());
    if (request.body !== undefined && request.body !== null && request.body !== '' && (meta?.method ?? 'POST') !== 'GET') {
      assertContentType(request.headers?.['content-type'], meta?.contentTypes ?? ['application/json'], `${meta?.method ?? 'POST'} ${meta?.path ?? ''}`.trim(), WEBHOOK_CONTENT_TYPE_HINT);
    }
    const label = `${context.getClass().name}.${context.getHandler().name}`;
    if (meta?.verify) this.verifySignature(meta.verify, request, label);
    const event: TriggerEvent = {
      body: request.body,
      headers: request.headers ?? {},
      source: `${request.method} ${String(request.url ?? '').split('?')[0]}`,
      timestamp: new Date(),
      raw: request,
    };
    request[TRIGGER_EVENT_PROPERTY] = event;
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const key = this.keyOf(meta, event, label);
    if (meta?.mode === 'async') return from(this.accept(context, meta, event, principal, key));
    if (!key) return this.handle(next, event, meta, label, principal);
    return from(this.idempotency.claim(principal, key, { route: event.source, body: event.body })).pipe(
      mergeMap((claim) => (claim.replay ? from(this.replay(claim.runId)) : this.handle(next, event, meta, label, principal, claim.runId, key))),
    );
  }

  /** Calls the handler and runs the agent with what it returns (under `runId`, for an idempotency key). */
  private handle(
    next: CallHandler,
    event: TriggerEvent,
    meta: WebhookMetadata | undefined,
    label: string,
    principal: AuthContext | undefined,
    runId?: string,
    key?: string,
  ): Observable<unknown> {
    const executor = this.executor;
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (error instanceof HttpException) throw error;
        // The handler's own message may hold anything (internal URLs, ids, secrets): it goes to the log only.
        const requestId = newRequestId();
        const detail = error instanceof Error ? error.stack ?? error.message : String(error);
        this.logger.error(`${label} (${event.source}) threw [${requestId}]: ${redactSecrets(detail)}`);
        throw new DefinableHttpError(500, 'handler_failed', 'The webhook handler failed; the server log has the details.', requestId);
      }),
      mergeMap(async (result: TriggerResult) => {
        try {
          const output = await executor.execute(result, event, meta?.agent, principal, runId);
          if (!output && runId) await this.recorder.recordNothing(runId, event.source, principal?.userId ?? null);
          return output ? { content: output.content, run_id: output.runId, session_id: output.sessionId } : { status: 'ok' };
        } catch (error) {
          // The handler's result is the server's mistake, not the caller's.
          if (error instanceof TriggerResultError) throw new DefinableHttpError(500, 'handler_failed', error.message);
          // A run refused before it began (quota, shutdown) gives its key back: the retry runs at once.
          if (key && runId && error instanceof AgentError && !(error instanceof AgentRunError)) {
            await this.idempotency.release(principal, key, runId).catch(() => undefined);
          }
          throw error;
        }
      }),
    );
  }

  /** Checks the delivery's signature over its raw body; 401 `invalid_signature` when it is missing, wrong or stale. */
  private verifySignature(verifier: WebhookVerifier, request: any, label: string): void {
    const rawBody = request.rawBody ?? request.raw?.rawBody;
    if (!Buffer.isBuffer(rawBody)) {
      this.logger.error(`${label}: the raw body is not available to check its signature: ${EXPRESS_RAW_BODY_FIX}`);
      throw new DefinableHttpError(500, 'internal', 'The server cannot check this webhook\'s signature; the server log says what to change.');
    }
    try {
      verifier.verify({ rawBody, headers: request.headers ?? {} });
    } catch (error) {
      if (error instanceof WebhookSignatureError) throw new DefinableHttpError(401, 'invalid_signature', `${error.message}.`.replace(/\.\.$/, '.'));
      throw error;
    }
  }

  /** Async mode: records the delivery in the durable queue and answers 202 `{ run_id, status }` (a repeated key: the first delivery's). */
  private async accept(context: ExecutionContext, meta: WebhookMetadata, event: TriggerEvent, principal: AuthContext | undefined, key: string | undefined): Promise<unknown> {
    const reply = context.switchToHttp().getResponse();
    const accepted = (body: unknown) => {
      if (typeof reply.status === 'function') reply.status(202);
      else (reply.raw ?? reply).statusCode = 202;
      return body;
    };
    let runId: string = randomUUID();
    if (key) {
      const claim = await this.idempotency.claim(principal, key, { route: event.source, body: event.body });
      if (claim.replay) {
        const record = await this.recorder.get(claim.runId);
        // On several replicas, the first delivery's replica may have died between recording it and queuing it (queued
        // again here), or between claiming its key and recording it (queued below under the claimed id: BullMQ runs one
        // job per id, however many replicas queue it).
        if (record) await this.queue.resubmit(record);
        if (record || !this.queue.clustered) return accepted({ run_id: claim.runId, status: record?.status ?? 'queued' });
      }
      runId = claim.runId;
    }
    const handler = `${context.getClass().name}.${methodNameOf(context)}`;
    try {
      await this.queue.enqueue({ runId, handler, event, principal, maxAttempts: meta.maxAttempts ?? 5, retryDelay: meta.retryDelay ?? 1000 });
    } catch (error) {
      // Not queued: the key is given back, so the sender's retry is queued anew rather than answered with this one.
      if (key) await this.idempotency.release(principal, key, runId).catch(() => undefined);
      throw error;
    }
    return accepted({ run_id: runId, status: 'queued' });
  }

  /** A repeated delivery's answer: its first run's, once that has ended. */
  private async replay(runId: string): Promise<unknown> {
    const record = await this.idempotency.ended(runId);
    if (record?.status === 'completed') {
      return record.output ? { content: record.output.content, run_id: record.runId, session_id: record.sessionId } : { status: 'ok' };
    }
    const error = record?.error ?? { code: 'interrupted' as const, message: 'The first delivery with this idempotency key is no longer recorded; send it with a new key.' };
    throw new AgentError(error.code, error.message);
  }

  /** The delivery's idempotency key: the webhook's `idempotencyKey` of the event, else the `Idempotency-Key` header. */
  private keyOf(meta: WebhookMetadata | undefined, event: TriggerEvent, label: string): string | undefined {
    if (!meta?.idempotencyKey) return this.idempotency.keyOf(event.headers);
    let derived: unknown;
    try {
      derived = meta.idempotencyKey(event);
    } catch (error) {
      this.logger.error(`${label}: its idempotencyKey function threw: ${redactSecrets(error instanceof Error ? error.message : String(error))}`);
      throw new DefinableHttpError(500, 'handler_failed', 'The webhook could not derive the delivery\'s idempotency key; the server log has the details.');
    }
    if (derived === undefined || derived === null || derived === '') return this.idempotency.keyOf(event.headers);
    return this.idempotency.keyOf({ 'idempotency-key': derived });
  }
}

/** The handler's property name on its class (a declared webhook's function has no name of its own), as the explorer registers it. */
function methodNameOf(context: ExecutionContext): string {
  const handler = context.getHandler();
  const prototype = context.getClass().prototype;
  return Object.getOwnPropertyNames(prototype).find((name) => name !== 'constructor' && prototype[name] === handler) ?? handler.name;
}
