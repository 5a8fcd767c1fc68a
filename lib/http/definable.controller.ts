import { Controller, Get, HttpCode, Inject, Logger, Post, Req, Res, Type, UseFilters, UseGuards } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ServerResponse } from 'node:http';
import { AgentRunError } from '../agent';
import type { RunErrorEvent, RunEvent } from '../agent';
import { AUTH_CONTEXT_PROPERTY, AuthContext, DefinableAuthGuard, Public } from '../auth';
import { AgentRegistry } from '../module/agent.registry';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import { DEFINABLE_OPTIONS } from '../module/definable.module-definition';
import { AgentRunner } from '../module/agent.runner';
import { HealthRegistry } from '../module/health.registry';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import { DefinableHttpError, publicError } from '../module/http-errors';
import { parseRunRequest } from './run-request';
import { sseData, sseFrame, toWireEvent, toWireOutput, WireRunOutput } from './wire-format';

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * The built-in routes: `POST /run` (JSON, or Server-Sent Events with
 * `"stream": true` or `Accept: text/event-stream`) and `GET /health` (always
 * public). Mounted under the module's `server.prefix`.
 */
@UseFilters(DefinableExceptionFilter)
export class DefinableController {
  private readonly logger = new Logger('Definable:HTTP');
  private readonly startedAt = Date.now();
  private readonly bodyLimit: number;

  constructor(
    private readonly agents: AgentRegistry,
    private readonly runner: AgentRunner,
    private readonly adapterHost: HttpAdapterHost,
    private readonly healthFields: HealthRegistry,
    @Inject(DEFINABLE_OPTIONS) private readonly options: DefinableModuleOptions,
  ) {
    this.bodyLimit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  }

  /** `GET /health`: liveness and what is running. Public even when auth is on. */
  @Get('health')
  @Public()
  health(): Record<string, unknown> {
    return {
      status: 'ok',
      agent: this.agents.defaultName,
      agents: this.agents.names(),
      model: this.agents.default.model.id,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      ...this.healthFields.fields(),
      ...this.options?.health,
    };
  }

  /**
   * `GET /health/ready`: readiness for load balancers and Kubernetes probes —
   * 200 while the app takes runs, 503 from the moment shutdown begins (while
   * runs in flight drain), so traffic moves away first. Public.
   */
  @Get('health/ready')
  @Public()
  ready(@Res({ passthrough: true }) reply: any): { status: 'ready' | 'shutting_down' } {
    if (!this.runner.isClosing) return { status: 'ready' };
    const raw = reply.raw ?? reply;
    if (typeof reply.status === 'function') reply.status(503);
    else raw.statusCode = 503;
    return { status: 'shutting_down' };
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
    let userId = body.user_id;
    if (principal) {
      if (body.user_id !== undefined && body.user_id !== principal.userId && !principal.trusted) {
        throw new DefinableHttpError(403, 'forbidden', `"user_id" must be your own (${principal.userId}) or left out; only trusted services may act for other users.`);
      }
      userId = body.user_id ?? principal.userId;
    }
    const agent = this.agents.find(body.agent);
    if (!agent) {
      throw new DefinableHttpError(400, 'unknown_agent', `No agent named "${body.agent}"; use one of: ${this.agents.names().join(', ')}.`);
    }
    const accept = String(request.headers?.accept ?? '');
    const streaming = body.stream ?? accept.includes('text/event-stream');
    const raw: ServerResponse = reply.raw ?? reply;
    const controller = new AbortController();
    const onClose = () => {
      if (!raw.writableEnded) controller.abort('The client disconnected.');
    };
    raw.once('close', onClose);
    const runOptions = {
      agent,
      trigger: 'POST /run',
      sessionId: body.session_id,
      userId,
      metadata: { ...body.metadata, ...(principal ? { auth: principal.provider } : {}) },
      signal: controller.signal,
    };

    if (!streaming) {
      try {
        const output = await this.runner.run(body.input, runOptions);
        this.adapterHost.httpAdapter.reply(reply, toWireOutput(output), 200);
      } catch (error) {
        // A client that went away gets no answer.
        if (error instanceof AgentRunError && error.code === 'cancelled' && raw.destroyed) return;
        throw error;
      } finally {
        raw.removeListener('close', onClose);
      }
      return;
    }

    let events: AsyncGenerator<RunEvent, void, undefined>;
    try {
      events = this.runner.stream(body.input, runOptions); // refused here (503) before any header is written
    } catch (error) {
      raw.removeListener('close', onClose);
      throw error;
    }
    if (typeof reply.hijack === 'function') reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.flushHeaders();
    try {
      for await (const event of events) {
        if (raw.destroyed) break;
        raw.write(event.event === 'RunError' ? this.publicRunError(event) : sseFrame(event));
      }
    } finally {
      raw.removeListener('close', onClose);
      if (!raw.destroyed) raw.end();
    }
  }

  /** A `RunError` frame as callers may see it: a provider's own error text goes to the log, under the request id the frame carries. */
  private publicRunError(event: RunErrorEvent): string {
    const { info, detail } = publicError(event.error.code, event.error.message);
    if (!detail) return sseFrame(event);
    this.logger.warn(`POST /run (stream) failed [${info.request_id}] ${info.code}: ${detail}`);
    const wire = toWireEvent(event);
    wire.error = info;
    (wire.output as WireRunOutput).error = info;
    return sseData(event.event, wire);
  }
}

/** The built-in controller mounted under `prefix`. */
export function createDefinableController(prefix: string): Type<DefinableController> {
  @Controller(prefix)
  class DefinableRoutes extends DefinableController {}
  return DefinableRoutes;
}
