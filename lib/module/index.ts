export { AgentRegistry } from './agent.registry';
export { AgentRunner } from './agent.runner';
export type { RunnerOptions } from './agent.runner';
export { getAgentToken } from './definable.constants';
export { DefinableModule } from './definable.module';
export { DEFINABLE_OPTIONS } from './definable.module-definition';
export type { DefinableModuleExtras, DefinableModuleOptions, DefinableServerOptions } from './definable-module.options';
export { InjectAgent } from './inject-agent.decorator';
export { RunTracker } from './run.tracker';
