import { DynamicModule, Module, Provider, Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Agent } from '../agent';
import { DEFINABLE_AUTH } from '../auth/auth.constants';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { createDefinableController } from '../http/definable.controller';
import { createDeclaredWebhooksController } from '../triggers/declared-webhooks';
import { createInterfaceRoutesController } from '../interfaces/interface-routes';
import { InterfaceSupervisor } from '../interfaces/interface.supervisor';
import { TriggerExecutor } from '../triggers/trigger.executor';
import { TriggerExplorer } from '../triggers/trigger.explorer';
import { TriggerRegistry } from '../triggers/trigger.registry';
import { WebhookInterceptor } from '../triggers/webhook.interceptor';
import { AgentRegistry } from './agent.registry';
import type { DefinableModuleOptions } from './definable-module.options';
import { getAgentToken, requestedAgentNames } from './definable.constants';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, DEFINABLE_OPTIONS, OPTIONS_TYPE } from './definable.module-definition';
import { RunTracker } from './run.tracker';

const EXPORTED = [Agent, AgentRegistry, InterfaceSupervisor, TriggerExecutor, TriggerRegistry, RunTracker, DEFINABLE_AUTH, DefinableAuthGuard, WebhookInterceptor];

/**
 * Mounts agents in a Nest app: the agent as an injectable provider (`Agent`,
 * or `@InjectAgent(name)`), the built-in routes (`POST /run`, `GET /health`),
 * and the triggers declared with `@Webhook`, `@Cron`, `@OnEvent`,
 * `@BeforeRequest` and `@AfterResponse` anywhere in the app.
 *
 * @example
 * DefinableModule.forRoot({ agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }) }), auth: new ApiKeyAuth({ keys }) })
 */
@Module({
  imports: [DiscoveryModule, ScheduleModule.forRoot(), EventEmitterModule.forRoot()],
  providers: [
    AgentRegistry,
    RunTracker,
    TriggerExecutor,
    TriggerRegistry,
    TriggerExplorer,
    InterfaceSupervisor,
    DefinableAuthGuard,
    WebhookInterceptor,
    { provide: Agent, useFactory: (registry: AgentRegistry) => registry.default, inject: [AgentRegistry] },
    { provide: DEFINABLE_AUTH, useFactory: (options: DefinableModuleOptions) => options?.auth ?? null, inject: [DEFINABLE_OPTIONS] },
  ],
  exports: EXPORTED,
})
export class DefinableModule extends ConfigurableModuleClass {
  /** Configures the module with static options. */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    const agents: Record<string, Agent> = {};
    if (options.agent instanceof Agent) agents[options.agent.name] = options.agent;
    for (const [name, agent] of Object.entries(options.agents ?? {})) if (agent instanceof Agent) agents[name] = agent;
    const declared = createDeclaredWebhooksController(agents);
    const interfaceRoutes = createInterfaceRoutesController(options.interfaces ?? []);
    const controllers = [declared, interfaceRoutes].filter((controller): controller is Type => controller !== undefined);
    return DefinableModule.complete(super.forRoot(options), options, Object.keys(options.agents ?? {}), controllers);
  }

  /** Configures the module from a factory, a class or an existing provider (`useFactory` / `useClass` / `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return DefinableModule.complete(super.forRootAsync(options), options, [], []);
  }

  /** Adds the built-in controller, the `agent.on()` webhooks and one provider per named agent. */
  private static complete(
    definition: DynamicModule,
    extras: { server?: { enabled?: boolean; prefix?: string } },
    names: string[],
    controllers: Type[],
  ): DynamicModule {
    const agentProviders: Provider[] = [...new Set([...names, ...requestedAgentNames])].map((name) => ({
      provide: getAgentToken(name),
      // Names come from every @InjectAgent in the process; an app may not use them all, so a
      // missing one fails on use (and the explorer fails bootstrap where one is injected).
      useFactory: (registry: AgentRegistry) => registry.find(name) ?? missingAgent(name, registry.names()),
      inject: [AgentRegistry],
    }));
    const server = extras.server ?? {};
    return {
      ...definition,
      controllers: [...(server.enabled === false ? [] : [createDefinableController(server.prefix ?? '')]), ...controllers],
      providers: [...(definition.providers ?? []), ...agentProviders],
      exports: [...(definition.exports ?? []), ...agentProviders.map((provider) => (provider as { provide: string }).provide)],
    };
  }
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
