import { Inject } from '@nestjs/common';
import { getAgentToken, requestedAgentNames } from './definable.constants';

/**
 * Injects a named agent of `DefinableModule.forRoot({ agents: { ... } })`.
 *
 * @example
 * constructor(@InjectAgent('support') private readonly support: Agent) {}
 */
export function InjectAgent(name: string): ParameterDecorator & PropertyDecorator {
  if (typeof name !== 'string' || name === '') throw new TypeError('@InjectAgent() needs the agent\'s name, e.g. @InjectAgent(\'support\').');
  requestedAgentNames.add(name);
  return Inject(getAgentToken(name));
}
