import { DynamicModule, Logger, Module, Provider, Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Agent } from './agent';
import { DEFINABLE_AUTH } from './auth/auth.constants';
import { DefinableAuthGuard } from './auth/definable-auth.guard';
import { createDefinableController, createMetricsController } from './http/definable.controller';
import { DefinableOpenApi } from './http/openapi';
import { createOpenAICompatController } from './http/openai-compat.controller';
import { createUiChatController } from './http/ui-chat.controller';
import { createMcpController } from './http/mcp.controller';
import { createPlaygroundController, DEFAULT_PLAYGROUND_PATH } from './http/playground/playground.controller';
import type { PlaygroundOptions } from './http/playground/playground.controller';
import { getInterfaceClientToken, INTERFACE_CLIENTS } from './interfaces/interface-client';
import { createInterfaceRoutesController } from './interfaces/interface-routes';
import { InterfaceSupervisor } from './interfaces/interface.supervisor';
import type { MessagingInterface } from './interfaces/messaging-interface';
import { AgentRegistry } from './module/agent.registry';
import { AgentRunner } from './module/agent.runner';
import { RunApprovals } from './module/approvals/run-approvals';
import { ConfiguredAgents } from './module/configured-agents';
import type { DefinableModuleExtras, DefinableModuleOptions } from './module/definable-module.options';
import { AGENT_TOKEN_PREFIX, getAgentToken, requestedAgentNames } from './module/definable.constants';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, DEFINABLE_OPTIONS, OPTIONS_TYPE } from './module/definable.module-definition';
import { HealthRegistry } from './module/health.registry';
import { RunQuotas } from './module/quotas/run-quotas';
import { RunTracker } from './module/run.tracker';
import { DefinableMetrics } from './module/telemetry/definable-metrics';
import { metricsRoute } from './module/telemetry/run-metrics';
import { RunTracing } from './module/telemetry/run-tracing';
import { RunIdempotency } from './module/runs/run-idempotency';
import { RunRecorder } from './module/runs/run-recorder';
import { DefinableCluster } from './module/cluster/definable-cluster';
import { SharedStores } from './module/shared-stores';
import { createDeclaredWebhooksController } from './triggers/declared-webhooks';
import { TriggerExecutor } from './triggers/trigger.executor';
import { TriggerExplorer } from './triggers/trigger.explorer';
import { TriggerOrchestrator } from './triggers/trigger.orchestrator';
import { TriggerRegistry } from './triggers/trigger.registry';
import { WebhookInterceptor } from './triggers/webhook.interceptor';
import { WebhookRawBody } from './triggers/webhook-raw-body';
import { WebhookQueue } from './triggers/webhook-queue';

/** DI token of the provider that checks how the module was imported. */
const DEFINABLE_WIRING_CHECK = 'DefinableModule:wiring';

const EXPORTED = [AgentRunner, RunApprovals, RunTracing, DefinableMetrics, RunQuotas, HealthRegistry, InterfaceSupervisor, TriggerExecutor, TriggerRegistry, RunTracker, RunRecorder, RunIdempotency, WebhookQueue, DEFINABLE_AUTH, DefinableAuthGuard, WebhookInterceptor];

/** The module's own providers (besides the agents and the registry, which depend on the options). */
const PROVIDERS: Provider[] = [
  DefinableCluster,
  SharedStores,
  RunTracker,
  RunRecorder,
  RunIdempotency,
  RunTracing,
  DefinableMetrics,
  {
    provide: RunQuotas,
    useFactory: (options: DefinableModuleOptions) => (options?.quotas ? new RunQuotas(options.quotas, new Logger('Definable:Quotas')) : null),
    inject: [DEFINABLE_OPTIONS],
  },
  AgentRunner,
  RunApprovals,
  HealthRegistry,
  TriggerExecutor,
  TriggerRegistry,
  TriggerExplorer,
  TriggerOrchestrator,
  InterfaceSupervisor,
  DefinableAuthGuard,
  WebhookInterceptor,
  WebhookRawBody,
  WebhookQueue,
  DefinableOpenApi,
  { provide: DEFINABLE_AUTH, useFactory: (options: DefinableModuleOptions) => options?.auth ?? null, inject: [DEFINABLE_OPTIONS] },
];

/**
 * Mounts agents in a Nest app: the agent as an injectable provider (`Agent`,
 * or `@InjectAgent(name)`), the built-in routes (`POST /run`, `GET /health`,
 * `GET /health/ready`), and the triggers declared with `@Webhook`, `@Cron`,
 * `@OnEvent`, `@BeforeRequest` and `@AfterResponse` anywhere in the app.
 * Global by default (like `ConfigModule` with `isGlobal`), so every module's
 * webhooks and injections see it; `isGlobal: false` keeps it to the modules
 * that import it. It uses the app's own `ScheduleModule` and
 * `EventEmitterModule` when the app imports them, and imports neither itself.
 *
 * @example
 * DefinableModule.forRoot({ agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }) }), auth: new ApiKeyAuth({ keys }) })
 */
@Module({
  imports: [DiscoveryModule],
  // Everything else comes with forRoot()/forRootAsync(): imported bare, the module holds only this check.
  providers: [{ provide: DEFINABLE_WIRING_CHECK, useFactory: checkWiring, inject: [{ token: DEFINABLE_OPTIONS, optional: true }] }],
})
export class DefinableModule extends ConfigurableModuleClass {
  /** Configures the module with static options. */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    const agents: Record<string, Agent> = {};
    if (options.agent instanceof Agent) agents[options.agent.name] = options.agent;
    for (const [name, agent] of Object.entries(options.agents ?? {})) if (agent instanceof Agent) agents[name] = agent;
    const declared = createDeclaredWebhooksController(agents);
    const interfaceRoutes = createInterfaceRoutesController(options.interfaces ?? []);
    const metricsPath = metricsRoute(typeof options.metrics === 'object' ? options.metrics : undefined) ?? serverMetricsPath(options.server);
    const metrics = metricsPath ? createMetricsController(metricsPath) : undefined;
    // The playground is on in dev mode, and off otherwise unless asked for.
    const playground = playgroundController(options.playground ?? options.server?.playground ?? (options.dev === true || undefined), options.server);
    const controllers = [declared, interfaceRoutes, metrics, playground, ...protocolControllers(options.server)].filter((controller): controller is Type => controller !== undefined);
    const defaultName = options.agent instanceof Agent ? options.agent.name : options.agent?.name;
    const names = [...(defaultName ? [defaultName] : []), ...Object.keys(options.agents ?? {})];
    return DefinableModule.complete(super.forRoot(options), options, names, controllers, defaultName, options.interfaces ?? []);
  }

  /** Configures the module from a factory, a class or an existing provider (`useFactory` / `useClass` / `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    const metricsPath = serverMetricsPath(options.server);
    const playground = playgroundController(options.server?.playground, options.server);
    const controllers = [metricsPath ? createMetricsController(metricsPath) : undefined, playground, ...protocolControllers(options.server)].filter(
      (controller): controller is Type => controller !== undefined,
    );
    return DefinableModule.complete(super.forRootAsync(options), options, [], controllers, undefined, []);
  }

  /** Adds the built-in controller, the `agent.on()` webhooks, one provider per named agent and one per interface client. */
  private static complete(
    definition: DynamicModule,
    extras: { server?: { enabled?: boolean; prefix?: string } },
    names: string[],
    controllers: Type[],
    defaultName: string | undefined,
    interfaces: MessagingInterface[],
  ): DynamicModule {
    const agentProviders: Provider[] = [...new Set([...names, ...requestedAgentNames])].map((name) =>
      // The default agent's own name follows `Agent`, so overriding `Agent` covers @InjectAgent of it too.
      name === defaultName ? { provide: getAgentToken(name), useExisting: Agent } : {
      provide: getAgentToken(name),
      // Names come from every @InjectAgent in the process; an app may not use them all, so a
      // missing one fails on use (and the explorer fails bootstrap where one is injected).
      useFactory: (configured: ConfiguredAgents) => configured.find(name) ?? missingAgent(name, configured.entries().map(([known]) => known)),
      inject: [ConfiguredAgents],
    });
    const tokens = agentProviders.map((provider) => (provider as { provide: string }).provide);
    // The registry is built from what DI resolves for `Agent` and each named token, so a
    // test's overrideProvider() of either reaches /run, webhooks, cron, events and chat.
    const registry: Provider = {
      provide: AgentRegistry,
      useFactory: (configured: ConfiguredAgents, defaultAgent: Agent, ...resolved: Agent[]) =>
        new AgentRegistry(configured, defaultAgent, Object.fromEntries(tokens.map((token, index) => [token.slice(AGENT_TOKEN_PREFIX.length), resolved[index]]))),
      inject: [ConfiguredAgents, Agent, ...tokens],
    };
    const clients = interfaceClientProviders(interfaces);
    const server = extras.server ?? {};
    return {
      ...definition,
      controllers: [...(server.enabled === false ? [] : [createDefinableController(server.prefix ?? '')]), ...controllers],
      providers: [
        ...(definition.providers ?? []),
        ...PROVIDERS,
        ConfiguredAgents,
        { provide: Agent, useFactory: (configured: ConfiguredAgents) => configured.default, inject: [ConfiguredAgents] },
        ...agentProviders,
        registry,
        ...clients.providers,
      ],
      exports: [...(definition.exports ?? []), ...EXPORTED, Agent, AgentRegistry, ...tokens, ...clients.tokens],
    };
  }
}

/**
 * One provider per interface given to forRoot(), under `getInterfaceClientToken(name)`: the
 * interface's SDK client, resolved against the app's own (`nestjs-telegraf`'s bot, `necord`'s
 * client) through optional injection; and the map of them the supervisor hands out at bootstrap.
 */
function interfaceClientProviders(interfaces: MessagingInterface[]): { providers: Provider[]; tokens: string[] } {
  const withClients = interfaces.filter((platform) => typeof platform?.resolveClient === 'function');
  const tokens = withClients.map((platform) => getInterfaceClientToken(platform.name));
  const providers: Provider[] = withClients.map((platform, index) => {
    const appToken = platform.appClientToken?.();
    return {
      provide: tokens[index],
      useFactory: (appClient?: unknown) => platform.resolveClient!(appClient ?? undefined),
      inject: appToken === undefined ? [] : [{ token: appToken as string, optional: true }],
    };
  });
  providers.push({
    provide: INTERFACE_CLIENTS,
    useFactory: (...clients: unknown[]) => new Map(withClients.map((platform, index) => [platform.name, clients[index]])),
    inject: tokens,
  });
  return { providers, tokens };
}

/** The protocol surfaces asked for in `server` (the AI SDK UI stream, the OpenAI-compatible API, MCP…), each at its own path. */
function protocolControllers(server: DefinableModuleExtras['server']): Type[] {
  const controllers: Type[] = [];
  const path = <T extends { path?: string }>(setting: boolean | T | undefined, fallback: string) => (typeof setting === 'object' && setting.path) || fallback;
  if (server?.uiChat) controllers.push(createUiChatController(path(server.uiChat, '/chat')) as Type);
  if (server?.openai) controllers.push(createOpenAICompatController(path(server.openai, '/v1')) as Type);
  if (server?.mcp) controllers.push(createMcpController(path(server.mcp, '/mcp'), typeof server.mcp === 'object' ? server.mcp : {}) as Type);
  return controllers;
}

/** The playground page's controller when it is asked for (and the built-in routes it calls are mounted). */
function playgroundController(setting: boolean | PlaygroundOptions | undefined, server: DefinableModuleExtras['server']): Type | undefined {
  if (!setting || server?.enabled === false) return undefined;
  return createPlaygroundController((typeof setting === 'object' && setting.path) || DEFAULT_PLAYGROUND_PATH, server?.prefix ?? '');
}

/** The `GET /metrics` path from `server.metrics` (`true` → `/metrics`), or none. */
function serverMetricsPath(server: DefinableModuleExtras['server']): string | null {
  return metricsRoute({ route: server?.metrics });
}

/**
 * Fails bootstrap, saying what to do, when the module is imported bare or when
 * a `forRootAsync` factory returns options that only work beside it.
 */
function checkWiring(options: (DefinableModuleOptions & Partial<DefinableModuleExtras>) | undefined): true {
  if (!options) {
    throw new Error(
      'DefinableModule was imported without options: use DefinableModule.forRoot({ agent }) or DefinableModule.forRootAsync({ useFactory }) in imports, not DefinableModule itself.',
    );
  }
  const misplaced = (['isGlobal', 'server'] as const).filter((key) => options[key] !== undefined);
  if (misplaced.length > 0) {
    throw new Error(
      `DefinableModule.forRootAsync(): the factory returned ${misplaced.map((key) => `"${key}"`).join(' and ')}, which the module needs before any factory runs. ` +
        `Pass ${misplaced.length > 1 ? 'them' : 'it'} beside the factory: DefinableModule.forRootAsync({ ${misplaced.map((key) => `${key}: ...`).join(', ')}, useFactory, inject }).`,
    );
  }
  return true;
}

/** Stands in for an agent the module does not have: any use throws a message saying how to add it. */
function missingAgent(name: string, known: string[]): Agent {
  const fail = (): never => {
    throw new Error(
      `@InjectAgent('${name}'): DefinableModule has no agent named "${name}" (it has: ${known.join(', ')}). Add it: DefinableModule.forRoot({ agents: { ${name}: ... } }).`,
    );
  };
  // Only the agent's own members throw: Nest probes providers for lifecycle hooks and `then`.
  const members = new Set(Object.getOwnPropertyNames(Agent.prototype).filter((key) => key !== 'constructor').concat(['id', 'name', 'model', 'sessionStore']));
  return new Proxy({} as Agent, { get: (_target, key) => (typeof key === 'string' && members.has(key) ? fail() : undefined) });
}
