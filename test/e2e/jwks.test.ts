import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { AuthRefusal, JwtAuth } from '../../lib';

/** A signing key of the fake identity provider. */
interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function signingKey(kid: string, alg: 'RS256' | 'ES256'): SigningKey {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, ...pair };
}

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'definable-api';

describe('JwtAuth with an identity provider\'s JWKS (a local JWKS server that rotates its keys)', () => {
  let server: Server;
  let jwksUri = '';
  let published: SigningKey[] = [];
  let fetches = 0;
  let down = false;
  const rsaA = signingKey('rsa-a', 'RS256');
  const ecE = signingKey('ec-e', 'ES256');
  const rsaB = signingKey('rsa-b', 'RS256');

  before(async () => {
    server = createServer((request, response) => {
      fetches++;
      if (down) {
        response.writeHead(503).end();
        return;
      }
      const keys = published.map(({ kid, alg, publicKey }) => ({ ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }));
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (key: SigningKey, claims: Record<string, unknown> = {}, options: jwt.SignOptions = {}) =>
    jwt.sign({ sub: 'alice', ...claims }, key.privateKey, { algorithm: key.alg, keyid: key.kid, issuer: ISSUER, audience: AUDIENCE, ...('exp' in claims ? {} : { expiresIn: 60 }), ...options });
  const check = (auth: JwtAuth, token: string) => auth.verify({ platform: 'http', headers: { authorization: `Bearer ${token}` } });
  const fresh = () => new JwtAuth({ jwksUri, issuer: ISSUER, audience: AUDIENCE, jwksRequestsPerMinute: 5 });

  it('accepts RS256 and ES256 tokens whose kid the JWKS publishes', async () => {
    published = [rsaA, ecE];
    const auth = fresh();
    const rsa = await check(auth, sign(rsaA));
    const ec = await check(auth, sign(ecE));
    assert.ok(!AuthRefusal.is(rsa) && rsa.userId === 'alice', JSON.stringify(rsa));
    assert.ok(!AuthRefusal.is(ec) && ec.userId === 'alice', JSON.stringify(ec));
  });

  it('picks up a rotated key: a new kid refetches the set once', async () => {
    published = [rsaA];
    const auth = fresh();
    assert.ok(!AuthRefusal.is(await check(auth, sign(rsaA))));
    const before = fetches;
    published = [rsaB]; // the provider rotates
    const rotated = await check(auth, sign(rsaB));
    assert.ok(!AuthRefusal.is(rotated), JSON.stringify(rotated));
    assert.equal(fetches - before, 1, 'one refetch for the new kid');
    assert.ok(!AuthRefusal.is(await check(auth, sign(rsaB))), 'then from the cache');
    assert.equal(fetches - before, 1);
  });

  it('refuses a kid the provider never published, refetching at most jwksRequestsPerMinute times', async () => {
    published = [rsaA];
    const auth = fresh();
    const before = fetches;
    const stranger = signingKey('stranger', 'RS256');
    for (let attempt = 0; attempt < 12; attempt++) {
      const verdict = await check(auth, sign(stranger));
      assert.ok(AuthRefusal.is(verdict));
      assert.equal(verdict.kind, 'rejected');
    }
    assert.ok(fetches - before <= 5, `${fetches - before} fetches for 12 unknown-kid tokens`);
  });

  it('keeps every refusal: expired, nbf, audience, issuer, alg none, and an HS256 token keyed with the public key', async () => {
    published = [rsaA];
    const auth = fresh();
    const refused = async (token: string, pattern: RegExp) => {
      const verdict = await check(auth, token);
      assert.ok(AuthRefusal.is(verdict), `accepted: ${pattern}`);
      assert.match(verdict.message, pattern);
    };
    await refused(sign(rsaA, { exp: Math.floor(Date.now() / 1000) - 10 }), /expired/);
    await refused(sign(rsaA, {}, { notBefore: 3600 }), /not valid yet/);
    await refused(sign(rsaA, {}, { audience: 'someone-else' }), /audience/);
    await refused(sign(rsaA, {}, { issuer: 'https://evil.example.test/' }), /issuer/);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: 'rsa-a' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', iss: ISSUER, aud: AUDIENCE })).toString('base64url')}.`;
    await refused(unsigned, /algorithm|malformed|not accepted/);
    const pem = rsaA.publicKey.export({ format: 'pem', type: 'spki' });
    const confused = jwt.sign({ sub: 'alice' }, pem, { algorithm: 'HS256', keyid: 'rsa-a', issuer: ISSUER, audience: AUDIENCE } as jwt.SignOptions);
    await refused(confused, /algorithm/);
    assert.throws(() => new JwtAuth({ jwksUri, algorithms: ['HS256'] }), /never HS/);
    assert.throws(() => new JwtAuth({ jwksUri, secret: 'x' }), /one of secret, publicKey or jwksUri/);
  });

  it('fails closed when the JWKS cannot be fetched', async () => {
    published = [rsaA];
    down = true;
    try {
      const verdict = await check(fresh(), sign(rsaA));
      assert.ok(AuthRefusal.is(verdict));
      assert.match(verdict.message, /could not read its identity provider's keys|not among/);
    } finally {
      down = false;
    }
  });
});
