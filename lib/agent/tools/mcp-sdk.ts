import { errorMessage } from '../errors';

// Internal: the one place that loads @modelcontextprotocol/sdk (mcpTools and the MCP endpoint).
// Callers name the module's type with `typeof import(...)`, so no declaration of ours imports it.

/**
 * Loads a module of the optional `@modelcontextprotocol/sdk` peer dependency
 * (`path` under the package, e.g. `'client/index.js'`), or throws an error
 * that names `user` and says how to install it.
 */
export function requireMcpSdk<T>(user: string, path: string): T {
  try {
    // Loaded lazily: @modelcontextprotocol/sdk is an optional peer dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(`@modelcontextprotocol/sdk/${path}`) as T;
  } catch (error) {
    throw new Error(`${user} needs the "@modelcontextprotocol/sdk" package: run \`npm install @modelcontextprotocol/sdk\`. (${errorMessage(error)})`);
  }
}
