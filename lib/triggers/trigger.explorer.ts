import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import type { RunContext, RunOutput } from '../agent';
import { PATH_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants';
import { AgentRegistry } from '../module/agent.registry';
import { AGENT_TOKEN_PREFIX } from '../module/definable.constants';
import type { TriggerEvent } from './trigger-event';
import { AfterResponseMeta, BeforeRequestMeta, CronMeta, OnEventMeta, WebhookMeta, type CronMetadata, type HookMetadata, type OnEventMetadata } from './trigger.metadata';
import { TriggerCall, TriggerOrchestrator, TriggerSite } from './trigger.orchestrator';
import { TriggerRegistry } from './trigger.registry';
import { cronSchedule } from './trigger-cron-job';
import { isMountedWebhook } from './declared-webhooks';
import { WebhookQueue } from './webhook-queue';

/** Metadata keys of @nestjs/schedule's @Cron/@Interval/@Timeout and @nestjs/event-emitter's @OnEvent (stable across their 6/3 and 12 lines). */
const NEST_SCHEDULE_CRON = 'SCHEDULE_CRON_OPTIONS';
const NEST_SCHEDULE_KINDS = ['SCHEDULE_CRON_OPTIONS', 'SCHEDULE_INTERVAL_OPTIONS', 'SCHEDULE_TIMEOUT_OPTIONS'];
const NEST_EVENT_LISTENER = 'EVENT_LISTENER_METADATA';
/** `return 'text'`, `return \`text\``, or `return { input` in a method's source. */
const RETURNS_RUN_INPUT = /return\s*(['"`]|\{\s*input\b)/;
type Method = (...args: unknown[]) => unknown;

/**
 * Finds `@Webhook`, `@Cron`, `@OnEvent`, `@BeforeRequest` and `@AfterResponse`
 * methods on every provider and controller, and the triggers declared with
 * `agent.on()`, at module init; validates them (a mistake fails bootstrap,
 * naming the class, the method and the fix); records them in the
 * {@link TriggerRegistry} and hands cron, event and hook triggers to the
 * {@link TriggerOrchestrator}, which starts and stops them. Webhooks are Nest
 * routes already: they are only checked and recorded.
 */
@Injectable()
export class TriggerExplorer implements OnModuleInit {
  private readonly logger = new Logger('Definable:Triggers');
  /** Methods carrying @nestjs/schedule / @nestjs/event-emitter decorators, for the missing-module warning. */
  private readonly foreign = { schedule: [] as string[], events: [] as string[] };

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly agents: AgentRegistry,
    private readonly orchestrator: TriggerOrchestrator,
    private readonly registry: TriggerRegistry,
    private readonly queue: WebhookQueue,
  ) {}

  onModuleInit(): void {
    const seen = new Set<object>();
    const controllers = this.discovery.getControllers();
    const controllerInstances = new Set(controllers.map((wrapper) => wrapper.instance));
    const wrappers: InstanceWrapper[] = [...controllers, ...this.discovery.getProviders()];
    for (const wrapper of wrappers) {
      const instance = wrapper.instance as Record<string, Method> | undefined;
      if (!instance || typeof instance !== 'object' || seen.has(instance) || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      if (!prototype) continue;
      seen.add(instance);
      this.checkInjectedAgents(wrapper);
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        this.explore(instance, methodName, controllerInstances.has(instance));
      }
    }
    this.exploreDeclaredTriggers();
    this.warnOnMissingModules();
  }

  /** Cron and event triggers declared with `agent.on()` (webhooks are mounted as a controller by the module). */
  private exploreDeclaredTriggers(): void {
    for (const name of this.agents.names()) {
      for (const [index, { trigger, handler }] of this.agents.get(name).triggers.entries()) {
        const site = { className: `agent:${name}`, methodName: `on#${index}`, label: `${name}.on(#${index})` };
        if ('cron' in trigger) {
          this.addCron(site, handler, { expression: trigger.cron, timezone: trigger.timezone, overlap: trigger.overlap, agent: name, name: `definable:${name}.on#${index}` });
        } else if ('event' in trigger) {
          this.addEvent(site, handler, { event: trigger.event, agent: name });
        } else if (!isMountedWebhook(handler)) {
          throw new Error(
            `agent.on({ webhook: '${trigger.webhook}' }) on agent "${name}" was not mounted: declare it before DefinableModule.forRoot() or serve() is called (forRootAsync builds agents too late for routes; use @Webhook there).`,
          );
        }
      }
    }
  }

  /**
   * DefinableModule does not import ScheduleModule / EventEmitterModule (an app has one of each):
   * the app's own @nestjs/schedule or @nestjs/event-emitter decorators need the app to import them.
   */
  private warnOnMissingModules(): void {
    const present = this.orchestrator.appModules;
    const missing = [
      { methods: this.foreign.schedule, has: present.schedule, module: 'ScheduleModule.forRoot()', from: '@nestjs/schedule' },
      { methods: this.foreign.events, has: present.events, module: 'EventEmitterModule.forRoot()', from: '@nestjs/event-emitter' },
    ];
    for (const { methods, has, module, from } of missing) {
      if (has || methods.length === 0) continue;
      this.logger.warn(
        `${methods.join(', ')} use${methods.length > 1 ? '' : 's'} ${from}'s decorators, but the app does not import ${module}, so they never fire. ` +
          `Add ${module} to your AppModule's imports (DefinableModule uses the app's own when it has one).`,
      );
    }
  }

  private explore(instance: Record<string, Method>, methodName: string, isController: boolean): void {
    const method = instance[methodName];
    if (typeof method !== 'function') return;
    const className = instance.constructor?.name ?? 'Object';
    const label = `${className}.${methodName}`;
    this.noteForeignDecorators(method, label);
    this.warnOnLookalikes(method, label);
    const webhook = this.reflector.get(WebhookMeta, method);
    if (webhook) {
      if (!isController) {
        throw new Error(
          `@Webhook('${webhook.path}') on ${label}: ${className} is a provider, not a controller, so Nest mounts no route for it. ` +
            `Make it a controller: add @Controller() to ${className} and list it in a module's controllers (not providers).`,
        );
      }
      this.requireAgent(webhook.agent, label);
      const base = Reflect.getMetadata(PATH_METADATA, instance.constructor) as string | string[] | undefined;
      const path = `/${[Array.isArray(base) ? base[0] : base, webhook.path].filter(Boolean).join('/')}`.replace(/\/{2,}/g, '/');
      this.registry.add({ kind: 'webhook', source: `${webhook.method} ${path}`, className, methodName, agent: webhook.agent });
      if (webhook.mode === 'async') this.queue.register(label, (event: TriggerEvent) => instance[methodName](event), webhook.agent);
    }
    const site = { className, methodName, label };
    const call = (event: TriggerEvent) => instance[methodName](event);
    const cron = this.reflector.get(CronMeta, method);
    if (cron) this.addCron(site, call, cron);
    for (const onEvent of this.reflector.get(OnEventMeta, method) ?? []) this.addEvent(site, call, onEvent);
    const before = this.reflector.get(BeforeRequestMeta, method);
    if (before) this.addHook('beforeRequest', instance, methodName, label, before);
    const after = this.reflector.get(AfterResponseMeta, method);
    if (after) this.addHook('afterResponse', instance, methodName, label, after);
  }

  private noteForeignDecorators(method: Method, label: string): void {
    if (NEST_SCHEDULE_KINDS.some((key) => Reflect.getMetadata(key, method) !== undefined)) this.foreign.schedule.push(label);
    if (Reflect.getMetadata(NEST_EVENT_LISTENER, method) !== undefined) this.foreign.events.push(label);
  }

  /**
   * A method with @nestjs/schedule's @Cron or @nestjs/event-emitter's @OnEvent
   * that returns text looks like one meant for ours (same names): those
   * libraries drop the return value, so the agent would silently never run.
   */
  private warnOnLookalikes(method: Method, label: string): void {
    const schedule = Reflect.getMetadata(NEST_SCHEDULE_CRON, method) !== undefined;
    const events = Reflect.getMetadata(NEST_EVENT_LISTENER, method) !== undefined;
    if (!schedule && !events) return;
    if (this.reflector.get(CronMeta, method) || this.reflector.get(OnEventMeta, method)) return;
    const returnType = Reflect.getMetadata('design:returntype', method);
    if (returnType !== String && !RETURNS_RUN_INPUT.test(Function.prototype.toString.call(method))) return;
    const [theirs, ours, alias] = schedule ? ['@nestjs/schedule', '@Cron', '@AgentCron'] : ['@nestjs/event-emitter', '@OnEvent', '@AgentEvent'];
    this.logger.warn(
      `${label} has ${theirs}'s ${ours} and returns what looks like agent input, but ${theirs} drops return values, so no agent runs. ` +
        `Did you mean nestjs-definable's ${ours}? Import ${ours.slice(1)} (or ${alias.slice(1)}) from 'nestjs-definable' instead.`,
    );
  }

  private addCron(site: TriggerSite, call: TriggerCall, cron: CronMetadata): void {
    const { className, methodName, label } = site;
    const where = `@Cron('${cron.expression}') on ${label}`;
    const fields = typeof cron.expression === 'string' ? cron.expression.trim().split(/\s+/).length : 0;
    if ((fields !== 5 && fields !== 6) || !isValidExpression(cron.expression)) {
      throw new Error(`${where}: invalid cron expression; use 5 fields (minute hour day month weekday) or 6 (seconds first), e.g. '0 9 * * *'.`);
    }
    if (cron.timezone !== undefined && !isTimeZone(cron.timezone)) {
      throw new Error(`${where}: unknown timezone "${cron.timezone}"; use an IANA name such as 'Europe/Paris' or 'UTC'.`);
    }
    if (cron.overlap !== undefined && cron.overlap !== 'skip' && cron.overlap !== 'allow') {
      throw new Error(`${where}: overlap must be 'skip' or 'allow'.`);
    }
    this.requireAgent(cron.agent, label);
    const jobName = cron.name ?? `definable:${label}`;
    if (this.registry.hasCron(jobName)) {
      throw new Error(`${where}: another @Cron is already named "${jobName}"; give this one another name ({ name }).`);
    }
    this.orchestrator.addCron(site, call, cron, jobName);
    this.registry.add({ kind: 'cron', source: `cron(${cron.expression})`, className, methodName, agent: cron.agent, jobName, timezone: cron.timezone });
  }

  private addEvent(site: TriggerSite, call: TriggerCall, meta: OnEventMetadata): void {
    this.requireAgent(meta.agent, site.label);
    this.orchestrator.addEvent(site, call, meta);
    this.registry.add({ kind: 'event', source: `event(${meta.event})`, className: site.className, methodName: site.methodName, agent: meta.agent });
  }

  private addHook(kind: 'beforeRequest' | 'afterResponse', instance: Record<string, Method>, methodName: string, label: string, options: HookMetadata): void {
    this.requireAgent(options.agent, label);
    this.orchestrator.addHook(kind, label, (arg: RunContext | RunOutput) => instance[methodName](arg), options.agent);
  }

  /** Fails bootstrap when a class injects a named agent the module does not have. */
  private checkInjectedAgents(wrapper: InstanceWrapper): void {
    const metatype = wrapper.metatype as (new (...args: unknown[]) => unknown) | undefined;
    if (typeof metatype !== 'function') return;
    const deps: { index: number; param: unknown }[] = Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, metatype) ?? [];
    for (const { param } of deps) {
      const name = typeof param === 'string' && param.startsWith(AGENT_TOKEN_PREFIX) ? param.slice(AGENT_TOKEN_PREFIX.length) : undefined;
      if (name !== undefined && !this.agents.find(name)) {
        throw new Error(
          `${metatype.name} injects @InjectAgent('${name}'), but DefinableModule has no agent named "${name}" (it has: ${this.agents.names().join(', ')}). Add it to forRoot({ agents: { ${name}: ... } }).`,
        );
      }
    }
  }

  private requireAgent(name: string | undefined, label: string): void {
    if (name !== undefined && !this.agents.find(name)) {
      throw new Error(`${label} names agent "${name}", which DefinableModule does not have. Known agents: ${this.agents.names().join(', ')}.`);
    }
  }
}

function isValidExpression(expression: string): boolean {
  try {
    cronSchedule(expression, undefined).stop();
    return true;
  } catch {
    return false;
  }
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
