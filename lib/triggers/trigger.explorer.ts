import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModuleRef, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob, validateCronExpression } from 'cron';
import type { RunContext, RunOutput } from '../agent';
import { PATH_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants';
import { AgentRegistry } from '../module/agent.registry';
import { AGENT_TOKEN_PREFIX } from '../module/definable.constants';
import type { TriggerEvent } from './trigger-event';
import {
  AFTER_RESPONSE_METADATA,
  BEFORE_REQUEST_METADATA,
  CRON_METADATA,
  ON_EVENT_METADATA,
  WEBHOOK_METADATA,
} from './trigger.constants';
import type { CronOptions, HookOptions, OnEventOptions, WebhookMetadata } from './trigger.decorators';
import { TriggerExecutor } from './trigger.executor';
import { TriggerRegistry } from './trigger.registry';
import { isMountedWebhook } from './declared-webhooks';

type CronMetadata = CronOptions & { expression: string };

/** Metadata keys of @nestjs/schedule's @Cron and @nestjs/event-emitter's @OnEvent (stable across their 6/3 and 12 lines). */
const NEST_SCHEDULE_CRON = 'SCHEDULE_CRON_OPTIONS';
const NEST_EVENT_LISTENER = 'EVENT_LISTENER_METADATA';
/** `return 'text'`, `return \`text\``, or `return { input` in a method's source. */
const RETURNS_RUN_INPUT = /return\s*(['"`]|\{\s*input\b)/;
/** Where a trigger is declared, for messages and the registry. */
interface Where {
  className: string;
  methodName: string;
  label: string;
}
type Method = (...args: unknown[]) => unknown;

/**
 * Finds `@Webhook`, `@Cron`, `@OnEvent`, `@BeforeRequest` and `@AfterResponse`
 * methods on every provider and controller at module init, validates them
 * (a mistake fails bootstrap, naming the class and method), and wires them:
 * cron jobs into `SchedulerRegistry` (started at bootstrap, stopped at
 * shutdown), event handlers onto `EventEmitter2` (which `agent.emit` feeds),
 * hooks onto the agents.
 */
@Injectable()
export class TriggerExplorer implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Definable:Triggers');
  private readonly teardown: (() => void)[] = [];
  /** Undoes what lets new runs in (event listeners): first thing at shutdown, before the drain. */
  private readonly intake: (() => void)[] = [];
  private emitter?: EventEmitter2;
  private scheduler?: SchedulerRegistry;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
    private readonly agents: AgentRegistry,
    private readonly executor: TriggerExecutor,
    private readonly registry: TriggerRegistry,
  ) {}

  onModuleInit(): void {
    // The app's own EventEmitterModule / ScheduleModule when it has them (the module imports them otherwise).
    this.emitter = this.moduleRef.get(EventEmitter2, { strict: false });
    this.scheduler = this.moduleRef.get(SchedulerRegistry, { strict: false });
    for (const agent of this.agents.all()) {
      this.teardown.push(agent.attachEmitter((name, data) => this.emitter!.emit(name, data)));
    }
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
    this.mountDeclaredTriggers();
  }

  /** Cron and event triggers declared with `agent.on()` (webhooks are mounted as a controller by the module). */
  private mountDeclaredTriggers(): void {
    for (const name of this.agents.names()) {
      for (const [index, { trigger, handler }] of this.agents.get(name).triggers.entries()) {
        const where = { className: `agent:${name}`, methodName: `on#${index}`, label: `${name}.on(#${index})` };
        if ('cron' in trigger) {
          this.addCron(where, handler, { expression: trigger.cron, timezone: trigger.timezone, overlap: trigger.overlap, agent: name, name: `definable:${name}.on#${index}` });
        } else if ('event' in trigger) {
          this.addEvent(where, handler, { event: trigger.event, agent: name });
        } else if (!isMountedWebhook(handler)) {
          throw new Error(
            `agent.on({ webhook: '${trigger.webhook}' }) on agent "${name}" was not mounted: declare it before DefinableModule.forRoot() or serve() is called (forRootAsync builds agents too late for routes; use @Webhook there).`,
          );
        }
      }
    }
  }

  onApplicationBootstrap(): void {
    this.registry.startCronJobs();
  }

  /** Stops intake before runs in flight drain: no cron tick and no event starts a run from here on. */
  beforeApplicationShutdown(): void {
    this.registry.stopCronJobs();
    for (const undo of this.intake.splice(0)) undo();
  }

  onApplicationShutdown(): void {
    this.beforeApplicationShutdown();
    for (const undo of this.teardown.splice(0)) undo();
  }

  private explore(instance: Record<string, Method>, methodName: string, isController: boolean): void {
    const method = instance[methodName];
    if (typeof method !== 'function') return;
    const className = instance.constructor?.name ?? 'Object';
    const label = `${className}.${methodName}`;
    this.warnOnLookalikes(method, label);
    const webhook = this.reflector.get<WebhookMetadata | undefined>(WEBHOOK_METADATA, method);
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
    }
    const where = { className, methodName, label };
    const call = (event: TriggerEvent) => instance[methodName](event);
    const cron = this.reflector.get<CronMetadata | undefined>(CRON_METADATA, method);
    if (cron) this.addCron(where, call, cron);
    const onEvent = this.reflector.get<(OnEventOptions & { event: string }) | undefined>(ON_EVENT_METADATA, method);
    if (onEvent) this.addEvent(where, call, onEvent);
    const before = this.reflector.get<HookOptions | undefined>(BEFORE_REQUEST_METADATA, method);
    if (before) this.addHook('beforeRequest', instance, methodName, label, before);
    const after = this.reflector.get<HookOptions | undefined>(AFTER_RESPONSE_METADATA, method);
    if (after) this.addHook('afterResponse', instance, methodName, label, after);
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
    if (Reflect.getMetadata(CRON_METADATA, method) || Reflect.getMetadata(ON_EVENT_METADATA, method)) return;
    const returnType = Reflect.getMetadata('design:returntype', method);
    if (returnType !== String && !RETURNS_RUN_INPUT.test(Function.prototype.toString.call(method))) return;
    const [theirs, ours, alias] = schedule ? ['@nestjs/schedule', '@Cron', '@AgentCron'] : ['@nestjs/event-emitter', '@OnEvent', '@AgentEvent'];
    this.logger.warn(
      `${label} has ${theirs}'s ${ours} and returns what looks like agent input, but ${theirs} drops return values, so no agent runs. ` +
        `Did you mean nestjs-definable's ${ours}? Import ${ours.slice(1)} (or ${alias.slice(1)}) from 'nestjs-definable' instead.`,
    );
  }

  private addCron({ className, methodName, label }: Where, call: (event: TriggerEvent) => unknown, cron: CronMetadata): void {
    const where = `@Cron('${cron.expression}') on ${label}`;
    const fields = typeof cron.expression === 'string' ? cron.expression.trim().split(/\s+/).length : 0;
    const validation = typeof cron.expression === 'string' ? validateCronExpression(cron.expression) : { valid: false };
    if ((fields !== 5 && fields !== 6) || !validation.valid) {
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
    const source = `cron(${cron.expression})`;
    let running = 0;
    const job = CronJob.from({
      cronTime: cron.expression,
      timeZone: cron.timezone,
      start: false,
      onTick: async () => {
        if (running > 0 && (cron.overlap ?? 'skip') === 'skip') {
          this.logger.warn(`${label} (${source}): skipped a tick, the previous run is still going (overlap: 'skip').`);
          return;
        }
        running++;
        try {
          const event: TriggerEvent = { body: undefined, headers: {}, source, timestamp: new Date(), raw: undefined };
          await this.executor.invoke(label, () => call(event), event, cron.agent);
        } finally {
          running--;
        }
      },
    });
    if (this.scheduler!.doesExist('cron', jobName)) {
      throw new Error(`${where}: a cron job named "${jobName}" already exists in SchedulerRegistry; give this one another name.`);
    }
    this.scheduler!.addCronJob(jobName, job as never);
    this.teardown.push(() => {
      if (this.scheduler!.doesExist('cron', jobName)) this.scheduler!.deleteCronJob(jobName);
    });
    this.registry.add(
      { kind: 'cron', source, className, methodName, agent: cron.agent, jobName, timezone: cron.timezone },
      job,
    );
  }

  private addEvent({ className, methodName, label }: Where, call: (event: TriggerEvent) => unknown, meta: OnEventOptions & { event: string }): void {
    this.requireAgent(meta.agent, label);
    const source = `event(${meta.event})`;
    const listener = (data: unknown) => {
      const event: TriggerEvent = { body: data, headers: {}, source, timestamp: new Date(), raw: data };
      // emit() returns at once: the handler and its run happen after it.
      void this.executor.defer(label, () => call(event), event, meta.agent);
    };
    this.emitter!.on(meta.event, listener);
    this.intake.push(() => this.emitter!.off(meta.event, listener));
    this.registry.add({ kind: 'event', source, className, methodName, agent: meta.agent });
  }

  private addHook(
    kind: 'beforeRequest' | 'afterResponse',
    instance: Record<string, Method>,
    methodName: string,
    label: string,
    options: HookOptions,
  ): void {
    this.requireAgent(options.agent, label);
    const hook = async (arg: RunContext | RunOutput) => {
      try {
        await instance[methodName](arg);
      } catch (error) {
        this.logger.error(`@${kind === 'beforeRequest' ? 'BeforeRequest' : 'AfterResponse'} ${label} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    const targets = options.agent ? [this.agents.get(options.agent)] : this.agents.all();
    for (const agent of targets) {
      this.teardown.push(kind === 'beforeRequest' ? agent.beforeRequest(hook) : agent.afterResponse(hook));
    }
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

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
