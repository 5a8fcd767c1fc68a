import { AgentError, errorMessage } from '../errors';
import { Tool, toolDefinitions } from '../tools/tool';
import type { AgentSetup } from './agent-setup';
import type { RunState } from './run-state';

/**
 * Gives the run the tools of the agent's toolsets beside its own, as they
 * stand now (only for agents with toolsets: the others keep the tools
 * computed once by the constructor). A toolset that cannot list its tools,
 * or a tool name given twice, fails the run with `tools_unavailable`.
 */
export async function resolveTools(setup: AgentSetup, run: RunState): Promise<void> {
  const lists = await Promise.all(
    setup.toolsets.map((toolset) =>
      toolset.tools(run.signal).catch((error: unknown) => {
        if (run.signal?.aborted) throw error;
        throw new AgentError('tools_unavailable', `Agent "${setup.name}" could not get the tools of ${toolset.name}: ${errorMessage(error)}`, { cause: error });
      }),
    ),
  );
  const tools = new Map<string, Tool>(setup.tools);
  const owner = new Map<string, string>([...setup.tools.keys()].map((name) => [name, 'the agent\'s own tools']));
  lists.forEach((list, index) => {
    const source = setup.toolsets[index].name;
    for (const tool of list) {
      const taken = owner.get(tool.name);
      if (taken !== undefined) {
        throw new AgentError(
          'tools_unavailable',
          `Agent "${setup.name}" has two tools named "${tool.name}" (in ${taken} and in ${source}); tool names must be unique: give the toolset a prefix (e.g. mcpTools({ ..., prefix: 'docs_' })).`,
        );
      }
      owner.set(tool.name, source);
      tools.set(tool.name, tool);
    }
  });
  run.tools = tools;
  run.toolDefinitions = toolDefinitions(tools.values());
}
