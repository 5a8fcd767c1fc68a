import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a verifier sees of a delivery: its exact bytes and its headers. */
export interface SignedRequest {
  /** The body exactly as received, before any parsing. */
  rawBody: Buffer;
  /** The request headers (any case; a repeated header's first value is used). */
  headers: Record<string, string | string[] | undefined>;
}

/** Checks a delivery's signature; throws {@link WebhookSignatureError} when it is missing, wrong or stale. */
export interface WebhookVerifier {
  /** Short name of the scheme, e.g. `'github'`. */
  readonly name: string;
  /** Returns when the signature is valid. `now` is the current time in milliseconds (default `Date.now()`). */
  verify(request: SignedRequest, now?: number): void;
}

/** A delivery whose signature is missing, malformed, stale or wrong. The message never holds a secret or an expected signature. */
export class WebhookSignatureError extends Error {
  override name = 'WebhookSignatureError';

  constructor(message: string) {
    super(message);
  }
}

type Algorithm = 'sha1' | 'sha256' | 'sha512';
type Encoding = 'hex' | 'base64';

const DEFAULT_TOLERANCE = 300;
const HEX = /^(?:[0-9a-f]{2})+$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INTEGER = /^-?\d+$/;

/**
 * Verifies GitHub's `X-Hub-Signature-256` header: `sha256=` and the hex
 * HMAC-SHA256 of the raw body with the webhook's secret.
 *
 * @example
 * ```ts
 * @Webhook('github', { verify: githubSignature({ secret: process.env.GITHUB_WEBHOOK_SECRET! }) })
 * onPush(event: TriggerEvent) { ... }
 * ```
 */
export function githubSignature(options: { secret: string }): WebhookVerifier {
  const secret = requireSecret('githubSignature', 'secret', options?.secret, 'the secret set in the GitHub webhook settings');
  return {
    name: 'github',
    verify(request) {
      const body = requireBody(request);
      const signature = readHeader(request, 'X-Hub-Signature-256');
      if (!signature.startsWith('sha256=')) throw malformed('X-Hub-Signature-256', 'expected "sha256=<hex>"');
      const given = decode(signature.slice('sha256='.length), 'hex');
      if (!given) throw malformed('X-Hub-Signature-256', 'expected "sha256=<hex>"');
      if (!matches(hmac('sha256', secret, body), given)) throw mismatch('X-Hub-Signature-256');
    },
  };
}

/**
 * Verifies Stripe's `Stripe-Signature` header (`t=<unix seconds>,v1=<hex>,...`):
 * one `v1` must be the hex HMAC-SHA256 of `<t>.<raw body>`, and `t` must be within
 * `tolerance` seconds (default 300) of now.
 */
export function stripeSignature(options: { secret: string; tolerance?: number }): WebhookVerifier {
  const secret = requireSecret('stripeSignature', 'secret', options?.secret, 'the endpoint signing secret ("whsec_...") from the Stripe dashboard');
  const tolerance = requireTolerance('stripeSignature', options.tolerance);
  return {
    name: 'stripe',
    verify(request, now = Date.now()) {
      const body = requireBody(request);
      const header = readHeader(request, 'Stripe-Signature');
      let timestamp: string | undefined;
      const signatures: string[] = [];
      for (const item of header.split(',')) {
        const at = item.indexOf('=');
        if (at <= 0) throw malformed('Stripe-Signature', 'expected "t=<timestamp>,v1=<hex>"');
        const key = item.slice(0, at).trim();
        const value = item.slice(at + 1).trim();
        if (key === 't') {
          if (timestamp !== undefined) throw malformed('Stripe-Signature', 'more than one timestamp');
          timestamp = value;
        } else if (key === 'v1') {
          signatures.push(value);
        }
      }
      if (timestamp === undefined) throw malformed('Stripe-Signature', 'no timestamp (t=)');
      if (signatures.length === 0) throw malformed('Stripe-Signature', 'no v1 signature');
      checkTimestamp('Stripe-Signature timestamp', timestamp, tolerance, now);
      const expected = hmac('sha256', secret, Buffer.concat([Buffer.from(`${timestamp}.`), body]));
      if (!signatures.some((signature) => matches(expected, decode(signature, 'hex')))) throw mismatch('Stripe-Signature');
    },
  };
}

/**
 * Verifies Slack's `X-Slack-Signature` header: `v0=` and the hex HMAC-SHA256 of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>` with the app's signing secret; the
 * timestamp must be within `tolerance` seconds (default 300) of now.
 */
export function slackSignature(options: { signingSecret: string; tolerance?: number }): WebhookVerifier {
  const secret = requireSecret('slackSignature', 'signingSecret', options?.signingSecret, "the Signing Secret from the Slack app's Basic Information page");
  const tolerance = requireTolerance('slackSignature', options.tolerance);
  return {
    name: 'slack',
    verify(request, now = Date.now()) {
      const body = requireBody(request);
      const signature = readHeader(request, 'X-Slack-Signature');
      const timestamp = readHeader(request, 'X-Slack-Request-Timestamp');
      if (!signature.startsWith('v0=')) throw malformed('X-Slack-Signature', 'expected "v0=<hex>"');
      const given = decode(signature.slice('v0='.length), 'hex');
      if (!given) throw malformed('X-Slack-Signature', 'expected "v0=<hex>"');
      checkTimestamp('X-Slack-Request-Timestamp', timestamp, tolerance, now);
      const expected = hmac('sha256', secret, Buffer.concat([Buffer.from(`v0:${timestamp}:`), body]));
      if (!matches(expected, given)) throw mismatch('X-Slack-Signature');
    },
  };
}

/** Options of {@link hmacSignature}. */
export interface HmacSignatureOptions {
  /** Header holding the signature, e.g. `'X-Signature'`. */
  header: string;
  /** The shared secret. */
  secret: string;
  /** Hash of the HMAC. Default `'sha256'`. */
  algorithm?: Algorithm;
  /** How the header encodes the signature. Default `'hex'`. */
  encoding?: Encoding;
  /** Text before the signature in the header, e.g. `'sha256='`. Default `''`. */
  prefix?: string;
  /** Header holding the delivery's time in Unix seconds; when set, stale deliveries are refused. */
  timestampHeader?: string;
  /** Seconds a timestamp may differ from now. Default 300; only with `timestampHeader`. */
  tolerance?: number;
  /** What is signed, from the raw body and the timestamp header's value. Default: the raw body. */
  payload?: (rawBody: Buffer, timestamp: string | undefined) => Buffer | string;
}

/** Verifies a generic HMAC signature header, for senders that sign like GitHub, Stripe or Slack but with their own names. */
export function hmacSignature(options: HmacSignatureOptions): WebhookVerifier {
  if (!options || typeof options.header !== 'string' || options.header.trim() === '') {
    throw new TypeError('hmacSignature needs { header }: the name of the header holding the signature');
  }
  const secret = requireSecret('hmacSignature', 'secret', options.secret, 'the secret shared with the sender');
  const { header, timestampHeader, payload } = options;
  const algorithm = options.algorithm ?? 'sha256';
  const encoding = options.encoding ?? 'hex';
  const prefix = options.prefix ?? '';
  if (!['sha1', 'sha256', 'sha512'].includes(algorithm)) {
    throw new TypeError(`hmacSignature: algorithm must be 'sha1', 'sha256' or 'sha512', not ${JSON.stringify(algorithm)}`);
  }
  if (encoding !== 'hex' && encoding !== 'base64') {
    throw new TypeError(`hmacSignature: encoding must be 'hex' or 'base64', not ${JSON.stringify(encoding)}`);
  }
  if (typeof prefix !== 'string') throw new TypeError('hmacSignature: prefix must be a string, e.g. "sha256="');
  if (timestampHeader !== undefined && (typeof timestampHeader !== 'string' || timestampHeader.trim() === '')) {
    throw new TypeError('hmacSignature: timestampHeader must be a header name, e.g. "X-Timestamp"');
  }
  if (options.tolerance !== undefined && timestampHeader === undefined) {
    throw new TypeError('hmacSignature: tolerance needs timestampHeader, the header holding the delivery time');
  }
  if (payload !== undefined && typeof payload !== 'function') {
    throw new TypeError('hmacSignature: payload must be a function (rawBody, timestamp) => Buffer | string');
  }
  const tolerance = requireTolerance('hmacSignature', options.tolerance);
  const expectedForm = `"${prefix}<${encoding}>"`;
  return {
    name: 'hmac',
    verify(request, now = Date.now()) {
      const body = requireBody(request);
      const signature = readHeader(request, header);
      const timestamp = timestampHeader === undefined ? undefined : readHeader(request, timestampHeader);
      if (!signature.startsWith(prefix)) throw malformed(header, `expected ${expectedForm}`);
      const given = decode(signature.slice(prefix.length), encoding);
      if (!given) throw malformed(header, `expected ${expectedForm}`);
      if (timestamp !== undefined) checkTimestamp(timestampHeader!, timestamp, tolerance, now);
      const expected = hmac(algorithm, secret, payload ? payload(body, timestamp) : body);
      if (!matches(expected, given)) throw mismatch(header);
    },
  };
}

function requireSecret(fn: string, key: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${fn} needs { ${key} }: ${what}`);
  return value;
}

function requireTolerance(fn: string, value: number | undefined): number {
  if (value === undefined) return DEFAULT_TOLERANCE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${fn}: tolerance must be a positive number of seconds (default ${DEFAULT_TOLERANCE})`);
  }
  return value;
}

function requireBody(request: SignedRequest): Buffer {
  if (!Buffer.isBuffer(request?.rawBody)) {
    throw new TypeError('Webhook signature verification needs request.rawBody: the body as received, as a Buffer');
  }
  return request.rawBody;
}

/** The first value of a header, looked up in any case; throws when it is absent or empty. */
function readHeader(request: SignedRequest, name: string): string {
  const headers = request.headers ?? {};
  const lower = name.toLowerCase();
  let value = headers[lower];
  if (value === undefined) {
    const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === lower);
    if (key !== undefined) value = headers[key];
  }
  if (Array.isArray(value)) value = value[0];
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') throw new WebhookSignatureError(`Missing header ${name}`);
  return text;
}

function checkTimestamp(what: string, value: string, tolerance: number, now: number): void {
  if (!INTEGER.test(value) || !Number.isSafeInteger(Number(value))) {
    throw malformed(what, 'expected an integer of Unix seconds');
  }
  if (Math.abs(now / 1000 - Number(value)) > tolerance) {
    throw new WebhookSignatureError(`${what} is outside the tolerance of ${tolerance}s`);
  }
}

function hmac(algorithm: Algorithm, secret: string, data: Buffer | string): Buffer {
  return createHmac(algorithm, secret).update(data).digest();
}

/** Decodes a signature, or `undefined` when it is not valid in that encoding. */
function decode(text: string, encoding: Encoding): Buffer | undefined {
  return (encoding === 'hex' ? HEX : BASE64).test(text) && text !== '' ? Buffer.from(text, encoding) : undefined;
}

/** Constant-time comparison; a signature of another length is a mismatch. */
function matches(expected: Buffer, given: Buffer | undefined): boolean {
  return given !== undefined && given.length === expected.length && timingSafeEqual(expected, given);
}

function malformed(what: string, hint: string): WebhookSignatureError {
  return new WebhookSignatureError(`Malformed ${what}: ${hint}`);
}

function mismatch(header: string): WebhookSignatureError {
  return new WebhookSignatureError(`${header} does not match the request body`);
}
