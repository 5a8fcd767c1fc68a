import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Agent, AgentOptions } from '../agent';
import type { DefinableModuleOptions } from './definable-module.options';
import { DEFINABLE_OPTIONS } from './definable.module-definition';

/**
 * The module's agents by name: the one of `agent` (named after the agent) and
 * those of `agents`. Inject it to pick an agent at run time.
 */
@Injectable()
export class AgentRegistry implements OnApplicationShutdown {
  private readonly agents = new Map<string, Agent>();
  /** Agents built here from options: their session stores are closed on shutdown. */
  private readonly built: Agent[] = [];
  /** The name of the default agent (the one injected as `Agent`). */
  readonly defaultName: string;

  constructor(@Inject(DEFINABLE_OPTIONS) options: DefinableModuleOptions) {
    const entries = Object.entries(options?.agents ?? {});
    if (options?.agent) {
      const agent = this.materialise(options.agent, undefined);
      this.defaultName = agent.name;
      this.agents.set(agent.name, agent);
    }
    for (const [name, value] of entries) {
      if (this.agents.has(name)) {
        throw new Error(`DefinableModule: two agents are named "${name}"; give each agent a distinct name.`);
      }
      this.agents.set(name, this.materialise(value, name));
    }
    const first = this.agents.keys().next();
    if (first.done) {
      throw new Error(
        "DefinableModule needs an agent: DefinableModule.forRoot({ agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o' }) }) }).",
      );
    }
    this.defaultName ??= first.value;
    // Agents built without a logger of their own log through Nest like the rest of the app.
    for (const [name, agent] of this.agents) if (agent.usesDefaultLogger) agent.useLogger(new Logger(`Agent:${name}`));
  }

  /** The default agent. */
  get default(): Agent {
    return this.agents.get(this.defaultName)!;
  }

  /** The agent of that name (the default one without a name); `undefined` when there is none. */
  find(name?: string): Agent | undefined {
    return name === undefined ? this.default : this.agents.get(name);
  }

  /** The agent of that name; throws a message listing the known names when there is none. */
  get(name?: string): Agent {
    const agent = this.find(name);
    if (!agent) throw new Error(`No agent named "${name}". Known agents: ${this.names().join(', ')}.`);
    return agent;
  }

  /** Every agent's name, the default first. */
  names(): string[] {
    return [this.defaultName, ...[...this.agents.keys()].filter((name) => name !== this.defaultName)];
  }

  /** Every agent. */
  all(): Agent[] {
    return [...this.agents.values()];
  }

  async onApplicationShutdown(): Promise<void> {
    // Background memory updates finish before stores close.
    await Promise.all(this.all().map((agent) => agent.idle()));
    await Promise.all(this.built.map((agent) => agent.sessionStore.close()));
  }

  private materialise(value: Agent | AgentOptions, name: string | undefined): Agent {
    if (value instanceof Agent) return value;
    if (!value || typeof value !== 'object' || !('model' in value)) {
      throw new Error(
        `DefinableModule: agent${name ? ` "${name}"` : ''} must be an Agent or AgentOptions with a model, e.g. { model: new OpenAIChat({ id: 'gpt-4o' }) }.`,
      );
    }
    const agentName = value.name ?? name;
    const agent = new Agent({ ...value, name: agentName, logger: value.logger ?? new Logger(`Agent:${agentName ?? 'agent'}`) });
    this.built.push(agent);
    return agent;
  }
}
