import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { Agent } from '../agent';
import type { ConfiguredAgents } from './configured-agents';

/**
 * The module's agents by name, as the app's DI container provides them: the
 * default one is whatever `Agent` resolves to and a named one whatever
 * `getAgentToken(name)` resolves to — so `overrideProvider(Agent)` in a test
 * replaces the agent for `/run`, webhooks, cron, events and chat alike.
 * Inject it to pick an agent at run time.
 */
export class AgentRegistry implements OnApplicationShutdown {
  private readonly agents = new Map<string, Agent>();
  /** The name of the default agent (the one injected as `Agent`). */
  readonly defaultName: string;

  /**
   * Built by the module from the configured agents and what DI resolved for
   * `Agent` and each named token (an override where a test gave one).
   */
  constructor(
    private readonly configured: ConfiguredAgents,
    defaultAgent: Agent,
    named: Record<string, Agent>,
  ) {
    this.defaultName = configured.defaultName;
    for (const [name, agent] of configured.entries()) {
      const overriddenDefault = name === this.defaultName && defaultAgent !== agent ? defaultAgent : undefined;
      this.agents.set(name, checked(overriddenDefault ?? named[name] ?? agent, name));
    }
    for (const [name, agent] of this.agents) {
      if (agent !== configured.find(name) && agent instanceof Agent && agent.usesDefaultLogger) agent.useLogger(new Logger(`Agent:${name}`));
    }
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

  /**
   * The registry's agent standing for `agent` when that is one of the module's
   * configured agents (an override in tests), else `agent` itself.
   */
  resolve(agent: Agent): Agent {
    const name = this.configured.entries().find(([, configured]) => configured === agent)?.[0];
    return name === undefined ? agent : this.agents.get(name)!;
  }

  /** Every agent's name, the default first. */
  names(): string[] {
    return [...this.agents.keys()];
  }

  /** Every agent. */
  all(): Agent[] {
    return [...this.agents.values()];
  }

  async onApplicationShutdown(): Promise<void> {
    // Background memory updates finish before the stores close.
    await Promise.all(this.all().map((agent) => agent.idle()));
    // Toolsets (MCP clients, their child processes) close with the app, overridden agents' too.
    const agents = new Set([...this.all(), ...this.configured.entries().map(([, agent]) => agent)]);
    await Promise.all([...agents].map((agent) => (typeof agent.close === 'function' ? agent.close() : undefined)));
    await this.configured.close();
  }
}

/** An override must still be an agent: the module calls its run loop, hooks and triggers. */
function checked(agent: Agent, name: string): Agent {
  const candidate = agent as Partial<Agent> | undefined;
  if (!candidate || typeof candidate.stream !== 'function' || typeof candidate.run !== 'function') {
    throw new TypeError(
      `DefinableModule: the provider of agent "${name}" resolved to ${candidate === null ? 'null' : typeof candidate} without run()/stream(). ` +
        "Override it with an Agent, e.g. overrideProvider(Agent).useValue(new Agent({ model: new TestModel({ responses: ['hi'] }) })).",
    );
  }
  return agent;
}
