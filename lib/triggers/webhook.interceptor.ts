import { CallHandler, ExecutionContext, HttpException, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { catchError, mergeMap, Observable } from 'rxjs';
import { DefinableHttpError } from '../module/http-errors';
import type { TriggerEvent, TriggerResult } from './trigger-event';
import { TRIGGER_EVENT_PROPERTY, WEBHOOK_METADATA } from './trigger.constants';
import type { WebhookMetadata } from './trigger.decorators';
import { TriggerExecutor, TriggerResultError } from './trigger.executor';

/**
 * Runs around every `@Webhook` handler: hands it the {@link TriggerEvent},
 * then runs the agent with what it returns and answers with the run's
 * `{ content, run_id, session_id }` (or `{ status: 'ok' }`). A handler that
 * throws answers 500 with its message — never a silent 200.
 */
@Injectable()
export class WebhookInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Definable:Webhooks');
  private executor?: TriggerExecutor;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest();
    const meta = this.reflector.get<WebhookMetadata>(WEBHOOK_METADATA, context.getHandler());
    const label = `${context.getClass().name}.${context.getHandler().name}`;
    const event: TriggerEvent = {
      body: request.body,
      headers: request.headers ?? {},
      source: `${request.method} ${String(request.url ?? '').split('?')[0]}`,
      timestamp: new Date(),
      raw: request,
    };
    request[TRIGGER_EVENT_PROPERTY] = event;
    // Resolved app-wide, so webhooks work in any module of the app.
    this.executor ??= this.moduleRef.get(TriggerExecutor, { strict: false });
    const executor = this.executor;
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (error instanceof HttpException) throw error;
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error(`${label} (${event.source}) threw: ${error instanceof Error ? error.stack : message}`);
        throw new DefinableHttpError(500, 'handler_failed', `The webhook handler ${label} failed: ${message}`);
      }),
      mergeMap(async (result: TriggerResult) => {
        try {
          const output = await executor.execute(result, event, meta?.agent);
          return output ? { content: output.content, run_id: output.runId, session_id: output.sessionId } : { status: 'ok' };
        } catch (error) {
          // The handler's result is the server's mistake, not the caller's.
          if (error instanceof TriggerResultError) throw new DefinableHttpError(500, 'handler_failed', error.message);
          throw error;
        }
      }),
    );
  }
}
