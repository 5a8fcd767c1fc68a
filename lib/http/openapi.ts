import { Inject, Injectable, Logger } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { GUARDS_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { AuthProvider, OpenApiSecurityScheme } from '../auth/auth-provider';
import { DEFINABLE_AUTH } from '../auth/auth.constants';
import { resolveRouteAuth } from '../auth/auth.decorators';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { DefinableController } from './definable.controller';
import {
  APPROVALS_RESPONSES,
  DECISION_REQUEST_SCHEMA,
  DECISION_RESPONSES,
  HEALTH_RESPONSES,
  ResponseDoc,
  RUN_EVENTS_RESPONSES,
  RUN_RECORD_RESPONSES,
  RUN_REQUEST_SCHEMA,
  RUN_RESPONSES,
  UNAUTHORIZED_RESPONSE,
} from './openapi-schemas';

type Swagger = typeof import('@nestjs/swagger');
type Handler = (...args: unknown[]) => unknown;

/** What we wrote last on a handler, per metadata key: anything else there is the app's own and stays. */
const written = new WeakMap<object, Map<string, unknown>>();

/**
 * Documents the module's routes for `@nestjs/swagger` (an optional peer): the
 * built-in `POST /run` (body, `200` JSON or SSE, error responses) and
 * `GET /health`, and the security requirement of every route guarded by
 * `DefinableAuthGuard` (`/run`, every `@Webhook`, your `@UseGuards`
 * routes): the route's own provider, else the module's; none for `@Public()`
 * or `auth: false`. It also collects the security schemes those providers
 * describe, which {@link addDefinableSecurity} adds to a `DocumentBuilder`.
 *
 * It works while the app is created, not in `onModuleInit`, because apps build
 * their document between `NestFactory.create()` and `listen()`. Swagger reads
 * metadata from the handler functions, so when apps with different module
 * auth share a controller class in one process, each document shows the auth
 * of the app created last.
 */
@Injectable()
export class DefinableOpenApi {
  private readonly logger = new Logger('Definable:OpenAPI');
  private readonly schemes: Record<string, OpenApiSecurityScheme> = {};

  constructor(
    discovery: DiscoveryService,
    scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @Inject(DEFINABLE_AUTH) private readonly auth: AuthProvider | null,
  ) {
    this.collect(auth);
    const swagger = loadSwagger(this.logger);
    for (const wrapper of discovery.getControllers()) {
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
      if (typeof controller !== 'function' || !controller.prototype) continue;
      for (const name of scanner.getAllMethodNames(controller.prototype)) {
        const handler = controller.prototype[name as keyof typeof controller.prototype] as Handler;
        if (typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        this.document(swagger, controller, name, handler);
      }
    }
  }

  /** The security schemes of the module's auth and of every route's own provider, by name. */
  get securitySchemes(): Readonly<Record<string, OpenApiSecurityScheme>> {
    return this.schemes;
  }

  private document(swagger: Swagger | undefined, controller: Function, name: string, handler: Handler): void {
    const builtIn = controller.prototype instanceof DefinableController;
    const guarded = builtIn || hasAuthGuard(handler) || hasAuthGuard(controller);
    if (!guarded) return;
    const provider = resolveRouteAuth(this.reflector, [handler, controller], this.auth);
    if (provider) this.collect(provider);
    if (!swagger) return;
    if (builtIn) {
      documentBuiltIn(swagger);
      // One tag for the built-in routes rather than the generated class's name.
      if (!Reflect.hasOwnMetadata(swagger.DECORATORS.API_TAGS, controller)) Reflect.defineMetadata(swagger.DECORATORS.API_TAGS, ['agent'], controller);
    }
    const { API_SECURITY, API_RESPONSE } = swagger.DECORATORS;
    // The app's own @ApiSecurity (on the method or the class) wins.
    if (Reflect.getMetadata(API_SECURITY, controller) === undefined) {
      const schemes = Object.keys(provider?.securitySchemes ?? {});
      writeOwned(API_SECURITY, handler, schemes.length > 0 ? schemes.map((scheme) => ({ [scheme]: [] })) : undefined);
    }
    if (builtIn && GUARDED_BUILT_IN.has(name)) {
      const responses = { ...(Reflect.getMetadata(API_RESPONSE, handler) as Record<string, ResponseDoc> | undefined) };
      delete responses[401];
      Reflect.defineMetadata(API_RESPONSE, provider ? { ...responses, 401: UNAUTHORIZED_RESPONSE } : responses, handler);
    }
  }

  private collect(provider: AuthProvider | null): void {
    for (const [name, scheme] of Object.entries(provider?.securitySchemes ?? {})) {
      const known = this.schemes[name];
      if (!known) this.schemes[name] = { ...scheme };
      else if (JSON.stringify(known) !== JSON.stringify(scheme)) {
        this.logger.warn(
          `Two auth providers describe the OpenAPI security scheme "${name}" differently; the document keeps the first. ` +
            'Give one of them another scheme name (for ApiKeyAuth, another header).',
        );
      }
    }
  }
}

/** Anything with `DocumentBuilder.addSecurity()`. */
export interface SecuritySchemeTarget {
  addSecurity(name: string, options: OpenApiSecurityScheme): unknown;
}

/**
 * Adds the security schemes of the app's auth providers (the module's and
 * those of `@Webhook(path, { auth })` routes) to a Swagger `DocumentBuilder`,
 * so the security requirements `DefinableModule` puts on `/run` and the
 * webhooks name schemes the document defines. Call it after
 * `NestFactory.create()`; `listen()` / `init()` may come before or after.
 *
 * @example
 * const app = await NestFactory.create(AppModule);
 * const config = addDefinableSecurity(new DocumentBuilder().setTitle('My API'), app).build();
 * SwaggerModule.setup('docs', app, SwaggerModule.createDocument(app, config));
 */
export function addDefinableSecurity<Builder extends SecuritySchemeTarget>(builder: Builder, app: Pick<INestApplicationContext, 'get'>): Builder {
  if (typeof builder?.addSecurity !== 'function') {
    throw new TypeError('addDefinableSecurity(builder, app): pass a DocumentBuilder first, e.g. addDefinableSecurity(new DocumentBuilder(), app).');
  }
  // Looked up without app.get(DefinableOpenApi): a failed get() exits the process under NestFactory's default abortOnError.
  const openApi = [...app.get(ModulesContainer).values()]
    .map((module) => module.providers.get(DefinableOpenApi)?.instance)
    .find((instance): instance is DefinableOpenApi => instance instanceof DefinableOpenApi);
  if (!openApi) {
    throw new Error(
      'addDefinableSecurity(builder, app): this app has no DefinableModule. Import DefinableModule.forRoot(...) or forRootAsync(...) in the app\'s module, and pass the app NestFactory.create() returned.',
    );
  }
  for (const [name, scheme] of Object.entries(openApi.securitySchemes)) builder.addSecurity(name, { ...scheme });
  return builder;
}

/** `@nestjs/swagger`, or `undefined` when the app does not have it (it is an optional peer). */
function loadSwagger(logger: Logger): Swagger | undefined {
  try {
    return require('@nestjs/swagger') as Swagger;
  } catch (error) {
    const missing = (error as { code?: string })?.code === 'MODULE_NOT_FOUND' && String((error as Error).message).includes("'@nestjs/swagger'");
    if (!missing) {
      logger.warn(`@nestjs/swagger is installed but could not be loaded (${(error as Error)?.message ?? error}); Swagger documents will not describe /run and the webhooks' auth.`);
    }
    return undefined;
  }
}

let builtInDocumented = false;
/** The built-in routes behind the module's auth: their 401 is documented exactly when it has a provider. */
const GUARDED_BUILT_IN: ReadonlySet<string> = new Set(['run', 'getRun', 'runEvents', 'cancelRun', 'decideApproval', 'listApprovals']);

/** The schemas and responses of the built-in routes, the same in every app: written once. */
function documentBuiltIn(swagger: Swagger): void {
  if (builtInDocumented) return;
  builtInDocumented = true;
  const { ApiBody, ApiOperation, ApiResponse } = swagger;
  const proto = DefinableController.prototype;
  const apply = (key: 'run' | 'health' | 'getRun' | 'runEvents' | 'cancelRun' | 'decideApproval' | 'listApprovals', ...decorators: MethodDecorator[]) => {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
    for (const decorator of decorators) decorator(proto, key, descriptor);
  };
  const responses = (docs: Readonly<Record<string, ResponseDoc>>) =>
    Object.entries(docs).map(([status, doc]) => ApiResponse({ status: Number(status), ...doc } as never));
  apply(
    'run',
    ApiOperation({ summary: 'Run an agent', description: 'Runs the agent on `input` and answers with its output as JSON, or streams its events (Server-Sent Events).' }),
    ApiBody({ required: true, description: 'What to run (`RunRequestBody`).', schema: RUN_REQUEST_SCHEMA } as never),
    ...responses(RUN_RESPONSES),
  );
  apply('health', ApiOperation({ summary: 'Liveness and what is running (always public)' }), ...responses(HEALTH_RESPONSES));
  apply('getRun', ApiOperation({ summary: 'A recorded run: status, and its output once it ended' }), ...responses(RUN_RECORD_RESPONSES));
  apply('runEvents', ApiOperation({ summary: "Follow a run's events (Server-Sent Events), resumable with Last-Event-ID" }), ...responses(RUN_EVENTS_RESPONSES));
  apply('cancelRun', ApiOperation({ summary: 'Cancel a queued or running run (idempotent)' }), ...responses(RUN_RECORD_RESPONSES));
  apply(
    'decideApproval',
    ApiOperation({ summary: 'Approve or reject a tool call a run paused for', description: 'Single-use; once every approval of the run is decided, it goes on.' }),
    ApiBody({ required: true, schema: DECISION_REQUEST_SCHEMA } as never),
    ...responses(DECISION_RESPONSES),
  );
  apply('listApprovals', ApiOperation({ summary: 'The tool-call approvals you may decide' }), ...responses(APPROVALS_RESPONSES));
}

/** Sets (or removes, with `undefined`) metadata we own on a target, leaving metadata the app set itself. */
function writeOwned(key: string, target: object, value: unknown): void {
  const ours = written.get(target) ?? new Map<string, unknown>();
  const current = Reflect.getOwnMetadata(key, target);
  if (current !== undefined && current !== ours.get(key)) return;
  if (value === undefined) Reflect.deleteMetadata(key, target);
  else Reflect.defineMetadata(key, value, target);
  ours.set(key, value);
  written.set(target, ours);
}

function hasAuthGuard(target: object): boolean {
  const guards: unknown[] = Reflect.getMetadata(GUARDS_METADATA, target) ?? [];
  return guards.some(
    (guard) =>
      guard === DefinableAuthGuard ||
      guard instanceof DefinableAuthGuard ||
      (typeof guard === 'function' && guard.prototype instanceof DefinableAuthGuard),
  );
}
