import { errorMessage } from '../errors';
import type { AgentSetup } from './agent-setup';

/** Runs `hooks` one after another with `arg`; a failing hook is logged, never fatal to the run. */
export async function runHooks<T>(setup: AgentSetup, kind: string, hooks: ((arg: T) => void | Promise<void>)[], arg: T): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook(arg);
    } catch (error) {
      setup.logger.error(`${kind} hook ${hook.name || '(anonymous)'} failed: ${errorMessage(error)}`);
    }
  }
}
