import type { Tool } from './tool';

/**
 * Tools that are known only at run time, such as the tools of a remote MCP
 * server (see `mcpTools`): an agent asks a toolset for its current tools at
 * the start of each run, and closes it with the agent (`agent.close()`, or
 * the Nest app's shutdown). Give toolsets beside plain tools in
 * `AgentOptions.tools`; a tool name must be unique across all of them.
 */
export interface Toolset {
  /** A readable name for logs and errors, e.g. `mcp(http://127.0.0.1:3001/mcp)`. */
  readonly name: string;
  /**
   * The tools as they stand now. Connects on first use; a toolset that
   * cannot produce its tools throws an error saying what to check (the run
   * then fails with `tools_unavailable`).
   */
  tools(signal?: AbortSignal): Promise<readonly Tool[]>;
  /** Releases what the toolset holds (connections, child processes). A later `tools()` may open them again. */
  close(): Promise<void>;
}

/** Whether an entry of `AgentOptions.tools` is a {@link Toolset} (a plain tool has `execute`). */
export function isToolset(entry: unknown): entry is Toolset {
  const candidate = entry as Partial<Toolset> & { execute?: unknown };
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.tools === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.execute !== 'function'
  );
}
