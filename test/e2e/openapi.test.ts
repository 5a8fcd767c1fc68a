import 'reflect-metadata';
import assert from 'node:assert/strict';
import Module from 'node:module';
import { describe, it } from 'node:test';
import { Controller, INestApplication, Module as NestModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { Agent, ApiKeyAuth, AuthProvider, CompositeAuth, DefinableModule, JwtAuth, serve, TriggerEvent, Webhook } from '../../lib';
import { addDefinableSecurity } from '../../lib/http/openapi';
import { TestModel } from '../../lib/testing';
import { Platform, PLATFORMS, post } from '../support/nest';

const HOOK_AUTH = new ApiKeyAuth({ keys: ['hook-key-0001'], header: 'X-Hook-Key' });

@Controller('hooks')
class Hooks {
  @Webhook('/guarded')
  guarded(event: TriggerEvent) {
    return `guarded ${JSON.stringify(event.body)}`;
  }

  @Webhook('/open', { auth: false })
  open() {
    return 'open';
  }

  @Webhook('/own', { auth: HOOK_AUTH })
  own() {
    return 'own';
  }
}

type Requirement = Record<string, string[]>[] | undefined;

interface AuthCase {
  label: string;
  auth?: () => AuthProvider;
  /** The requirement of `/run` and of webhooks under the module's auth. */
  security: Requirement;
}

const CASES: AuthCase[] = [
  { label: 'ApiKeyAuth', auth: () => new ApiKeyAuth({ keys: ['test-key-0001'] }), security: [{ 'api-key': [] }] },
  { label: 'JwtAuth', auth: () => new JwtAuth({ secret: 'a-secret-of-at-least-32-characters!' }), security: [{ jwt: [] }] },
  {
    label: 'CompositeAuth',
    auth: () => new CompositeAuth(new ApiKeyAuth({ keys: ['test-key-0001'] }), new JwtAuth({ secret: 'a-secret-of-at-least-32-characters!' })),
    security: [{ 'api-key': [] }, { jwt: [] }],
  },
  { label: 'no auth', security: undefined },
];

const agent = () => new Agent({ name: 'docs', model: new TestModel({ responses: () => 'ok' }) });
const adapter = (platform: Platform) => (platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter());

/** The document a typical main.ts builds. */
function createDocument(app: INestApplication): OpenAPIObject {
  const config = addDefinableSecurity(new DocumentBuilder().setTitle('My app').setVersion('1.0'), app).build();
  // As served: a JSON round trip drops what JSON cannot hold.
  return JSON.parse(JSON.stringify(SwaggerModule.createDocument(app, config)));
}

async function validate(document: unknown): Promise<void> {
  const { Validator } = await import('@seriousme/openapi-schema-validator');
  const result = await new Validator().validate(document as Record<string, unknown>);
  assert.equal(result.valid, true, `invalid OpenAPI document: ${JSON.stringify(result.errors, null, 2)}`);
  // The JSON Schema of OpenAPI does not check this: every requirement names a defined scheme.
  const doc = document as OpenAPIObject;
  const defined = Object.keys(doc.components?.securitySchemes ?? {});
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, { security?: Record<string, unknown>[] }>)) {
      for (const requirement of operation.security ?? []) {
        for (const name of Object.keys(requirement)) assert.ok(defined.includes(name), `${method.toUpperCase()} ${path} requires "${name}", not in components`);
      }
    }
  }
}

/** What every document of an app with {@link Hooks} must say, given the module's auth. */
function assertDocument(doc: OpenAPIObject, security: Requirement, prefix = ''): void {
  const run = doc.paths[`${prefix}/run`]?.post as any;
  assert.ok(run, 'POST /run is documented');
  assert.equal(run.requestBody.required, true);
  const body = run.requestBody.content['application/json'].schema;
  assert.deepEqual(body.required, ['input']);
  assert.equal(body.properties.input.type, 'string');
  for (const field of ['session_id', 'user_id', 'agent']) assert.equal(body.properties[field].type, 'string', field);
  assert.equal(body.properties.stream.type, 'boolean');
  assert.equal(body.properties.metadata.type, 'object');

  assert.equal(run.responses['201'], undefined, 'no 201: /run answers 200');
  const ok = run.responses['200'];
  assert.ok(ok.content['application/json'].schema.properties.run_id);
  assert.deepEqual(ok.content['application/json'].schema.properties.content_type.enum, ['text', 'json']);
  assert.ok(ok.content['text/event-stream'], 'the SSE answer is documented');
  for (const status of ['400', '403', '413', '415', '502', '503']) {
    const error = run.responses[status]?.content?.['application/json']?.schema;
    assert.deepEqual(error?.properties?.error?.required, ['code', 'message'], `${status} has the error body`);
  }
  assert.equal(Boolean(run.responses['401']), security !== undefined, '401 exactly when auth is on');
  assert.deepEqual(run.security, security);

  assert.deepEqual(run.tags, ['agent']);
  const decide = doc.paths[`${prefix}/runs/{id}/approvals/{approvalId}`]?.post as any;
  assert.equal(decide?.summary, 'Approve or reject a tool call a run paused for');
  assert.deepEqual(decide?.requestBody?.content?.['application/json']?.schema?.required, ['approve']);
  for (const status of ['200', '400', '403', '404', '409', '415']) assert.ok(decide.responses[status], `the decision's ${status} is documented`);
  assert.equal(Boolean(decide.responses['401']), security !== undefined, '401 exactly when auth is on');
  assert.equal(decide.responses['201'], undefined, 'no 201: a decision answers 200');
  assert.equal((doc.paths[`${prefix}/approvals`]?.get as any)?.responses?.['200']?.content?.['application/json']?.schema?.properties?.approvals?.type, 'array');
  const health = doc.paths[`${prefix}/health`]?.get as any;
  assert.ok(health);
  assert.equal(health.security, undefined, '/health is public');
  assert.ok(health.responses['200'].content['application/json'].schema.properties.uptime_s);

  assert.deepEqual((doc.paths['/hooks/guarded']?.post as any)?.security, security, 'a webhook under the module auth');
  assert.equal((doc.paths['/hooks/open']?.post as any)?.security, undefined, 'auth: false is open');
  assert.deepEqual((doc.paths['/hooks/own']?.post as any)?.security, [{ 'api-key-x-hook-key': [] }], "a webhook's own provider");
  assert.deepEqual(doc.components?.securitySchemes?.['api-key-x-hook-key'], {
    type: 'apiKey',
    in: 'header',
    name: 'X-Hook-Key',
    description: 'An API key in the X-Hook-Key header (Authorization: Bearer <key> works too).',
  });
}

describe('OpenAPI document of an app with DefinableModule', () => {
  for (const platform of PLATFORMS) {
    for (const { label, auth, security } of CASES) {
      it(`${platform}, ${label}: /run, /health and webhooks, before and after init`, async () => {
        const moduleRef = await Test.createTestingModule({
          imports: [DefinableModule.forRoot({ agent: agent(), auth: auth?.() })],
          controllers: [Hooks],
        }).compile();
        const app = moduleRef.createNestApplication(adapter(platform), { logger: false });
        try {
          const before = createDocument(app);
          assertDocument(before, security);
          await validate(before);
          await app.init();
          assert.deepEqual(createDocument(app), before);
        } finally {
          await app.close();
        }
      });
    }
  }

  it('forRootAsync: the auth from the factory is documented before init', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [DefinableModule.forRootAsync({ useFactory: () => ({ agent: agent(), auth: new JwtAuth({ secret: 'a-secret-of-at-least-32-characters!' }) }), server: { prefix: 'api' } })],
      controllers: [Hooks],
    }).compile();
    const app = moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
    try {
      const doc = createDocument(app);
      assertDocument(doc, [{ jwt: [] }], '/api');
      assert.deepEqual(doc.components?.securitySchemes?.jwt, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT as Authorization: Bearer <token>.' });
      await validate(doc);
    } finally {
      await app.close();
    }
  });

  for (const platform of PLATFORMS) {
    it(`${platform}: a main.ts with NestFactory.create() documents the routes, and they answer as documented`, async () => {
      @NestModule({ imports: [DefinableModule.forRoot({ agent: agent(), auth: new ApiKeyAuth({ keys: ['test-key-0001'] }) })], controllers: [Hooks] })
      class AppModule {}
      const app = await NestFactory.create(AppModule, adapter(platform), { logger: false });
      try {
        const doc = createDocument(app);
        assertDocument(doc, [{ 'api-key': [] }]);
        await validate(doc);
        await app.listen(0, '127.0.0.1');
        const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
        const ran = await post(`${url}/run`, { input: 'hi' }, { 'x-api-key': 'test-key-0001' });
        assert.equal(ran.status, 200);
        assert.equal(ran.body.content, 'ok');
        assert.equal((await post(`${url}/run`, { input: 'hi' })).status, 401);
        assert.equal((await post(`${url}/hooks/open`, {})).status, 200);
      } finally {
        await app.close();
      }
    });
  }

  it('addDefinableSecurity says what to do without DefinableModule', async () => {
    // abortOnError stays on, as in a real main.ts: a failing app.get() there would exit the process, not throw.
    @NestModule({ controllers: [] })
    class Bare {}
    const app = await NestFactory.create(Bare, new ExpressAdapter(), { logger: false });
    try {
      assert.throws(() => addDefinableSecurity(new DocumentBuilder(), app), /no DefinableModule\. Import DefinableModule\.forRoot/);
    } finally {
      await app.close();
    }
  });

  it('works without @nestjs/swagger installed (an optional peer)', async () => {
    const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
    const resolve = resolver._resolveFilename;
    resolver._resolveFilename = function (request: string, ...rest: unknown[]) {
      if (request === '@nestjs/swagger') throw Object.assign(new Error("Cannot find module '@nestjs/swagger'"), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    try {
      const moduleRef = await Test.createTestingModule({
        imports: [DefinableModule.forRoot({ agent: agent(), auth: new ApiKeyAuth({ keys: ['test-key-0001'] }) })],
        controllers: [Hooks],
      }).compile();
      const app = moduleRef.createNestApplication(new ExpressAdapter(), { logger: false });
      try {
        await app.listen(0, '127.0.0.1');
        const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
        assert.equal((await post(`${url}/run`, { input: 'hi' }, { 'x-api-key': 'test-key-0001' })).status, 200);
        const added: string[] = [];
        addDefinableSecurity({ addSecurity: (name: string) => added.push(name) }, app);
        assert.deepEqual(added.sort(), ['api-key', 'api-key-x-hook-key']);
      } finally {
        await app.close();
      }
    } finally {
      resolver._resolveFilename = resolve;
    }
  });

  it('serve() dev mode serves the same document at /docs-json, valid', async () => {
    const server = await serve(agent(), {
      port: 0,
      host: '127.0.0.1',
      dev: true,
      logger: false,
      handleSignals: false,
      controllers: [Hooks],
      auth: new ApiKeyAuth({ keys: ['test-key-0001'] }),
    });
    try {
      const response = await fetch(`${server.url}/docs-json`);
      assert.equal(response.status, 200);
      const doc = (await response.json()) as OpenAPIObject;
      assertDocument(doc, [{ 'api-key': [] }]);
      assert.deepEqual(Object.keys(doc.components?.securitySchemes ?? {}).sort(), ['api-key', 'api-key-x-hook-key']);
      await validate(doc);
    } finally {
      await server.close();
    }
  });
});
