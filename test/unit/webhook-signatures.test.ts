import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  githubSignature,
  hmacSignature,
  slackSignature,
  stripeSignature,
  WebhookSignatureError,
  type SignedRequest,
} from '../../lib/triggers/webhook-signatures';

const BODY = Buffer.from('{"event":"ping","n":1}');
const NOW_S = 1_700_000_000;
const NOW = NOW_S * 1000;

function hex(algorithm: string, secret: string, data: string | Buffer): string {
  return createHmac(algorithm, secret).update(data).digest('hex');
}

function tamper(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  copy[copy.length - 2] ^= 1;
  return copy;
}

function rejects(fn: () => void, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof WebhookSignatureError, `expected WebhookSignatureError, got ${String(error)}`);
    assert.equal(error.name, 'WebhookSignatureError');
    assert.match(error.message, message);
    return true;
  });
}

describe('githubSignature', () => {
  const secret = 'gh-secret';
  const verifier = githubSignature({ secret });
  const signed = (body: Buffer, key = secret): SignedRequest => ({
    rawBody: body,
    headers: { 'x-hub-signature-256': `sha256=${hex('sha256', key, body)}` },
  });

  it("matches GitHub's documented test vector", () => {
    const body = Buffer.from('Hello, World!');
    const header = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    assert.equal(`sha256=${hex('sha256', "It's a Secret to Everybody", body)}`, header);
    githubSignature({ secret: "It's a Secret to Everybody" }).verify({ rawBody: body, headers: { 'x-hub-signature-256': header } });
  });

  it('accepts a valid signature', () => {
    verifier.verify(signed(BODY));
  });

  it('reads the header in any case and takes the first of repeated values', () => {
    const value = `sha256=${hex('sha256', secret, BODY)}`.toUpperCase().replace('SHA256=', 'sha256=');
    verifier.verify({ rawBody: BODY, headers: { 'X-Hub-Signature-256': value } });
    verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': [value, 'sha256=00'] } });
  });

  it('refuses a wrong secret', () => {
    rejects(() => verifier.verify(signed(BODY, 'other-secret')), /does not match/);
  });

  it('refuses a body changed by one byte', () => {
    const request = signed(BODY);
    rejects(() => verifier.verify({ ...request, rawBody: tamper(BODY) }), /does not match/);
  });

  it('refuses a missing header', () => {
    rejects(() => verifier.verify({ rawBody: BODY, headers: {} }), /Missing header X-Hub-Signature-256/);
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': '' } }), /Missing header/);
  });

  it('refuses a malformed header', () => {
    const digest = hex('sha256', secret, BODY);
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': digest } }), /Malformed/);
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': 'sha256=not-hex' } }), /Malformed/);
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature': `sha1=${hex('sha1', secret, BODY)}` } }), /Missing/);
  });

  it('treats a signature of another length as a mismatch, not a crash', () => {
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': 'sha256=abcd' } }), /does not match/);
  });

  it('never puts the secret or the expected signature in the message', () => {
    const digest = hex('sha256', secret, BODY);
    assert.throws(
      () => verifier.verify({ rawBody: BODY, headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } }),
      (error: Error) => !error.message.includes(secret) && !error.message.includes(digest),
    );
  });

  it('refuses an empty secret at construction', () => {
    assert.throws(() => githubSignature({ secret: '' }), (error: Error) => error instanceof TypeError && /\{ secret \}/.test(error.message));
  });
});

describe('stripeSignature', () => {
  const secret = 'whsec_test';
  const verifier = stripeSignature({ secret });
  const v1 = (t: number, body: Buffer = BODY, key = secret) => hex('sha256', key, `${t}.${body.toString('utf8')}`);
  const request = (header: string, body: Buffer = BODY): SignedRequest => ({ rawBody: body, headers: { 'stripe-signature': header } });

  it('accepts a valid signature', () => {
    verifier.verify(request(`t=${NOW_S},v1=${v1(NOW_S)}`), NOW);
  });

  it('accepts when any v1 matches, ignoring v0', () => {
    verifier.verify(request(`t=${NOW_S},v1=${v1(NOW_S, BODY, 'old-secret')},v1=${v1(NOW_S)},v0=${'a'.repeat(64)}`), NOW);
  });

  it('refuses a wrong secret', () => {
    rejects(() => verifier.verify(request(`t=${NOW_S},v1=${v1(NOW_S, BODY, 'other')}`), NOW), /does not match/);
  });

  it('refuses a body changed by one byte', () => {
    rejects(() => verifier.verify(request(`t=${NOW_S},v1=${v1(NOW_S)}`, tamper(BODY)), NOW), /does not match/);
  });

  it('refuses a signature made for another timestamp', () => {
    rejects(() => verifier.verify(request(`t=${NOW_S},v1=${v1(NOW_S - 1)}`), NOW), /does not match/);
  });

  it('refuses a missing header', () => {
    rejects(() => verifier.verify({ rawBody: BODY, headers: {} }, NOW), /Missing header Stripe-Signature/);
  });

  it('refuses a malformed header', () => {
    rejects(() => verifier.verify(request(v1(NOW_S)), NOW), /Malformed/);
    rejects(() => verifier.verify(request(`v1=${v1(NOW_S)}`), NOW), /no timestamp/);
    rejects(() => verifier.verify(request(`t=${NOW_S},v0=${v1(NOW_S)}`), NOW), /no v1/);
    rejects(() => verifier.verify(request(`t=${NOW_S}.5,v1=${v1(NOW_S)}`), NOW), /integer/);
    rejects(() => verifier.verify(request(`t=abc,v1=${v1(NOW_S)}`), NOW), /integer/);
  });

  it('refuses stale and future timestamps, accepts one just inside the tolerance', () => {
    const old = NOW_S - 301;
    const future = NOW_S + 301;
    rejects(() => verifier.verify(request(`t=${old},v1=${v1(old)}`), NOW), /outside the tolerance/);
    rejects(() => verifier.verify(request(`t=${future},v1=${v1(future)}`), NOW), /outside the tolerance/);
    verifier.verify(request(`t=${NOW_S - 299},v1=${v1(NOW_S - 299)}`), NOW);
    verifier.verify(request(`t=${NOW_S + 299},v1=${v1(NOW_S + 299)}`), NOW);
  });

  it('honours a custom tolerance', () => {
    const strict = stripeSignature({ secret, tolerance: 10 });
    const t = NOW_S - 11;
    rejects(() => strict.verify(request(`t=${t},v1=${v1(t)}`), NOW), /outside the tolerance/);
    strict.verify(request(`t=${NOW_S - 9},v1=${v1(NOW_S - 9)}`), NOW);
  });

  it('validates its options at construction', () => {
    assert.throws(() => stripeSignature({ secret: '' }), /needs \{ secret \}/);
    assert.throws(() => stripeSignature({ secret, tolerance: -1 }), /tolerance must be a positive number/);
  });
});

describe('slackSignature', () => {
  const signingSecret = '8f742231b10e8888abcd99yyyzzz85a5';
  const verifier = slackSignature({ signingSecret });
  const form = Buffer.from('token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather&text=94070');
  const sign = (ts: number | string, body: Buffer = form, key = signingSecret) => `v0=${hex('sha256', key, `v0:${ts}:${body.toString('utf8')}`)}`;
  const request = (ts: number | string, signature = sign(ts), body: Buffer = form): SignedRequest => ({
    rawBody: body,
    headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': String(ts) },
  });

  it('accepts a valid signature', () => {
    verifier.verify(request(NOW_S), NOW);
  });

  it('refuses a wrong secret', () => {
    rejects(() => verifier.verify(request(NOW_S, sign(NOW_S, form, 'other')), NOW), /does not match/);
  });

  it('refuses a body changed by one byte', () => {
    rejects(() => verifier.verify(request(NOW_S, sign(NOW_S), tamper(form)), NOW), /does not match/);
  });

  it('refuses a missing header', () => {
    rejects(() => verifier.verify({ rawBody: form, headers: { 'x-slack-request-timestamp': String(NOW_S) } }, NOW), /Missing header X-Slack-Signature/);
    rejects(() => verifier.verify({ rawBody: form, headers: { 'x-slack-signature': sign(NOW_S) } }, NOW), /Missing header X-Slack-Request-Timestamp/);
  });

  it('refuses a malformed header', () => {
    rejects(() => verifier.verify(request(NOW_S, sign(NOW_S).replace('v0=', 'v1=')), NOW), /Malformed X-Slack-Signature/);
    rejects(() => verifier.verify(request(NOW_S, 'v0=zz'), NOW), /Malformed X-Slack-Signature/);
    rejects(() => verifier.verify(request(`${NOW_S}.0`), NOW), /Malformed X-Slack-Request-Timestamp/);
  });

  it('refuses stale and future timestamps, accepts one just inside the tolerance', () => {
    rejects(() => verifier.verify(request(NOW_S - 301), NOW), /outside the tolerance/);
    rejects(() => verifier.verify(request(NOW_S + 301), NOW), /outside the tolerance/);
    verifier.verify(request(NOW_S - 299), NOW);
    verifier.verify(request(NOW_S + 299), NOW);
  });

  it('refuses an empty signing secret at construction', () => {
    assert.throws(() => slackSignature({ signingSecret: '' }), (error: Error) => error instanceof TypeError && /\{ signingSecret \}/.test(error.message));
  });
});

describe('hmacSignature', () => {
  const secret = 'shared';

  it('accepts a valid hex signature and refuses a wrong secret, a changed body, a missing or malformed header', () => {
    const verifier = hmacSignature({ header: 'X-Signature', secret });
    const request = (body: Buffer, value: string): SignedRequest => ({ rawBody: body, headers: { 'x-signature': value } });
    verifier.verify(request(BODY, hex('sha256', secret, BODY)));
    rejects(() => verifier.verify(request(BODY, hex('sha256', 'other', BODY))), /X-Signature does not match/);
    rejects(() => verifier.verify(request(tamper(BODY), hex('sha256', secret, BODY))), /does not match/);
    rejects(() => verifier.verify({ rawBody: BODY, headers: {} }), /Missing header X-Signature/);
    rejects(() => verifier.verify(request(BODY, 'xyz')), /Malformed X-Signature/);
  });

  it('supports another algorithm, base64 and a prefix', () => {
    const verifier = hmacSignature({ header: 'X-Sig', secret, algorithm: 'sha512', encoding: 'base64', prefix: 'sha512=' });
    const value = createHmac('sha512', secret).update(BODY).digest('base64');
    verifier.verify({ rawBody: BODY, headers: { 'x-sig': `sha512=${value}` } });
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-sig': value } }), /Malformed X-Sig/);
    rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-sig': 'sha512=!!!' } }), /Malformed X-Sig/);
    const sha1 = hmacSignature({ header: 'X-Sig', secret, algorithm: 'sha1' });
    sha1.verify({ rawBody: BODY, headers: { 'x-sig': hex('sha1', secret, BODY) } });
  });

  describe('with a timestamp header', () => {
    const verifier = hmacSignature({
      header: 'X-Signature',
      secret,
      timestampHeader: 'X-Timestamp',
      payload: (rawBody, timestamp) => Buffer.concat([Buffer.from(`${timestamp}.`), rawBody]),
    });
    const sign = (ts: number, body: Buffer = BODY, key = secret) => hex('sha256', key, `${ts}.${body.toString('utf8')}`);
    const request = (ts: number | string, signature: string, body: Buffer = BODY): SignedRequest => ({
      rawBody: body,
      headers: { 'x-signature': signature, 'x-timestamp': String(ts) },
    });

    it('accepts a valid signature over the payload it builds', () => {
      verifier.verify(request(NOW_S, sign(NOW_S)), NOW);
    });

    it('refuses a wrong secret, a changed body, a missing or malformed timestamp', () => {
      rejects(() => verifier.verify(request(NOW_S, sign(NOW_S, BODY, 'other')), NOW), /does not match/);
      rejects(() => verifier.verify(request(NOW_S, sign(NOW_S), tamper(BODY)), NOW), /does not match/);
      rejects(() => verifier.verify({ rawBody: BODY, headers: { 'x-signature': sign(NOW_S) } }, NOW), /Missing header X-Timestamp/);
      rejects(() => verifier.verify(request('soon', sign(NOW_S)), NOW), /Malformed X-Timestamp/);
    });

    it('refuses stale and future timestamps, accepts one just inside the tolerance', () => {
      rejects(() => verifier.verify(request(NOW_S - 301, sign(NOW_S - 301)), NOW), /outside the tolerance/);
      rejects(() => verifier.verify(request(NOW_S + 301, sign(NOW_S + 301)), NOW), /outside the tolerance/);
      verifier.verify(request(NOW_S - 299, sign(NOW_S - 299)), NOW);
      verifier.verify(request(NOW_S + 299, sign(NOW_S + 299)), NOW);
    });
  });

  it('validates its options at construction', () => {
    assert.throws(() => hmacSignature({ header: '', secret }), /needs \{ header \}/);
    assert.throws(() => hmacSignature({ header: 'X-Sig', secret: '' }), /needs \{ secret \}/);
    assert.throws(() => hmacSignature({ header: 'X-Sig', secret, algorithm: 'md5' as never }), /algorithm must be/);
    assert.throws(() => hmacSignature({ header: 'X-Sig', secret, encoding: 'utf8' as never }), /encoding must be/);
    assert.throws(() => hmacSignature({ header: 'X-Sig', secret, tolerance: 60 }), /tolerance needs timestampHeader/);
  });
});
