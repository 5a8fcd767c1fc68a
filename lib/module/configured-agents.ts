import { Inject, Injectable, Logger } from '@nestjs/common';
import { Agent, AgentOptions } from '../agent';
import type { DefinableModuleOptions } from './definable-module.options';
import { DEFINABLE_OPTIONS } from './definable.module-definition';

/**
 * The agents of the module options, built once: the one of `agent` (named
 * after the agent) and those of `agents`. They back the `Agent` and
 * `getAgentToken(name)` providers; the {@link AgentRegistry} reads those
 * providers instead, so `overrideProvider()` reaches every entry point.
 * Internal to the module.
 */
@Injectable()
export class ConfiguredAgents {
  private readonly agents = new Map<string, Agent>();
  /** Agents built here from options: their session stores are closed on shutdown. */
  private readonly built: Agent[] = [];
  /** The name of the default agent. */
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

  /** The configured agent of that name, if any. */
  find(name: string): Agent | undefined {
    return this.agents.get(name);
  }

  /** Every configured agent by name, the default first. */
  entries(): [string, Agent][] {
    return [[this.defaultName, this.default], ...[...this.agents].filter(([name]) => name !== this.defaultName)];
  }

  /** Closes the session stores of the agents built from options (the app's own agents keep theirs). */
  async close(): Promise<void> {
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
