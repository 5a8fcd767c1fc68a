import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { toErrorResponse } from './http-errors';
import type { ErrorBody } from './http-errors';
import { redactSecrets } from './redact';

/**
 * Answers every error of the module's routes (and webhooks) as
 * `{ "error": { code, message } }` with the right status; unexpected errors
 * are logged with their stack and answered 500 without it; a model provider's
 * failure is answered with a fixed message and a `request_id`, and logged
 * (secrets redacted) under that id.
 */
@Catch()
export class DefinableExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Definable:HTTP');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { status, body, unexpected, detail, headers } = toErrorResponse(exception);
    const request = host.switchToHttp().getRequest();
    // The path without its query string, which may carry secrets.
    const where = `${request?.method} ${String(request?.originalUrl ?? request?.url ?? '').split('?')[0]}`;
    if (unexpected) {
      const stack = exception instanceof Error ? exception.stack ?? exception.message : String(exception);
      this.logger.error(`${where} failed: ${redactSecrets(stack)}`);
    } else if (detail) {
      this.logger.warn(`${where} failed [${body.error.request_id}] ${body.error.code}: ${detail}`);
    }
    const response = host.switchToHttp().getResponse();
    const raw = response?.raw ?? response;
    if (raw?.headersSent) {
      // A stream already under way: nothing more can be said in HTTP terms.
      raw.end?.();
      return;
    }
    for (const [name, value] of Object.entries(headers ?? {})) this.adapterHost.httpAdapter.setHeader(response, name, value);
    this.adapterHost.httpAdapter.reply(response, this.shape(status, body), status);
  }

  /** The body sent for an error: the module's `{ error: { code, message } }`; a protocol's filter answers in its own shape. */
  protected shape(_status: number, body: ErrorBody): unknown {
    return body;
  }
}
