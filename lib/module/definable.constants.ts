/** Prefix of the DI tokens of named agents (see {@link getAgentToken}). */
export const AGENT_TOKEN_PREFIX = 'DefinableAgent:';

/** The DI token of a named agent: inject it with `@InjectAgent(name)`. */
export function getAgentToken(name: string): string {
  return `${AGENT_TOKEN_PREFIX}${name}`;
}

/** Names asked for by `@InjectAgent(name)`, so the module can provide a token for each. */
export const requestedAgentNames = new Set<string>();
