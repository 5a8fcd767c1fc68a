import { DynamicModule, INestApplication, Logger, LogLevel, Module, Type } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createServer, RequestListener } from 'node:http';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Agent } from '../agent';
import type { AuthProvider } from '../auth';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import { AgentRegistry } from '../module/agent.registry';
import { DefinableModule } from '../definable.module';
import type { DefinableModuleOptions } from '../module/definable-module.options';
import type { MessagingInterface } from '../interfaces/messaging-interface';
import { TriggerRegistry } from '../triggers/trigger.registry';
import { setUpSwagger } from './swagger';

/** Options of {@link serve} and `agent.serve()`. */
export interface ServeOptions {
  /** Default `PORT`, else 8000. `0` picks a free port. */
  port?: number;
  /** Default `0.0.0.0`. */
  host?: string;
  /** The service's name in the banner and `/health`. Default: the agent's name. */
  name?: string;
  /** Protects `/run` and the webhooks. */
  auth?: AuthProvider;
  /** Development mode: Swagger UI at `/docs` and verbose logs. */
  dev?: boolean;
  /** Controllers with `@Webhook` routes, and providers with `@Cron` / `@OnEvent` / hook methods. */
  controllers?: Type[];
  providers?: Type[];
  /** Modules those controllers and providers need. */
  imports?: (Type | DynamicModule)[];
  /** Messaging platforms to run beside the HTTP API, supervised (see `TelegramInterface`). */
  interfaces?: DefinableModuleOptions['interfaces'];
  /** Links platform accounts to one user across the interfaces. */
  identityResolver?: DefinableModuleOptions['identityResolver'];
  /** Other module options (`bodyLimit`, `shutdownTimeout`, `health`, more `agents`). */
  module?: Omit<DefinableModuleOptions, 'agent' | 'auth' | 'dev'>;
  /** Handle SIGINT and SIGTERM with a graceful shutdown. Default `true`. */
  handleSignals?: boolean;
  /** Nest log levels, or `false` for none. Default: info levels (`dev` adds debug and verbose). */
  logger?: LogLevel[] | false;
  /** A line the banner shows in bold, e.g. that a demo model answers. */
  notice?: string;
  /** How long a client may take, so slow or idle connections are not held forever. */
  timeouts?: ServeTimeouts;
}

/**
 * The server's timeouts (`serve()` sets them on Fastify and Node's HTTP
 * server). They bound receiving a request, not answering it: a long SSE
 * stream is not cut.
 */
export interface ServeTimeouts {
  /** Most milliseconds to receive a whole request (headers and body), else 408. Default 30,000; 0 turns it off. */
  requestMs?: number;
  /** Most milliseconds to receive the request headers. Default 10,000 (at most `requestMs`). */
  headersMs?: number;
  /** How long an idle keep-alive connection stays open. Default 5,000. */
  keepAliveMs?: number;
}

/** A running server (see {@link serve}). */
export interface ServeHandle {
  /** Where it listens, e.g. `http://127.0.0.1:8000`. */
  url: string;
  app: INestApplication;
  /** Stops intake, lets runs in flight finish (up to `shutdownTimeout`), closes everything. */
  close(): Promise<void>;
}

/**
 * Serves an agent without a Nest app of your own: builds a Fastify Nest app
 * around `DefinableModule` (with the routes, triggers and auth given), prints
 * a banner, and shuts down gracefully on SIGINT/SIGTERM. Resolves once
 * listening. Also available as `agent.serve(options)`.
 *
 * @example
 * const server = await serve(agent, { port: 8000, auth: new ApiKeyAuth({ keys: [process.env.API_KEY!] }) });
 */
export async function serve(agent: Agent, options?: ServeOptions): Promise<ServeHandle>;
/**
 * Serves messaging interfaces, as definable's `serve(*interfaces)`: the agent
 * is `options.agent`, else the first interface's `agent` option.
 *
 * @example
 * await serve([telegram, discord, signal], { name: 'my-bot', identityResolver });
 */
export async function serve(interfaces: MessagingInterface[], options?: ServeOptions & { agent?: Agent }): Promise<ServeHandle>;
export async function serve(target: Agent | MessagingInterface[], options: ServeOptions & { agent?: Agent } = {}): Promise<ServeHandle> {
  if (Array.isArray(target)) {
    const agent = options.agent ?? target.map((platform) => platform?.options?.agent).find((value): value is Agent => value instanceof Agent);
    if (!agent) {
      throw new TypeError('serve([interfaces]) needs an agent: pass { agent } in the options, or give an interface an agent option.');
    }
    return serve(agent, { ...options, interfaces: [...(options.interfaces ?? []), ...target] });
  }
  const agent = target;
  if (!(agent instanceof Agent)) throw new TypeError('serve() needs an Agent: serve(new Agent({ model }), { port: 8000 }).');
  const port = options.port ?? (process.env.PORT ? Number(process.env.PORT) : 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`serve(): port must be 0 to 65535, got ${options.port ?? process.env.PORT}.`);
  const host = options.host ?? '0.0.0.0';
  const moduleOptions: DefinableModuleOptions = {
    ...options.module,
    agent,
    auth: options.auth,
    dev: options.dev,
    interfaces: options.interfaces ?? options.module?.interfaces,
    identityResolver: options.identityResolver ?? options.module?.identityResolver,
    health: { ...(options.name ? { name: options.name } : {}), ...(options.notice ? { notice: options.notice } : {}), ...options.module?.health },
  };

  @Module({})
  class DefinableServeModule {}

  const root: DynamicModule = {
    module: DefinableServeModule,
    imports: [DefinableModule.forRoot(moduleOptions), ...appInfrastructure(options.imports ?? []), ...(options.imports ?? [])],
    controllers: options.controllers ?? [],
    providers: options.providers ?? [],
  };
  const logger =
    options.logger === false ? false : options.logger ?? (['log', 'warn', 'error', 'fatal', ...(options.dev ? (['debug', 'verbose'] as const) : [])] as LogLevel[]);
  const timeouts = { requestMs: 30_000, headersMs: 10_000, keepAliveMs: 5_000, ...options.timeouts };
  const adapter = new (loadFastifyAdapter())({
    bodyLimit: moduleOptions.bodyLimit ?? 1024 * 1024,
    // Slowloris: without these a client that sends a byte now and then holds a connection forever.
    // Node checks them on connectionsCheckingInterval (30 s by default): ours follows the timeouts.
    serverFactory: (handler: RequestListener) =>
      createServer(
        {
          requestTimeout: timeouts.requestMs,
          headersTimeout: timeouts.requestMs > 0 ? Math.min(timeouts.headersMs, timeouts.requestMs) : timeouts.headersMs,
          keepAliveTimeout: timeouts.keepAliveMs,
          connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs || Infinity) / 2))),
        },
        handler,
      ),
    // An open SSE stream must not keep the server from closing.
    forceCloseConnections: true,
    logger: options.dev ? { level: 'info' } : false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(root, adapter, { logger, abortOnError: false });
  // In our own app the uniform error body covers parser errors (malformed JSON, 413) too.
  app.useGlobalFilters(new DefinableExceptionFilter(app.get(HttpAdapterHost)));
  if (options.dev) await setUpSwagger(app, app.get(TriggerRegistry));
  await app.listen(port, host);
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');

  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  if (options.handleSignals !== false) {
    const logger = new Logger('Definable');
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) {
        // A second Ctrl-C forces the exit; a repeated SIGTERM (orchestrators resend it) is ignored.
        if (signal === 'SIGINT') process.exit(130);
        return;
      }
      logger.log(`${signal} received: shutting down (runs in flight may finish first).`);
      close().then(
        () => {
          process.removeListener('SIGINT', onSignal);
          process.removeListener('SIGTERM', onSignal);
        },
        (error) => {
          logger.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exitCode = 1;
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  printBanner(app, url, options);
  return { url, app, close };
}

function printBanner(app: INestApplication, url: string, options: ServeOptions): void {
  const logger = new Logger('Definable');
  const agents = app.get(AgentRegistry);
  const triggers = app.get(TriggerRegistry);
  const lines = [
    `${options.name ?? agents.defaultName} is listening on ${url}`,
    `  agents:   ${agents.names().map((name) => `${name} (${agents.get(name).model.id})`).join(', ')}`,
    `  routes:   POST ${url}/run · GET ${url}/health${options.dev ? ` · docs ${url}/docs` : ''}`,
    `  auth:     ${options.auth ? options.auth.name : 'none (anyone can call /run)'}`,
  ];
  for (const trigger of triggers.list()) {
    const where = `${trigger.className}.${trigger.methodName}`;
    lines.push(`  ${trigger.kind.padEnd(8)}  ${trigger.source}${trigger.timezone ? ` [${trigger.timezone}]` : ''} → ${where}`);
  }
  for (const platform of options.interfaces ?? []) lines.push(`  chat      ${platform.platform} (${platform.name})`);
  if (options.notice) lines.push(`  !! ${options.notice}`);
  logger.log(`\n${lines.join('\n')}`);
}

/**
 * serve() builds the whole app, so it brings the scheduler and the event emitter an app would
 * import itself (`EventEmitter2` injectable, jobs in `SchedulerRegistry`) — unless `imports`
 * already has its own (one of each per app).
 */
function appInfrastructure(imports: (Type | DynamicModule)[]): DynamicModule[] {
  const has = (module: Type) => imports.some((entry) => entry === module || (entry as DynamicModule).module === module);
  return [...(has(ScheduleModule) ? [] : [ScheduleModule.forRoot()]), ...(has(EventEmitterModule) ? [] : [EventEmitterModule.forRoot()])];
}

function loadFastifyAdapter(): typeof import('@nestjs/platform-fastify').FastifyAdapter {
  try {
    // Loaded on use: apps that mount DefinableModule on Express never need Fastify.
    return (require('@nestjs/platform-fastify') as typeof import('@nestjs/platform-fastify')).FastifyAdapter;
  } catch {
    throw new Error('serve() runs on Fastify: run `npm install @nestjs/platform-fastify`.');
  }
}
