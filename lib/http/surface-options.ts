import type { z } from 'zod';

// The options of the protocol surfaces, apart from their controllers: the module options name them,
// and the controllers import the kernel, so keeping them here keeps the options free of import circles.

/** Options of the AI SDK UI message stream route (`server: { uiChat: true | UiChatOptions }`). */
export interface UiChatOptions {
  /** Where the route is mounted. Default `'/chat'`. */
  path?: string;
}

/** Options of the OpenAI-compatible routes (`server: { openai: true | OpenAICompatOptions }`). */
export interface OpenAICompatOptions {
  /** The base path the routes are mounted under: `{path}/chat/completions`, `{path}/models`. Default `'/v1'`. */
  path?: string;
}

/** How one agent appears as a tool of the MCP server (`server.mcp.agents[name]`). */
export interface McpAgentToolOptions {
  /** What the tool does, for the client's model. Default: a sentence naming the agent and how to continue a session. */
  description?: string;
  /** A human-readable title shown by MCP clients. */
  title?: string;
  /**
   * A zod object schema of the agent's answer: the run asks the model for
   * it (`outputSchema`), the tool declares it as its MCP `outputSchema` and
   * returns the parsed answer as `structuredContent` (and as JSON text).
   */
  outputSchema?: z.ZodType;
}

/** Options of the MCP server (`server: { mcp: true | McpServerOptions }`): the module's agents as MCP tools over Streamable HTTP. */
export interface McpServerOptions {
  /** Where the endpoint is mounted. Default `'/mcp'`. */
  path?: string;
  /** Per agent, by the agent's name: its tool's description, title and output schema. */
  agents?: Record<string, McpAgentToolOptions>;
  /** The server's name in MCP's `initialize` answer. Default `'nestjs-definable'`. */
  name?: string;
  /** The server's version in MCP's `initialize` answer. Default `'1.0.0'`. */
  version?: string;
}
