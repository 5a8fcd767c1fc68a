import { HttpException, HttpStatus } from '@nestjs/common';
import { AgentError, AgentErrorCode } from '../agent';

/** The JSON body of every error the module answers with. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** An HTTP error with the module's `{ "error": { code, message } }` body. */
export class DefinableHttpError extends HttpException {
  constructor(status: number, code: string, message: string) {
    super({ error: { code, message } } satisfies ErrorBody, status);
  }
}

const STATUS_BY_CODE: Partial<Record<AgentErrorCode, number>> = {
  model_auth: HttpStatus.BAD_GATEWAY,
  model_rate_limit: HttpStatus.BAD_GATEWAY,
  model_unavailable: HttpStatus.BAD_GATEWAY,
  model_timeout: HttpStatus.BAD_GATEWAY,
  model_connection: HttpStatus.BAD_GATEWAY,
  model_bad_request: HttpStatus.BAD_GATEWAY,
  model_stream_error: HttpStatus.BAD_GATEWAY,
  model_bad_response: HttpStatus.BAD_GATEWAY,
  max_steps_exceeded: HttpStatus.BAD_GATEWAY,
  output_validation: HttpStatus.BAD_GATEWAY,
  unsupported_media: HttpStatus.BAD_REQUEST,
  file_read: HttpStatus.BAD_REQUEST,
  invalid_input: HttpStatus.BAD_REQUEST,
  session_forbidden: HttpStatus.FORBIDDEN,
  session_store: HttpStatus.SERVICE_UNAVAILABLE,
  cancelled: 499,
};

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/**
 * Maps anything thrown to a status and the module's error body: agent errors
 * by their code (provider failures 502), Nest HTTP exceptions by their status,
 * everything else 500 with a generic message (never a stack trace).
 */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody; unexpected: boolean } {
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse() as unknown;
    if (isErrorBody(response)) return { status, body: response, unexpected: false };
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown })?.message)
          ? ((response as { message: string[] }).message).join('; ')
          : String((response as { message?: unknown })?.message ?? error.message);
    return { status, body: { error: { code: CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'error'), message } }, unexpected: status >= 500 };
  }
  if (error instanceof AgentError && error.code !== 'internal') {
    return { status: STATUS_BY_CODE[error.code] ?? 500, body: { error: { code: error.code, message: error.message } }, unexpected: false };
  }
  // Platform errors (body parser) carry a status of their own.
  const platform = error as { statusCode?: unknown; status?: unknown; message?: unknown; type?: unknown; code?: unknown };
  const status = Number(platform?.statusCode ?? platform?.status);
  if (status >= 400 && status < 500) {
    const code = status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_json' : CODE_BY_STATUS[status] ?? 'invalid_request';
    const message =
      status === 413
        ? 'The request body is too large.'
        : status === 400
          ? `The request body is not valid JSON: ${String(platform.message ?? '')}`.trim()
          : String(platform.message ?? 'Bad request');
    return { status, body: { error: { code, message } }, unexpected: false };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: { error: { code: 'internal', message: 'Internal error; the server log has the details.' } },
    unexpected: true,
  };
}

function isErrorBody(value: unknown): value is ErrorBody {
  const error = (value as ErrorBody | undefined)?.error;
  return typeof error?.code === 'string' && typeof error?.message === 'string';
}
