import { DynamicModule, Module, Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Agent } from '../agent';
import { DEFINABLE_AUTH } from '../auth/auth.constants';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { createDefinableController } from '../http/definable.controller';
import { TriggerExecutor } from '../triggers/trigger.executor';
import { TriggerExplorer } from '../triggers/trigger.explorer';
import { TriggerRegistry } from '../triggers/trigger.registry';
import { WebhookInterceptor } from '../triggers/webhook.interceptor';
import { AgentRegistry } from './agent.registry';
import type { DefinableModuleOptions } from './definable-module.options';
import { getAgentToken, requestedAgentNames } from './definable.constants';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, DEFINABLE_OPTIONS, OPTIONS_TYPE } from './definable.module-definition';
import { RunTracker } from './run.tracker';

const EXPORTED = [Agent, AgentRegistry, TriggerExecutor, TriggerRegistry, RunTracker, DEFINABLE_AUTH, DefinableAuthGuard, WebhookInterceptor];

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
    return DefinableModule.complete(super.forRoot(options), options, Object.keys(options.agents ?? {}));
  }

  /** Configures the module from a factory, a class or an existing provider (`useFactory` / `useClass` / `useExisting`). */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return DefinableModule.complete(super.forRootAsync(options), options, []);
  }

  /** Adds the built-in controller and one provider per named agent. */
  private static complete(
    definition: DynamicModule,
    extras: { server?: { enabled?: boolean; prefix?: string } },
    names: string[],
  ): DynamicModule {
    const agentProviders: Provider[] = [...new Set([...names, ...requestedAgentNames])].map((name) => ({
      provide: getAgentToken(name),
      useFactory: (registry: AgentRegistry) => registry.get(name),
      inject: [AgentRegistry],
    }));
    const server = extras.server ?? {};
    return {
      ...definition,
      controllers: server.enabled === false ? [] : [createDefinableController(server.prefix ?? '')],
      providers: [...(definition.providers ?? []), ...agentProviders],
      exports: [...(definition.exports ?? []), ...agentProviders.map((provider) => (provider as { provide: string }).provide)],
    };
  }
}
