import { Controller, Get, HttpCode, Inject, Optional, Post, Req, Res, Type, UseFilters, UseGuards } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ServerResponse } from 'node:http';
import { AgentError, AgentRunError } from '../agent';
import type { RunEvent } from '../agent';
import { AUTH_CONTEXT_PROPERTY, AuthContext, AuthProvider, DefinableAuthGuard, Public } from '../auth';
import { AuthRefusal, verifyAuth } from '../auth/auth-provider';
import { DEFINABLE_AUTH } from '../auth/auth.constants';
import { RunQuotas } from '../module/quotas/run-quotas';
import { RunApprovals } from '../module/approvals/run-approvals';
import { AgentRegistry } from '../module/agent.registry';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import { DEFINABLE_OPTIONS } from '../module/definable.module-definition';
import { AgentRunner, RunnerOptions } from '../module/agent.runner';
import { HealthRegistry } from '../module/health.registry';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import { assertContentType, DefinableHttpError } from '../module/http-errors';
import { RunIdempotency } from '../module/runs/run-idempotency';
import { RunRecorder } from '../module/runs/run-recorder';
import { DefinableMetrics } from '../module/telemetry/definable-metrics';
import { lastEventId, publicFrame, publicRun, SSE_HEADERS, writeRunEvents } from './run-events-writer';
import { callerUserId, parseRunRequest, requestedAgent } from './run-request';
import { toWireApproval, toWireOutput, WireApproval, WireRun } from './wire-format';
import type { RunRecord } from '../module/runs/run-store';

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * The built-in routes: `POST /run` (JSON, Server-Sent Events with
 * `"stream": true` or `Accept: text/event-stream`, or a background run with
 * `"background": true`; `Idempotency-Key` honoured), the recorded runs
 * (`GET /runs/:id`, `GET /runs/:id/events`, `POST /runs/:id/cancel`) and
 * `GET /health` (always public). Mounted under the module's `server.prefix`.
 */
@UseFilters(DefinableExceptionFilter)
export class DefinableController {
  private readonly startedAt = Date.now();
  private readonly bodyLimit: number;

  constructor(
    private readonly agents: AgentRegistry,
    private readonly runner: AgentRunner,
    private readonly adapterHost: HttpAdapterHost,
    private readonly healthFields: HealthRegistry,
    private readonly recorder: RunRecorder,
    private readonly idempotency: RunIdempotency,
    @Inject(DEFINABLE_OPTIONS) private readonly options: DefinableModuleOptions,
    @Inject(DEFINABLE_AUTH) private readonly auth: AuthProvider | null,
    private readonly approvals: RunApprovals,
    @Optional() @Inject(RunQuotas) private readonly quotas?: RunQuotas | null,
  ) {
    this.bodyLimit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  }

  /**
   * `GET /health`: liveness and what is running. Public even when auth is on.
   * A trusted caller (authenticated by the module's provider as trusted) also
   * gets `quotas`: the global usage, each agent's, and with `?user_id=` that
   * user's.
   */
  @Get('health')
  @Public()
  async health(@Req() request: any): Promise<Record<string, unknown>> {
    return {
      status: 'ok',
      agent: this.agents.defaultName,
      agents: this.agents.names(),
      model: this.agents.default.model.id,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      ...this.healthFields.fields(),
      ...this.options?.health,
      ...(this.quotas && (await this.trusted(request)) ? { quotas: await this.quotaUsage(this.quotas, request.query?.user_id) } : {}),
    };
  }

  /** Whether the request is from a principal the module's auth provider trusts (no provider: nobody is). */
  private async trusted(request: any): Promise<boolean> {
    if (!this.auth) return false;
    const verdict = await verifyAuth(this.auth, { platform: 'http', headers: request.headers ?? {}, method: request.method, path: request.url });
    return !AuthRefusal.is(verdict) && verdict.trusted === true;
  }

  private async quotaUsage(quotas: RunQuotas, userId: unknown): Promise<Record<string, unknown>> {
    const agents: Record<string, unknown> = {};
    let global: unknown;
    for (const name of this.agents.names()) {
      const usage = await quotas.usage({ agent: name });
      agents[name] = usage.agent ?? null;
      global ??= usage.global;
    }
    const user = typeof userId === 'string' && userId !== '' ? (await quotas.usage({ userId })).user ?? null : undefined;
    return { global: global ?? null, agents, ...(user !== undefined ? { user } : {}) };
  }

  /**
   * `GET /health/ready`: readiness for load balancers and Kubernetes probes —
   * 200 while the app takes runs, 503 from the moment shutdown begins (while
   * runs in flight drain), so traffic moves away first — and 503
   * `unavailable` while what the app needs does not answer (Redis of the
   * `cluster` option, the database of the `stores` option), naming it in
   * `unreachable`. Public.
   */
  @Get('health/ready')
  @Public()
  async ready(@Res({ passthrough: true }) reply: any): Promise<{ status: 'ready' | 'shutting_down' | 'unavailable'; unreachable?: string[] }> {
    const unavailable = () => {
      const raw = reply.raw ?? reply;
      if (typeof reply.status === 'function') reply.status(503);
      else raw.statusCode = 503;
    };
    if (this.runner.isClosing) {
      unavailable();
      return { status: 'shutting_down' };
    }
    const unreachable = await this.healthFields.unreachable();
    if (!unreachable.length) return { status: 'ready' };
    unavailable();
    return { status: 'unavailable', unreachable };
  }

  /** `POST /run`: runs an agent and answers with its output or its events. */
  @Post('run')
  // The handler answers itself (200, or an SSE stream); this keeps Nest's default and Swagger from saying 201.
  @HttpCode(200)
  @UseGuards(DefinableAuthGuard)
  async run(@Req() request: any, @Res() reply: any): Promise<void> {
    // A declared length over the limit is refused here; a chunked body was measured by the platform's
    // parser already (Fastify's bodyLimit, Express's JSON limit): never re-serialised to measure it.
    const length = Number(request.headers?.['content-length'] ?? 0);
    if (length > this.bodyLimit) {
      throw new DefinableHttpError(
        413,
        'payload_too_large',
        `The body is ${length} bytes; the limit is ${this.bodyLimit}: send a smaller body, or (server side) raise bodyLimit in DefinableModule.forRoot().`,
      );
    }
    if (this.runner.isClosing) throw new DefinableHttpError(503, 'shutting_down', 'The server is shutting down; retry against another instance.');
    const body = parseRunRequest(request.body, request.headers?.['content-type']);
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const userId = callerUserId(principal, body.user_id);
    const agent = requestedAgent(this.agents, body.agent);
    const accept = String(request.headers?.accept ?? '');
    const streaming = body.stream ?? accept.includes('text/event-stream');
    if (body.background && body.stream) {
      throw new DefinableHttpError(400, 'invalid_request', '"background" and "stream" do not go together: start the run with "background": true, then follow it with GET /runs/{run_id}/events.');
    }
    const raw: ServerResponse = reply.raw ?? reply;
    const runOptions: RunnerOptions = {
      agent,
      trigger: 'POST /run',
      sessionId: body.session_id,
      userId,
      metadata: { ...body.metadata, ...(principal ? { auth: principal.provider } : {}) },
      traceCarrier: request.headers,
    };
    const key = this.idempotency.keyOf(request.headers);
    if (key) {
      const claim = await this.idempotency.claim(principal, key, { input: body.input, session_id: body.session_id, user_id: userId, agent: agent.name, metadata: body.metadata });
      if (claim.replay) return this.replay(claim.runId, body.background ? 'background' : streaming ? 'stream' : 'json', request, reply);
      runOptions.runId = claim.runId;
    }
    // A run refused before it began (quota, shutdown) gives its key back: the retry runs at once.
    const refused = async (error: unknown) => {
      if (key && runOptions.runId && error instanceof AgentError && !(error instanceof AgentRunError)) {
        await this.idempotency.release(principal, key, runOptions.runId).catch(() => undefined);
      }
      return error;
    };
    if (body.background) {
      const started = await this.runner.start(body.input, runOptions).catch(async (error) => Promise.reject(await refused(error)));
      this.adapterHost.httpAdapter.reply(reply, { run_id: started.runId, session_id: started.sessionId, status: 'queued' }, 202);
      return;
    }
    // A run under an idempotency key goes on when its client leaves: the retry is answered from it.
    const controller = new AbortController();
    const onClose = () => {
      if (!raw.writableEnded) controller.abort('The client disconnected.');
    };
    if (!key) {
      raw.once('close', onClose);
      runOptions.signal = controller.signal;
    }

    if (!streaming) {
      try {
        const output = await this.runner.run(body.input, runOptions);
        this.adapterHost.httpAdapter.reply(reply, toWireOutput(output), 200);
      } catch (error) {
        // A client that went away gets no answer.
        if (error instanceof AgentRunError && error.code === 'cancelled' && raw.destroyed) return;
        throw await refused(error);
      } finally {
        raw.removeListener('close', onClose);
      }
      return;
    }

    if (key) {
      // Followed like a background run, so the client leaving does not end it.
      const { runId } = await this.runner.start(body.input, runOptions).catch(async (error) => Promise.reject(await refused(error)));
      this.openStream(reply, raw);
      await writeRunEvents(raw, this.recorder, runId, 0, 'POST /run (stream)');
      if (!raw.destroyed) raw.end();
      return;
    }
    let events: AsyncGenerator<RunEvent, void, undefined>;
    try {
      events = await this.runner.stream(body.input, runOptions); // refused here (503, 429) before any header is written
    } catch (error) {
      raw.removeListener('close', onClose);
      throw error;
    }
    this.openStream(reply, raw);
    let seq = 0;
    try {
      for await (const event of events) {
        if (raw.destroyed) break;
        raw.write(publicFrame(event, ++seq, 'POST /run (stream)'));
      }
    } finally {
      raw.removeListener('close', onClose);
      if (!raw.destroyed) raw.end();
    }
  }

  /**
   * `GET /runs/:id`: a recorded run — status, trigger, times, and the output
   * once it ended. Visible to its own user and trusted principals (anyone
   * else gets 404, as for an unknown id).
   */
  @Get('runs/:id')
  @UseGuards(DefinableAuthGuard)
  async getRun(@Req() request: any): Promise<WireRun> {
    return publicRun(await this.visibleRun(request), `GET /runs/:id`);
  }

  /**
   * `GET /runs/:id/events`: the run's events as Server-Sent Events — those
   * recorded, then the live ones until its end; every frame has `id: <seq>`,
   * and a client reconnecting with `Last-Event-ID` gets exactly the events
   * after it. Visibility as `GET /runs/:id`.
   */
  @Get('runs/:id/events')
  @UseGuards(DefinableAuthGuard)
  async runEvents(@Req() request: any, @Res() reply: any): Promise<void> {
    const record = await this.visibleRun(request);
    const after = lastEventId(request.headers);
    const raw: ServerResponse = reply.raw ?? reply;
    this.openStream(reply, raw);
    await writeRunEvents(raw, this.recorder, record.runId, after, 'GET /runs/:id/events');
    if (!raw.destroyed) raw.end();
  }

  /**
   * `POST /runs/:id/cancel`: cancels a queued or running run (it ends with
   * `RunCancelled`) and answers with the run as `GET /runs/:id` does; a run
   * that already ended is left as it is (idempotent).
   */
  @Post('runs/:id/cancel')
  @HttpCode(200)
  @UseGuards(DefinableAuthGuard)
  async cancelRun(@Req() request: any): Promise<WireRun> {
    const record = await this.visibleRun(request);
    return publicRun(await this.recorder.cancel(record, 'Cancelled with POST /runs/:id/cancel.'), 'POST /runs/:id/cancel');
  }

  /**
   * `POST /runs/:id/approvals/:approvalId` `{ "approve": true | false, "reason"? }`:
   * decides a tool call the run paused for — by the run's own user, a
   * trusted principal, or whom the module's `approvals.approver` allows.
   * Single-use (a second decision is 409 `approval_decided`, so is one past
   * its expiry); once the run's approvals are all decided it goes on
   * (`continued: true`; follow it with `GET /runs/:id/events`).
   */
  @Post('runs/:id/approvals/:approvalId')
  @HttpCode(200)
  @UseGuards(DefinableAuthGuard)
  async decideApproval(@Req() request: any): Promise<{ approval: WireApproval; continued: boolean }> {
    const decision = parseDecision(request.body, request.headers?.['content-type']);
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const { approval, continued } = await this.approvals.decide(String(request.params?.id ?? ''), String(request.params?.approvalId ?? ''), decision, principal);
    return { approval: toWireApproval(approval), continued };
  }

  /**
   * `GET /approvals` (`?status=pending|approved|rejected|expired`, `?agent=`,
   * `?run_id=`): the approvals the caller may decide — its own runs', every
   * one for a trusted principal (or without auth), and those the module's
   * `approvals.approver` allows. Oldest first, at most 100.
   */
  @Get('approvals')
  @UseGuards(DefinableAuthGuard)
  async listApprovals(@Req() request: any): Promise<{ approvals: WireApproval[] }> {
    const query = request.query ?? {};
    const status = query.status;
    if (status !== undefined && !['pending', 'approved', 'rejected', 'expired'].includes(status)) {
      throw new DefinableHttpError(400, 'invalid_request', '"status" must be pending, approved, rejected or expired.');
    }
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const approvals = await this.approvals.list(principal, {
      ...(status ? { status } : {}),
      ...(typeof query.agent === 'string' && query.agent ? { agentName: query.agent } : {}),
      ...(typeof query.run_id === 'string' && query.run_id ? { runId: query.run_id } : {}),
    });
    return { approvals: approvals.map(toWireApproval) };
  }

  /** The run named in the path, if the principal may see it; 404 otherwise (an unknown id and another user's look alike). */
  private async visibleRun(request: any): Promise<RunRecord> {
    const runId = String(request.params?.id ?? '');
    const record = runId ? await this.recorder.get(runId) : null;
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    if (!record || (principal && !principal.trusted && record.userId !== principal.userId)) {
      throw new DefinableHttpError(404, 'run_not_found', `No run "${runId.slice(0, 100)}" that you can see: check the run_id (runs are kept for a limited time).`);
    }
    return record;
  }

  /** Answers a request whose idempotency key was used before with the same request, from that run. */
  private async replay(runId: string, mode: 'json' | 'stream' | 'background', request: any, reply: any): Promise<void> {
    const raw: ServerResponse = reply.raw ?? reply;
    if (mode === 'background') {
      const record = await this.recorder.get(runId);
      this.adapterHost.httpAdapter.reply(reply, { run_id: runId, session_id: record?.sessionId, status: record?.status ?? 'queued' }, 202);
      return;
    }
    if (mode === 'stream') {
      this.openStream(reply, raw);
      await writeRunEvents(raw, this.recorder, runId, lastEventId(request.headers), 'POST /run (stream)');
      if (!raw.destroyed) raw.end();
      return;
    }
    const record = await this.idempotency.ended(runId);
    if (record?.status === 'completed' && record.output) {
      this.adapterHost.httpAdapter.reply(reply, toWireOutput(record.output), 200);
      return;
    }
    const error = record?.error ?? { code: 'interrupted', message: 'The first run under this Idempotency-Key is no longer recorded; use a new key.' };
    throw new AgentError(error.code, error.message);
  }

  /** Starts a Server-Sent Events answer. */
  private openStream(reply: any, raw: ServerResponse): void {
    if (typeof reply.hijack === 'function') reply.hijack();
    raw.writeHead(200, SSE_HEADERS);
    raw.flushHeaders();
  }
}

/** The built-in controller mounted under `prefix`. */
export function createDefinableController(prefix: string): Type<DefinableController> {
  @Controller(prefix)
  class DefinableRoutes extends DefinableController {}
  return DefinableRoutes;
}

/**
 * `GET /metrics` at `path`: the Prometheus exposition of the registry the
 * module's metrics live in (the app's default registry unless another was
 * given), for an app that does not serve its own. Public, like `/health`.
 */
export function createMetricsController(path: string): Type<unknown> {
  @Controller()
  class DefinableMetricsRoute {
    constructor(
      private readonly metrics: DefinableMetrics,
      private readonly adapterHost: HttpAdapterHost,
    ) {}

    @Get(path)
    @Public()
    async scrape(@Res() reply: any): Promise<void> {
      const scraped = await this.metrics.scrape();
      if (!scraped) throw new DefinableHttpError(404, 'not_found', 'Metrics are off: enable them with DefinableModule.forRoot({ metrics: true }).');
      const adapter = this.adapterHost.httpAdapter;
      adapter.setHeader(reply, 'content-type', scraped.contentType);
      adapter.reply(reply, scraped.body, 200);
    }
  }
  UseFilters(DefinableExceptionFilter)(DefinableMetricsRoute);
  return DefinableMetricsRoute;
}

/** The body of a decision: `{ "approve": true | false, "reason"?: string }`; 415 for non-JSON, 400 naming what is wrong. */
function parseDecision(body: unknown, contentType: unknown): { approve: boolean; reason?: string } {
  assertContentType(contentType, ['application/json'], 'POST /runs/:id/approvals/:approvalId', 'send {"approve": true} or {"approve": false, "reason": "..."}');
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new DefinableHttpError(400, 'invalid_request', 'The body must be a JSON object: {"approve": true} or {"approve": false, "reason": "..."}.');
  }
  const { approve, reason, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new DefinableHttpError(400, 'invalid_request', `Unknown field "${unknown[0].slice(0, 40)}": a decision takes "approve" and "reason".`);
  if (typeof approve !== 'boolean') throw new DefinableHttpError(400, 'invalid_request', '"approve" is required and must be true or false.');
  if (reason !== undefined && reason !== null && (typeof reason !== 'string' || reason.length > 2000)) {
    throw new DefinableHttpError(400, 'invalid_request', '"reason" must be a string of at most 2000 characters.');
  }
  return { approve, ...(typeof reason === 'string' && reason !== '' ? { reason } : {}) };
}
