import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { toErrorResponse } from './http-errors';

/**
 * Answers every error of the module's routes (and webhooks) as
 * `{ "error": { code, message } }` with the right status; unexpected errors
 * are logged with their stack and answered 500 without it.
 */
@Catch()
export class DefinableExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Definable:HTTP');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { status, body, unexpected } = toErrorResponse(exception);
    const request = host.switchToHttp().getRequest();
    if (unexpected) {
      const stack = exception instanceof Error ? exception.stack ?? exception.message : String(exception);
      this.logger.error(`${request?.method} ${request?.url} failed: ${stack}`);
    }
    const response = host.switchToHttp().getResponse();
    const raw = response?.raw ?? response;
    if (raw?.headersSent) {
      // A stream already under way: nothing more can be said in HTTP terms.
      raw.end?.();
      return;
    }
    this.adapterHost.httpAdapter.reply(response, body, status);
  }
}
