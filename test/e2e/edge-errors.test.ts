import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { INestApplication, LoggerService, ModuleMetadata } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ExpressAdapter, NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import jwt from 'jsonwebtoken';
import { Agent, AllowlistAuth, ApiKeyAuth, AuthProvider, CompositeAuth, DefinableExceptionFilter, DefinableModule, JwtAuth } from '../../lib';
import { AuthRefusal, verifyAuth } from '../../lib/auth/auth-provider';
import { TestModel } from '../../lib/testing';
import { Platform, PLATFORMS, post, TestApp } from '../support/nest';

const API_KEY = 'edge-api-key-0001';
const SECRET = 'edge-jwt-secret-with-enough-length';
const REQUIRED = 'Authentication required: send an API key in the X-API-Key header (or Authorization: Bearer <key>), or a valid token as Authorization: Bearer <JWT>.';

/** Signs a token the app accepts, unless `options` or `secret` say otherwise. */
const token = (claims: object, options: jwt.SignOptions = {}, secret: string = SECRET) =>
  jwt.sign(claims, secret, { audience: 'definable', issuer: 'tests', ...('exp' in claims ? {} : { expiresIn: 60 }), ...options });
const bearer = (value: string) => ({ authorization: `Bearer ${value}` });
const unsigned = () =>
  `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
    JSON.stringify({ sub: 'alice', aud: 'definable', iss: 'tests', exp: Math.floor(Date.now() / 1000) + 60 }),
  ).toString('base64url')}.`;

const agentModule = (options: { auth?: AuthProvider; bodyLimit?: number } = {}) =>
  DefinableModule.forRoot({ agent: new Agent({ model: new TestModel({ responses: () => 'ok' }) }), ...options });
const apiKeyAndJwt = () => new CompositeAuth(new ApiKeyAuth({ keys: [API_KEY] }), new JwtAuth({ secret: SECRET, audience: 'definable', issuer: 'tests' }));

/** One log call as Nest's Logger hands it to the app's logger. */
interface LogEntry {
  level: string;
  message: string;
  context?: string;
}

/** A LoggerService that keeps every call, with its level. */
class RecordingLogger implements LoggerService {
  readonly entries: LogEntry[] = [];
  log(message: unknown, ...rest: unknown[]) {
    this.add('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.add('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.add('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.add('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.add('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.add('fatal', message, rest);
  }
  private add(level: string, message: unknown, rest: unknown[]) {
    const context = rest.at(-1);
    this.entries.push({ level, message: String(message), context: typeof context === 'string' ? context : undefined });
  }
}

/**
 * Like `startApp`, with what a user's own main.ts may do before listening: its
 * logger, `app.useGlobalFilters(...)`, `app.useBodyParser(...)`.
 */
async function startCustomApp(
  platform: Platform,
  metadata: ModuleMetadata,
  setup: { logger?: LoggerService; configure?: (app: INestApplication) => void } = {},
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication(platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: setup.logger ?? false });
  setup.configure?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  return { app, url, close: () => app.close() };
}

const withDefinableFilter = (app: INestApplication) => app.useGlobalFilters(new DefinableExceptionFilter(app.get(HttpAdapterHost)));

for (const platform of PLATFORMS) {
  describe(`error texts at the edges on ${platform}`, () => {
    describe('auth refusals say why', () => {
      let server: TestApp;
      before(async () => {
        server = await startCustomApp(platform, { imports: [agentModule({ auth: apiKeyAndJwt() })] });
      });
      after(() => server.close());

      const refused = async (headers: Record<string, string>) => {
        const res = await post(`${server.url}/run`, { input: 'x' }, headers);
        assert.equal(res.status, 401, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'unauthorized');
        return res.body.error.message as string;
      };

      it('no credentials: says what to send', async () => {
        assert.equal(await refused({}), REQUIRED);
      });

      it('a wrong API key: says the key was not accepted', async () => {
        const message = await refused({ 'x-api-key': 'wrong-key-123456' });
        assert.match(message, /^The API key was not accepted: check the X-API-Key value/);
        assert.doesNotMatch(message, /wrong-key-123456/);
      });

      it('a bearer value that is neither a key nor a JWT: says the key was not accepted', async () => {
        assert.match(await refused(bearer('not-a-key-nor-a-jwt')), /^The API key was not accepted: check the key sent as Authorization: Bearer <key>/);
      });

      it('an expired JWT', async () => {
        const message = await refused(bearer(token({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 10 })));
        assert.equal(message, 'The token has expired: get a new token and retry.');
      });

      it('a JWT for another audience, without naming the expected one', async () => {
        const message = await refused(bearer(token({ sub: 'alice' }, { audience: 'someone-else' })));
        assert.match(message, /^The token's audience is not accepted: /);
        assert.doesNotMatch(message, /definable|someone-else|expected/);
      });

      it('a JWT from another issuer, without naming the expected one', async () => {
        const message = await refused(bearer(token({ sub: 'alice' }, { issuer: 'elsewhere' })));
        assert.match(message, /^The token's issuer is not accepted: /);
        assert.doesNotMatch(message, /tests|elsewhere|expected/);
      });

      it('a JWT signed with another key', async () => {
        assert.match(await refused(bearer(token({ sub: 'alice' }, {}, 'another-secret-of-enough-length'))), /^The token's signature is invalid: /);
      });

      it('an unsigned JWT (alg none) and an algorithm outside the list', async () => {
        assert.match(await refused(bearer(unsigned())), /^The token's signing algorithm is not accepted: /);
        assert.match(await refused(bearer(token({ sub: 'alice' }, { algorithm: 'HS384' }))), /^The token's signing algorithm is not accepted: /);
      });

      it('a JWT with no user claim', async () => {
        assert.match(await refused(bearer(token({ role: 'admin' }))), /^The token names no user: it needs a "sub"/);
      });

      it('still lets valid credentials in', async () => {
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, { 'x-api-key': API_KEY })).status, 200);
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, bearer(token({ sub: 'alice' })))).status, 200);
      });
    });

    describe('the reason goes to the debug log, the token and claims do not', () => {
      let server: TestApp;
      let logger: RecordingLogger;
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
      before(async () => {
        logger = new RecordingLogger();
        server = await startCustomApp(
          platform,
          {
            imports: [
              agentModule({
                auth: new CompositeAuth(
                  new ApiKeyAuth({ keys: [API_KEY] }),
                  // RS256 allowed with an HMAC secret: a server-side mistake, logged as a warning.
                  new JwtAuth({ secret: SECRET, audience: 'definable', issuer: 'tests', algorithms: ['HS256', 'RS256'] }),
                ),
              }),
            ],
          },
          { logger },
        );
      });
      after(() => server.close());

      const authLog = () => logger.entries.filter((entry) => entry.context === 'Definable:Auth');

      it('logs each refusal reason at debug level under Definable:Auth', async () => {
        const claims = { sub: 'subject-7f3a', email: 'alice@example.test' };
        const expired = token({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 });
        const wrongAudience = token(claims, { audience: 'audience-9c1e' });
        for (const bad of [expired, wrongAudience]) {
          assert.equal((await post(`${server.url}/run?secret=query-5d2b`, { input: 'x' }, bearer(bad))).status, 401);
        }
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, { 'x-api-key': 'wrong-key-8e4d21' })).status, 401);

        const debug = authLog().filter((entry) => entry.level === 'debug').map((entry) => entry.message);
        assert.equal(debug.length, 3, debug.join('\n'));
        assert.match(debug[0], /^401 for POST \/run: jwt refused \(rejected\): The token has expired.* \[TokenExpiredError: expired\]$/);
        assert.match(debug[1], /^401 for POST \/run: jwt refused \(rejected\): The token's audience is not accepted.* \[JsonWebTokenError: audience invalid\]$/);
        assert.match(debug[2], /^401 for POST \/run: api-key refused \(rejected\): The API key was not accepted/);

        const everything = logger.entries.map((entry) => entry.message).join('\n');
        for (const secret of [...expired.split('.'), ...wrongAudience.split('.'), 'subject-7f3a', 'alice@example.test', 'audience-9c1e', 'query-5d2b', 'wrong-key-8e4d21']) {
          assert.ok(!everything.includes(secret), `the log must not contain ${secret}`);
        }
        // Nor what the server expects (jsonwebtoken's "expected: definable").
        assert.doesNotMatch(debug.join('\n'), /definable|expected/);
      });

      it('warns once when the configured key cannot verify an accepted algorithm', async () => {
        const rs256 = jwt.sign({ sub: 'alice' }, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
          algorithm: 'RS256',
          audience: 'definable',
          issuer: 'tests',
          expiresIn: 60,
        });
        for (let attempt = 0; attempt < 2; attempt++) {
          const res = await post(`${server.url}/run`, { input: 'x' }, bearer(rs256));
          assert.equal(res.status, 401);
          assert.match(res.body.error.message, /^The token could not be verified: /);
        }
        const warnings = authLog().filter((entry) => entry.level === 'warn');
        assert.equal(warnings.length, 1);
        assert.match(warnings[0].message, /^JwtAuth cannot verify tokens: .*Check its secret \/ publicKey and algorithms options\.$/);
      });
    });

    describe('the /run body and its content type', () => {
      let server: TestApp;
      before(async () => {
        server = await startCustomApp(platform, { imports: [agentModule({ auth: new ApiKeyAuth({ keys: [API_KEY] }) })] });
      });
      after(() => server.close());
      const key = { 'x-api-key': API_KEY };

      for (const [field, meant] of [
        ['sessionId', 'session_id'],
        ['userId', 'user_id'],
      ]) {
        it(`a camelCase "${field}" gets "did you mean ${meant}"`, async () => {
          const res = await post(`${server.url}/run`, { input: 'x', [field]: 'abc' }, key);
          assert.equal(res.status, 400);
          assert.equal(res.body.error.code, 'invalid_request');
          assert.equal(res.body.error.message, `Unknown field "${field}": did you mean "${meant}"? The JSON API is snake_case.`);
        });
      }

      it('another unknown field is refused, naming it, the accepted fields and "metadata"', async () => {
        const res = await post(`${server.url}/run`, { input: 'x', temperature: 0.2 }, key);
        assert.equal(res.status, 400);
        assert.equal(
          res.body.error.message,
          'Unknown field "temperature": /run takes "input", "session_id", "user_id", "stream", "background", "agent", "metadata"; put free-form data in "metadata".',
        );
        const prompt = await post(`${server.url}/run`, { prompt: 'x' }, key);
        assert.equal(prompt.body.error.message, 'Unknown field "prompt": did you mean "input"?');
      });

      it('free-form data in "metadata" is accepted', async () => {
        const res = await post(`${server.url}/run`, { input: 'x', metadata: { temperature: 0.2, tags: ['a'] } }, key);
        assert.equal(res.status, 200);
      });

      for (const [type, body] of [
        ['text/plain', 'Hello'],
        ['application/x-www-form-urlencoded', 'input=Hello'],
        ['text/plain; charset=utf-8', '{"input": "Hello"}'],
      ]) {
        it(`Content-Type ${type} gets 415 unsupported_media_type in the module's shape`, async () => {
          const res = await post(`${server.url}/run`, body, { ...key, 'content-type': type });
          assert.equal(res.status, 415);
          assert.equal(res.body.error.code, 'unsupported_media_type');
          assert.match(res.body.error.message, /^POST \/run takes application\/json, not "(text\/plain|application\/x-www-form-urlencoded)"/);
          assert.match(res.body.error.message, /send Content-Type: application\/json/);
        });
      }

      it('Content-Type: application/json; charset=utf-8 is JSON', async () => {
        assert.equal((await post(`${server.url}/run`, { input: 'x' }, { ...key, 'content-type': 'application/json; charset=utf-8' })).status, 200);
      });

      it('a type no parser knows: 415 from the route on Express, from Fastify before routing', async () => {
        const res = await post(`${server.url}/run`, '<input>Hello</input>', { ...key, 'content-type': 'application/xml' });
        assert.equal(res.status, 415);
        if (platform === 'express') {
          assert.equal(res.body.error.code, 'unsupported_media_type');
        } else {
          // Fastify refuses it while parsing, before the route's filter exists: Nest's default body.
          assert.deepEqual(res.body, { statusCode: 415, message: 'Unsupported Media Type' });
        }
      });
    });

    describe("bodies the platform refuses before routing, with the module's filter applied app-wide", () => {
      let server: TestApp;
      before(async () => {
        server = await startCustomApp(platform, { imports: [agentModule({ bodyLimit: 4 * 1024 * 1024 })] }, { configure: withDefinableFilter });
      });
      after(() => server.close());

      it('an unknown content type gets 415 in the module shape, with the hint', async () => {
        const res = await post(`${server.url}/run`, '<input>Hello</input>', { 'content-type': 'application/xml' });
        assert.equal(res.status, 415);
        assert.equal(res.body.error.code, 'unsupported_media_type');
        assert.match(res.body.error.message, /send Content-Type: application\/json/);
      });

      it("a body over the platform's own limit gets 413 saying how to raise it", async () => {
        // Express's default JSON limit is 100 KB, Fastify's body limit 1 MiB; bodyLimit here is 4 MiB.
        const size = platform === 'express' ? 200 * 1024 : 2 * 1024 * 1024;
        const res = await post(`${server.url}/run`, { input: 'x'.repeat(size) });
        assert.equal(res.status, 413);
        assert.equal(res.body.error.code, 'payload_too_large');
        if (platform === 'express') {
          assert.match(res.body.error.message, /over Express's JSON body limit of 102400 bytes/);
          assert.match(res.body.error.message, /app\.useBodyParser\('json', \{ limit: '1mb' \}\)/);
        } else {
          assert.match(res.body.error.message, /new FastifyAdapter\(\{ bodyLimit: <bytes> \}\)/);
        }
      });
    });

    describe('a /run body between 100 KB and 1 MiB (the default bodyLimit)', () => {
      const body = { input: 'x'.repeat(200 * 1024) };

      it(
        platform === 'express'
          ? "is refused by Express's 100 KB JSON parser before routing (Nest's default 413 body)"
          : 'is accepted (Fastify limits bodies to 1 MiB)',
        async () => {
          const server = await startCustomApp(platform, { imports: [agentModule()] });
          try {
            const res = await post(`${server.url}/run`, body);
            if (platform === 'express') {
              assert.equal(res.status, 413);
              assert.deepEqual(res.body, { statusCode: 413, message: 'request entity too large' });
            } else {
              assert.equal(res.status, 200);
            }
          } finally {
            await server.close();
          }
        },
      );

      if (platform === 'express') {
        it("is accepted once the app raises Express's limit with app.useBodyParser('json', { limit })", async () => {
          const server = await startCustomApp(
            platform,
            { imports: [agentModule()] },
            { configure: (app) => (app as NestExpressApplication).useBodyParser('json', { limit: '2mb' }) },
          );
          try {
            assert.equal((await post(`${server.url}/run`, body)).status, 200);
            // Past Express's raised limit, the module's own bodyLimit (1 MiB) answers, in the module's shape.
            const over = await post(`${server.url}/run`, { input: 'x'.repeat(1536 * 1024) });
            assert.equal(over.status, 413);
            assert.equal(over.body.error.code, 'payload_too_large');
            assert.match(over.body.error.message, /raise bodyLimit in DefinableModule\.forRoot\(\)/);
          } finally {
            await server.close();
          }
        });
      }
    });
  });
}

describe('auth providers: verify() and refusals', () => {
  const request = (headers: Record<string, string> = {}) => ({ platform: 'http', headers });

  it('authenticate() still answers null for every refusal (chat allowlists test it for truthiness)', async () => {
    assert.equal(new ApiKeyAuth({ keys: [API_KEY] }).authenticate(request({ 'x-api-key': 'wrong-key-123456' })), null);
    assert.equal(await new JwtAuth({ secret: SECRET }).authenticate(request(bearer('abc'))), null);
    assert.equal(await apiKeyAndJwt().authenticate(request(bearer(token({ sub: 'a' }, { audience: 'x' })))), null);
    assert.equal(new AllowlistAuth({ userIds: ['1'] }).authenticate({ platform: 'telegram', headers: {}, userId: '2' }), null);
  });

  it("CompositeAuth reports presented-and-refused credentials over another provider's 'nothing here'", async () => {
    const verdict = await apiKeyAndJwt().verify(request(bearer(token({ sub: 'a', exp: Math.floor(Date.now() / 1000) - 5 }))));
    assert.ok(AuthRefusal.is(verdict));
    assert.equal(verdict.provider, 'jwt');
    assert.equal(verdict.kind, 'rejected');
    const reversed = await new CompositeAuth(new JwtAuth({ secret: SECRET }), new ApiKeyAuth({ keys: [API_KEY] })).verify(
      request({ 'x-api-key': 'wrong-key-123456' }),
    );
    assert.ok(AuthRefusal.is(reversed));
    assert.equal(reversed.provider, 'api-key');
  });

  it('a provider of your own that returns null gets the generic message; one with verify() gets its own', async () => {
    const legacy: AuthProvider = { name: 'sso', authenticate: () => null };
    const explained: AuthProvider = {
      name: 'cookie',
      authenticate: () => null,
      verify: () => AuthRefusal.rejected('cookie', 'The session has expired: sign in again.'),
    };
    assert.equal(((await verifyAuth(legacy, request())) as AuthRefusal).message, 'Authentication required: send credentials for sso.');
    const both = (await verifyAuth(new CompositeAuth(legacy, explained), request())) as AuthRefusal;
    assert.equal(both.message, 'The session has expired: sign in again.');
    const none = (await verifyAuth(new CompositeAuth(legacy, new JwtAuth({ secret: SECRET })), request())) as AuthRefusal;
    assert.equal(none.message, 'Authentication required: send credentials for sso, or a valid token as Authorization: Bearer <JWT>.');
  });
});
