import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { Agent, DefinableModule, githubSignature, hmacSignature, slackSignature, stripeSignature, TriggerEvent, Webhook } from '../../lib';
import { TestModel } from '../../lib/testing';
import { PLATFORMS, startApp, TestApp } from '../support/nest';

const GITHUB = 'gh-secret-0001';
const STRIPE = 'whsec_test_0001';
const SLACK = 'slack-signing-0001';
const SHOP = 'shop-secret-0001';
const received: unknown[] = [];

@Controller('sig')
class SignedHooks {
  @Webhook('/github', { auth: false, verify: githubSignature({ secret: GITHUB }) })
  github(event: TriggerEvent) {
    received.push(event.body);
    return null;
  }

  @Webhook('/stripe', { auth: false, verify: stripeSignature({ secret: STRIPE }) })
  stripe(event: TriggerEvent) {
    received.push(event.body);
    return null;
  }

  @Webhook('/slack', { auth: false, verify: slackSignature({ signingSecret: SLACK }), contentTypes: ['application/x-www-form-urlencoded'] })
  slack(event: TriggerEvent) {
    received.push(event.body);
    return null;
  }

  @Webhook('/shop', { auth: false, verify: hmacSignature({ header: 'x-shop-hmac', secret: SHOP, algorithm: 'sha1', encoding: 'base64', timestampHeader: 'x-shop-time' }) })
  shop(event: TriggerEvent) {
    received.push(event.body);
    return null;
  }
}

const hmac = (algorithm: string, secret: string, payload: string, encoding: 'hex' | 'base64' = 'hex') => createHmac(algorithm, secret).update(payload).digest(encoding);
const now = () => Math.floor(Date.now() / 1000);

async function send(url: string, body: string, headers: Record<string, string>, type = 'application/json'): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
  return { status: response.status, body: await response.json() };
}

for (const platform of PLATFORMS) {
  describe(`webhook signatures on ${platform}`, () => {
    let server: TestApp;
    before(async () => {
      server = await startApp(
        platform,
        { imports: [DefinableModule.forRoot({ agent: new Agent({ model: new TestModel() }) })], controllers: [SignedHooks] },
        undefined,
        // Express must keep the raw body; Fastify needs nothing (the module copies it).
        platform === 'express' ? { rawBody: true } : {},
      );
    });
    after(() => server.close());

    // Whitespace and non-ASCII kept as sent: the signature covers the exact bytes, not a re-serialisation.
    const body = '{"action":  "opened", "title":"Café ☕"}';

    it('GitHub (X-Hub-Signature-256): the right signature passes; a wrong, missing or malformed one gets 401 invalid_signature', async () => {
      const url = `${server.url}/sig/github`;
      const good = await send(url, body, { 'x-hub-signature-256': `sha256=${hmac('sha256', GITHUB, body)}` });
      assert.deepEqual([good.status, good.body], [200, { status: 'ok' }]);
      assert.deepEqual(received.at(-1), { action: 'opened', title: 'Café ☕' });
      const cases: Record<string, string>[] = [{ 'x-hub-signature-256': `sha256=${hmac('sha256', 'other', body)}` }, {}, { 'x-hub-signature-256': 'md5=abc' }];
      for (const headers of cases) {
        const refused = await send(url, body, headers);
        assert.equal(refused.status, 401);
        assert.equal(refused.body.error.code, 'invalid_signature');
        assert.ok(!JSON.stringify(refused.body).includes(GITHUB));
      }
      const tampered = await send(url, body.replace('opened', 'closed'), { 'x-hub-signature-256': `sha256=${hmac('sha256', GITHUB, body)}` });
      assert.equal(tampered.status, 401);
    });

    it('Stripe (Stripe-Signature t=…,v1=…): fresh and signed passes; stale, future or wrong gets 401', async () => {
      const url = `${server.url}/sig/stripe`;
      const sign = (t: number, secret = STRIPE) => `t=${t},v1=${hmac('sha256', secret, `${t}.${body}`)}`;
      assert.equal((await send(url, body, { 'stripe-signature': sign(now()) })).status, 200);
      assert.equal((await send(url, body, { 'stripe-signature': `t=${now()},v1=${'0'.repeat(64)},v1=${hmac('sha256', STRIPE, `${now()}.${body}`)}` })).status, 200, 'any v1 may match');
      for (const header of [sign(now() - 600), sign(now() + 600), sign(now(), 'whsec_wrong'), 'garbage']) {
        const refused = await send(url, body, { 'stripe-signature': header });
        assert.deepEqual([refused.status, refused.body.error.code], [401, 'invalid_signature'], header);
      }
    });

    it('Slack (X-Slack-Signature v0 over a form body + X-Slack-Request-Timestamp): passes; stale or wrong gets 401', async () => {
      const url = `${server.url}/sig/slack`;
      const form = 'token=abc&team_id=T1&text=caf%C3%A9+%E2%98%95';
      const sign = (ts: number, secret = SLACK) => ({ 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${hmac('sha256', secret, `v0:${ts}:${form}`)}` });
      const good = await send(url, form, sign(now()), 'application/x-www-form-urlencoded');
      assert.equal(good.status, 200);
      assert.equal((received.at(-1) as { text: string }).text, 'café ☕');
      assert.equal((await send(url, form, sign(now() - 301), 'application/x-www-form-urlencoded')).status, 401);
      assert.equal((await send(url, form, sign(now(), 'nope'), 'application/x-www-form-urlencoded')).status, 401);
    });

    it('a generic HMAC (sha1, base64, with a timestamp header) passes when right, 401 otherwise', async () => {
      const url = `${server.url}/sig/shop`;
      const t = String(now());
      assert.equal((await send(url, body, { 'x-shop-time': t, 'x-shop-hmac': hmac('sha1', SHOP, body, 'base64') })).status, 200);
      assert.equal((await send(url, body, { 'x-shop-time': t, 'x-shop-hmac': hmac('sha1', 'wrong', body, 'base64') })).status, 401);
      assert.equal((await send(url, body, { 'x-shop-time': String(now() - 3600), 'x-shop-hmac': hmac('sha1', SHOP, body, 'base64') })).status, 401);
    });
  });
}

describe('webhook signatures on an Express app that does not keep raw bodies', () => {
  it('fails bootstrap with the line to add', async () => {
    await assert.rejects(
      startApp('express', { imports: [DefinableModule.forRoot({ agent: new Agent({ model: new TestModel() }) })], controllers: [SignedHooks] }),
      /rawBody: true/,
    );
  });
});
