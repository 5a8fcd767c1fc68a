import { randomUUID } from 'node:crypto';
import { HttpException, HttpStatus } from '@nestjs/common';
import { AgentError, AgentErrorCode, ApprovalError } from '../agent';
import { QuotaExceededError } from './quotas/run-quotas';
import { redactSecrets } from './redact';

/** The JSON body of every error the module answers with. */
export interface ErrorBody {
  /** `request_id`: on failures whose details stay in the server log (search it for the id). */
  error: {
    code: string;
    message: string;
    request_id?: string;
    /** On `quota_exceeded`: which limit refused and when it frees up. */
    limit?: { scope: string; kind: string; limit: number; retry_after: number };
  };
}

/**
 * What callers are told of a model provider's failure. The provider's own text
 * can carry what callers must not see (an echoed credential, internal URLs,
 * account details): it goes to the log, under a request id the answer carries.
 */
const PROVIDER_MESSAGES: Partial<Record<AgentErrorCode, string>> = {
  model_auth: 'The model provider refused the server\'s credentials.',
  model_rate_limit: 'The model provider is rate-limiting this server; retry later.',
  model_unavailable: 'The model provider is unavailable; retry later.',
  model_timeout: 'The model provider did not answer in time.',
  model_connection: 'Could not reach the model provider.',
  model_bad_request: 'The model provider rejected the request.',
  model_stream_error: 'The model provider\'s stream failed.',
  model_stream_interrupted: 'The model provider\'s answer broke off before it was complete.',
  model_bad_response: 'The model provider\'s answer could not be understood.',
};

/** A run failure as a caller may see it, and, for provider failures, the redacted detail to log under its request id. */
export interface PublicError {
  info: ErrorBody['error'];
  /** The original message, secrets redacted, for the log (provider failures only). */
  detail?: string;
}

/** What a caller may see of a run failure with this code and message: provider failures get a fixed message and a request id. */
export function publicError(code: string, message: string): PublicError {
  const fixed = PROVIDER_MESSAGES[code as AgentErrorCode];
  if (!fixed) return { info: { code, message } };
  return { info: { code, message: fixed, request_id: newRequestId() }, detail: redactSecrets(message) };
}

/** An HTTP error with the module's `{ "error": { code, message } }` body. */
export class DefinableHttpError extends HttpException {
  /** `requestId`: for failures whose details stay in the server log under that id. */
  constructor(status: number, code: string, message: string, requestId?: string) {
    super({ error: { code, message, ...(requestId ? { request_id: requestId } : {}) } } satisfies ErrorBody, status);
  }
}

/** A fresh id for a failure whose details go to the log only: `req_` and 20 hex digits. */
export function newRequestId(): string {
  return `req_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
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
  model_stream_interrupted: HttpStatus.BAD_GATEWAY,
  max_steps_exceeded: HttpStatus.BAD_GATEWAY,
  output_validation: HttpStatus.BAD_GATEWAY,
  tools_unavailable: HttpStatus.BAD_GATEWAY,
  unsupported_media: HttpStatus.BAD_REQUEST,
  file_read: HttpStatus.BAD_REQUEST,
  invalid_input: HttpStatus.BAD_REQUEST,
  session_forbidden: HttpStatus.FORBIDDEN,
  session_store: HttpStatus.SERVICE_UNAVAILABLE,
  cancelled: 499,
  shutting_down: HttpStatus.SERVICE_UNAVAILABLE,
  interrupted: HttpStatus.SERVICE_UNAVAILABLE,
  quota_exceeded: HttpStatus.TOO_MANY_REQUESTS,
  quota_unavailable: HttpStatus.SERVICE_UNAVAILABLE,
};

const APPROVAL_STATUS: Record<ApprovalError['code'], number> = {
  approval_not_found: HttpStatus.NOT_FOUND,
  approval_decided: HttpStatus.CONFLICT,
  approval_pending: HttpStatus.CONFLICT,
  approval_forbidden: HttpStatus.FORBIDDEN,
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
 * Refuses a `Content-Type` that is present and not one of `allowed` (media
 * types; `application/json` also admits `+json` types) with a 415
 * `unsupported_media_type`. A missing one passes (the body check decides).
 */
export function assertContentType(contentType: unknown, allowed: readonly string[], where: string, hint: string): void {
  if (contentType === undefined || contentType === null || contentType === '') return;
  const media = String(Array.isArray(contentType) ? contentType[0] : contentType).split(';')[0].trim().toLowerCase();
  if (allowed.includes(media) || (allowed.includes('application/json') && /^application\/[a-z0-9.+-]+\+json$/.test(media))) return;
  const shown = JSON.stringify(media.length > 80 ? `${media.slice(0, 80)}…` : media);
  throw new DefinableHttpError(415, 'unsupported_media_type', `${where} takes ${allowed.join(' or ')}, not ${shown}: ${hint}.`);
}

/** The 415 answer's advice, shared by `/run`'s own check and the platforms' parsers. */
export const JSON_CONTENT_TYPE_HINT = 'send Content-Type: application/json with a body like {"input": "Hello"}';

const FASTIFY_TOO_LARGE =
  "The request body is over Fastify's body limit, which it applies before any route runs: send a smaller body, or (server side) " +
  'raise it with new FastifyAdapter({ bodyLimit: <bytes> }) (default 1 MiB; serve() sets it to DefinableModule\'s bodyLimit).';

function expressTooLarge(length: unknown, limit: unknown): string {
  const size = typeof length === 'number' ? ` (${length} bytes)` : '';
  const cap = typeof limit === 'number' ? ` of ${limit} bytes` : '';
  return (
    `The request body${size} is over Express's JSON body limit${cap}, which it applies before any route runs: send a smaller body, ` +
    "or (server side) raise it before app.listen() with app.useBodyParser('json', { limit: '1mb' }) " +
    "(Express's default is 100 KB; DefinableModule's bodyLimit is 1 MiB by default)."
  );
}

/**
 * Maps anything thrown to a status and the module's error body: agent errors
 * by their code (provider failures 502, with a fixed message and a request id;
 * `detail` is what to log), Nest HTTP exceptions by their status, everything
 * else 500 with a generic message (never a stack trace).
 */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody; unexpected: boolean; detail?: string; headers?: Record<string, string> } {
  if (error instanceof HttpException) {
    // Nest 12 wraps Express's body-parser errors in an HttpException: read them as Nest 11 hands them
    // over. (Fastify's own errors, wrapped on both lines, are read from the exception below.)
    const cause = error.cause as { code?: unknown } | undefined;
    const parserError = typeof cause?.code === 'string' && cause.code.startsWith('FST_') ? undefined : platformError(cause);
    if (parserError) return parserError;
    const status = error.getStatus();
    const response = error.getResponse() as unknown;
    if (isErrorBody(response)) return { status, body: response, unexpected: false };
    // Fastify's parser errors, which Nest turns into HttpException(message, status) before any route runs.
    if (status === 413 && response === 'Request body is too large') {
      return { status, body: { error: { code: 'payload_too_large', message: FASTIFY_TOO_LARGE } }, unexpected: false };
    }
    if (status === 415 && typeof response === 'string' && response.startsWith('Unsupported Media Type')) {
      const message = `The server cannot read a body of this Content-Type: ${JSON_CONTENT_TYPE_HINT}.`;
      return { status, body: { error: { code: 'unsupported_media_type', message } }, unexpected: false };
    }
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown })?.message)
          ? ((response as { message: string[] }).message).join('; ')
          : String((response as { message?: unknown })?.message ?? error.message);
    return { status, body: { error: { code: CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'error'), message } }, unexpected: status >= 500 };
  }
  if (error instanceof QuotaExceededError) {
    const { scope, kind, limit } = error.limit;
    return {
      status: HttpStatus.TOO_MANY_REQUESTS,
      body: { error: { code: error.code, message: error.message, limit: { scope, kind, limit, retry_after: error.retryAfter } } },
      unexpected: false,
      headers: { 'retry-after': String(error.retryAfter) },
    };
  }
  if (error instanceof ApprovalError) {
    return { status: APPROVAL_STATUS[error.code], body: { error: { code: error.code, message: error.message } }, unexpected: false };
  }
  if (error instanceof AgentError && error.code !== 'internal') {
    const { info, detail } = publicError(error.code, error.message);
    return { status: STATUS_BY_CODE[error.code] ?? 500, body: { error: info }, unexpected: false, detail };
  }
  const parserError = platformError(error);
  if (parserError) return parserError;
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    body: { error: { code: 'internal', message: 'Internal error; the server log has the details.' } },
    unexpected: true,
  };
}

/** Platform errors (Express's body-parser) carry a 4xx status of their own. */
function platformError(error: unknown): { status: number; body: ErrorBody; unexpected: false } | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const platform = error as { statusCode?: unknown; status?: unknown; message?: unknown; type?: unknown; code?: unknown; length?: unknown; limit?: unknown };
  const status = Number(platform.statusCode ?? platform.status);
  if (!(status >= 400 && status < 500)) return undefined;
  const code = status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_json' : CODE_BY_STATUS[status] ?? 'invalid_request';
  return { status, body: { error: { code, message: platformMessage(status, platform) } }, unexpected: false };
}

/** What to tell the client about a body the platform's parser refused (Express's body-parser errors). */
function platformMessage(status: number, platform: { message?: unknown; type?: unknown; length?: unknown; limit?: unknown }): string {
  const said = String(platform.message ?? '');
  if (status === 413) {
    return platform.type === 'entity.too.large' ? expressTooLarge(platform.length, platform.limit) : 'The request body is too large: send a smaller body.';
  }
  if (status === 415) return `The server cannot read this body (${said || 'unsupported encoding'}): ${JSON_CONTENT_TYPE_HINT}, uncompressed, in UTF-8.`;
  if (status === 400) return `The request body is not valid JSON: ${said}`.trim();
  return said || 'Bad request';
}

function isErrorBody(value: unknown): value is ErrorBody {
  const error = (value as ErrorBody | undefined)?.error;
  return typeof error?.code === 'string' && typeof error?.message === 'string';
}
