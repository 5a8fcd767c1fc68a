import { z } from 'zod';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, Tool as McpToolInfo } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../errors';
import type { JsonSchema } from '../json-schema';
import { AgentLogger, StderrLogger } from '../logger';
import { requireMcpSdk } from './mcp-sdk';
import type { Tool, ToolContext } from './tool';
import type { Toolset } from './toolset';

// The SDK's types stay inside this file (private members and local types only), so an app that
// does not install @modelcontextprotocol/sdk never meets them in our declarations.

/** Options shared by both transports of {@link mcpTools}. */
export interface McpToolsCommonOptions {
  /** A readable name for logs and errors. Default `mcp(<url>)` or `mcp(<command>)`. */
  name?: string;
  /**
   * Put before every remote tool's name, e.g. `'docs_'` (the model sees
   * `docs_search`): keeps two servers' tools, or a server's and the agent's,
   * apart. Default none.
   */
  prefix?: string;
  /** Milliseconds a request (connecting, listing, a tool call) may take. Default 60,000 (the SDK's). */
  timeout?: number;
  /** Called after the server announced a changed tool list and the new list was read, with the tools' names as the model sees them. */
  onToolsChanged?: (names: string[]) => void;
  /** Where connection losses and reconnections are reported. Default: stderr. */
  logger?: AgentLogger;
}

/** {@link mcpTools} over Streamable HTTP. */
export interface McpHttpToolsOptions extends McpToolsCommonOptions {
  /** The server's MCP endpoint, e.g. `'https://tools.example.com/mcp'`. */
  url: string | URL;
  /** Headers sent with every request, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
}

/** {@link mcpTools} over stdio: the server is a child process. */
export interface McpStdioToolsOptions extends McpToolsCommonOptions {
  /** The program to start, e.g. `'npx'` or `process.execPath`. */
  command: string;
  /** Its arguments. */
  args?: string[];
  /** Environment variables added to the few the SDK passes on by default (`PATH`, `HOME`…). */
  env?: Record<string, string>;
  /** Its working directory. Default the app's. */
  cwd?: string;
}

/** Where {@link mcpTools} finds its server: a URL (Streamable HTTP) or a command (stdio). */
export type McpToolsOptions = McpHttpToolsOptions | McpStdioToolsOptions;

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

type ClientModule = typeof import('@modelcontextprotocol/sdk/client/index.js');
type HttpModule = typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js');
type StdioModule = typeof import('@modelcontextprotocol/sdk/client/stdio.js');
type TypesModule = typeof import('@modelcontextprotocol/sdk/types.js');
type AjvModule = typeof import('@modelcontextprotocol/sdk/validation/ajv-provider.js');

/** What this file uses of the SDK, loaded on first use. */
interface McpSdk {
  Client: ClientModule['Client'];
  StreamableHTTPClientTransport: HttpModule['StreamableHTTPClientTransport'];
  StreamableHTTPError: HttpModule['StreamableHTTPError'];
  McpError: TypesModule['McpError'];
  ToolListChangedNotificationSchema: TypesModule['ToolListChangedNotificationSchema'];
  AjvJsonSchemaValidator: AjvModule['AjvJsonSchemaValidator'];
}

let sdk: McpSdk | undefined;

function loadMcpSdk(user: string): McpSdk {
  if (sdk) return sdk;
  const { Client } = requireMcpSdk<ClientModule>(user, 'client/index.js');
  const { StreamableHTTPClientTransport, StreamableHTTPError } = requireMcpSdk<HttpModule>(user, 'client/streamableHttp.js');
  const { McpError, ToolListChangedNotificationSchema } = requireMcpSdk<TypesModule>(user, 'types.js');
  const { AjvJsonSchemaValidator } = requireMcpSdk<AjvModule>(user, 'validation/ajv-provider.js');
  sdk = { Client, StreamableHTTPClientTransport, StreamableHTTPError, McpError, ToolListChangedNotificationSchema, AjvJsonSchemaValidator };
  return sdk;
}

/**
 * A remote MCP server's tools as agent tools: give the result to an agent's
 * `tools`, beside its own. Over Streamable HTTP with `{ url, headers }`, over
 * stdio with `{ command, args, env, cwd }` (the server runs as a child
 * process).
 *
 * It connects on the first run and reads the server's tools; each run gets
 * the tools as they stand (the list is read again when the server sends
 * `notifications/tools/list_changed`). The model receives each tool's JSON
 * Schema as the server gives it, and its arguments are checked against that
 * schema before the call (an invalid call goes back to the model without
 * reaching the server). A tool's `isError` result, a failed call or a lost
 * connection goes back to the model as the tool's result, like any tool
 * error, and the run goes on. When the connection is lost (the server
 * restarted, the child process exited) the next call or run connects again;
 * after a failed attempt the next waits 0.5 s, then 1 s, 2 s… up to 30 s,
 * and calls in between fail at once. A call that failed because the
 * connection was gone is sent again once on a new connection when it cannot
 * have run (connection refused, an MCP session the server no longer knows)
 * or when the server marks the tool `readOnlyHint` or `idempotentHint`;
 * otherwise the model is told the call may not have run.
 *
 * A server that cannot be reached when a run starts fails that run with
 * `tools_unavailable`, naming the server and what to check: an agent never
 * runs silently without the tools it was given. `agent.close()` (and the
 * Nest app's shutdown) closes the connection and stops the child process.
 * Needs `@modelcontextprotocol/sdk` (an optional peer dependency).
 *
 * @example
 * const agent = new Agent({
 *   model,
 *   tools: [
 *     mcpTools({ url: 'https://docs.example.com/mcp', headers: { authorization: `Bearer ${token}` }, prefix: 'docs_' }),
 *     mcpTools({ command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/files'] }),
 *   ],
 * });
 */
export function mcpTools(options: McpToolsOptions): Toolset {
  return new McpToolset(options);
}

class McpToolset implements Toolset {
  readonly name: string;
  private readonly server: string;
  private readonly logger: AgentLogger;
  private client?: Client;
  private connecting?: Promise<Client>;
  /** The current tool list, or its reading in progress. */
  private list?: Promise<Tool[]>;
  private failures = 0;
  private retryAt = 0;
  private lastFailure?: string;

  constructor(private readonly options: McpToolsOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('mcpTools() needs { url } (Streamable HTTP) or { command } (stdio).');
    const http = 'url' in options && options.url !== undefined;
    const stdio = 'command' in options && options.command !== undefined;
    if (http === stdio) throw new TypeError('mcpTools() needs either { url } (Streamable HTTP) or { command } (stdio), not both or neither.');
    if (http) {
      try {
        new URL(String((options as McpHttpToolsOptions).url));
      } catch {
        throw new TypeError(`mcpTools(): url ${JSON.stringify(String((options as McpHttpToolsOptions).url))} is not a URL; give the server's MCP endpoint, e.g. http://127.0.0.1:3001/mcp.`);
      }
    } else if (typeof (options as McpStdioToolsOptions).command !== 'string' || (options as McpStdioToolsOptions).command === '') {
      throw new TypeError('mcpTools(): command must be the program that starts the MCP server, e.g. "npx".');
    }
    if (options.prefix !== undefined && !/^[a-zA-Z0-9_-]{0,40}$/.test(options.prefix)) {
      throw new TypeError(`mcpTools(): prefix ${JSON.stringify(options.prefix)} may hold only letters, digits, "_" and "-" (up to 40).`);
    }
    if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
      throw new TypeError(`mcpTools(): timeout must be a positive number of milliseconds, got ${String(options.timeout)}.`);
    }
    this.server = http ? `MCP server ${String((options as McpHttpToolsOptions).url)}` : `MCP server "${[(options as McpStdioToolsOptions).command, ...((options as McpStdioToolsOptions).args ?? [])].join(' ')}"`;
    this.name = options.name ?? (http ? `mcp(${String((options as McpHttpToolsOptions).url)})` : `mcp(${(options as McpStdioToolsOptions).command})`);
    this.logger = options.logger ?? new StderrLogger(`mcpTools:${this.name}`);
    loadMcpSdk('mcpTools()'); // a missing SDK shows where the agent is built, not at its first run
  }

  async tools(): Promise<readonly Tool[]> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connected();
      this.list ??= this.readTools(client);
      try {
        return await this.list;
      } catch (error) {
        // Listing is safe to repeat: once more on a new connection when the old one was gone.
        if (attempt > 1 || !this.isConnectionFailure(error)) throw error;
      }
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.list = undefined;
    const connecting = this.connecting;
    const pending = connecting ? await connecting.catch(() => undefined) : undefined;
    await Promise.all([client, pending].filter((entry): entry is Client => entry !== undefined).map((entry) => entry.close().catch(() => undefined)));
    if (pending === this.client) this.client = undefined;
    // A fresh start after close: no backoff left from before.
    this.failures = 0;
    this.retryAt = 0;
  }

  /** The connected client, connecting first when there is none (never while the backoff runs). */
  private connected(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const wait = this.retryAt - Date.now();
    if (wait > 0 && this.lastFailure) throw new Error(`${this.lastFailure} (the next attempt is in ${Math.ceil(wait / 1000)} s)`);
    let client: Client;
    try {
      client = await this.open();
    } catch (first) {
      // A connection the server closed under us (a keep-alive socket of a server that restarted)
      // is worth one more try at once; a refused one or any other failure waits for the backoff.
      if (!this.isConnectionFailure(first) || networkCode(first) === 'ECONNREFUSED') throw this.failed(first);
      client = await this.open().catch((second: unknown) => {
        throw this.failed(second);
      });
    }
    if (this.failures > 0) this.logger.log(`${this.server}: connected again.`);
    this.failures = 0;
    this.retryAt = 0;
    this.lastFailure = undefined;
    this.client = client;
    this.list = undefined;
    return client;
  }

  /** A client that completed MCP's handshake with the server. */
  private async open(): Promise<Client> {
    const { Client, ToolListChangedNotificationSchema } = loadMcpSdk('mcpTools()');
    const client = new Client({ name: 'nestjs-definable', version: '1.0.0' }, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.listChanged(client));
    client.onclose = () => this.drop(client);
    try {
      await client.connect(this.transport(), { timeout: this.options.timeout });
      return client;
    } catch (error) {
      await client.close().catch(() => undefined);
      throw error;
    }
  }

  /** Records a failed attempt (the next waits longer) and says why it failed. */
  private failed(error: unknown): Error {
    this.failures++;
    this.retryAt = Date.now() + Math.min(FIRST_RETRY_MS * 2 ** (this.failures - 1), MAX_RETRY_MS);
    this.lastFailure = this.unreachable(error);
    return new Error(this.lastFailure);
  }

  private transport(): Transport {
    const { StreamableHTTPClientTransport } = loadMcpSdk('mcpTools()');
    if ('url' in this.options && this.options.url !== undefined) {
      return new StreamableHTTPClientTransport(new URL(String(this.options.url)), { requestInit: { headers: this.options.headers } });
    }
    const stdio = this.options as McpStdioToolsOptions;
    const { StdioClientTransport } = requireMcpSdk<StdioModule>('mcpTools()', 'client/stdio.js');
    return new StdioClientTransport({ command: stdio.command, args: stdio.args, env: stdio.env, cwd: stdio.cwd, stderr: 'inherit' });
  }

  /** Why connecting failed, and what to check. */
  private unreachable(error: unknown): string {
    const detail = describeFailure(error);
    if ('url' in this.options && this.options.url !== undefined) {
      return `${this.server} could not be reached (${detail}): check that it is running at that URL and that the headers carry what it needs.`;
    }
    return `${this.server} could not be started (${detail}): check the command, its args and cwd, and that it speaks MCP on stdio.`;
  }

  /** Forgets a client whose connection is gone (the next call connects again) and closes it. */
  private drop(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.list = undefined;
    this.logger.warn(`${this.server}: the connection was lost; the next call connects again.`);
    void client.close().catch(() => undefined);
  }

  private listChanged(client: Client): void {
    if (this.client !== client) return;
    const reading = this.readTools(client);
    this.list = reading;
    reading.then(
      (tools) => this.options.onToolsChanged?.(tools.map((tool) => tool.name)),
      (error: unknown) => this.logger.warn(`${this.server}: reading the changed tool list failed: ${errorMessage(error)}`),
    );
  }

  /** Reads every page of the server's tools, as agent tools. */
  private async readTools(client: Client): Promise<Tool[]> {
    try {
      const remote: McpToolInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {}, { timeout: this.options.timeout });
        remote.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      const tools: Tool[] = [];
      const names = new Map<string, string>();
      for (const info of remote) {
        const tool = this.agentTool(info);
        const other = names.get(tool.name);
        if (other !== undefined) {
          throw new Error(`its tools "${other}" and "${info.name}" both become "${tool.name}" for the model; rename one on the server.`);
        }
        names.set(tool.name, info.name);
        tools.push(tool);
      }
      return tools;
    } catch (error) {
      // Read again next time rather than keep a failure.
      this.list = undefined;
      if (this.isConnectionFailure(error)) this.drop(client);
      throw error;
    }
  }

  /** One remote tool as an agent tool: its schema sent as-is and checked with the SDK's validator before the call. */
  private agentTool(info: McpToolInfo): Tool {
    const name = `${this.options.prefix ?? ''}${info.name}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
    if (!TOOL_NAME.test(name)) throw new Error(`its tool ${JSON.stringify(info.name)} has no usable name.`);
    const jsonSchema = { ...(info.inputSchema as JsonSchema) };
    const validate = this.validator(jsonSchema, info.name);
    const parameters = z.unknown().superRefine((value, ctx) => {
      const message = validate(value);
      if (message !== undefined) ctx.addIssue({ code: 'custom', message });
    });
    const remoteName = info.name;
    // A tool the server marks read-only or idempotent may be sent again after a lost connection.
    const repeatable = info.annotations?.readOnlyHint === true || info.annotations?.idempotentHint === true;
    return Object.freeze({
      name,
      description: info.description ?? info.title ?? `The tool "${info.name}" of ${this.server}.`,
      parameters,
      jsonSchema,
      execute: (args: unknown, ctx: ToolContext) => this.call(remoteName, args, ctx.signal, repeatable),
    });
  }

  /** Checks arguments against the tool's schema: a message when they do not match. */
  private validator(schema: JsonSchema, tool: string): (value: unknown) => string | undefined {
    const { AjvJsonSchemaValidator } = loadMcpSdk('mcpTools()');
    try {
      const check = new AjvJsonSchemaValidator().getValidator(schema as never);
      return (value) => {
        const result = check(value);
        return result.valid ? undefined : result.errorMessage;
      };
    } catch (error) {
      // A schema the validator cannot compile: the server still checks the arguments itself.
      this.logger.warn(`${this.server}: the input schema of "${tool}" cannot be compiled (${errorMessage(error)}); its arguments go to the server unchecked.`);
      return () => undefined;
    }
  }

  /** Calls a remote tool; its text (or an error the model reads) is the result. */
  private async call(tool: string, args: unknown, signal: AbortSignal, repeatable: boolean): Promise<string> {
    let result: CallToolResult;
    let client = await this.connected();
    try {
      result = (await client.callTool({ name: tool, arguments: args as Record<string, unknown> }, undefined, { signal, timeout: this.options.timeout })) as CallToolResult;
    } catch (error) {
      if (signal.aborted || !this.isConnectionFailure(error)) throw error;
      this.drop(client);
      if (!repeatable && !this.neverArrived(error)) {
        throw new Error(`the connection to ${this.server} failed during the call (${describeFailure(error)}), which may or may not have run; it connects again on the next call.`);
      }
      client = await this.connected();
      result = (await client.callTool({ name: tool, arguments: args as Record<string, unknown> }, undefined, { signal, timeout: this.options.timeout })) as CallToolResult;
    }
    const text = resultText(result);
    if (result.isError) throw new Error(text === '' ? 'the tool reported an error.' : text);
    return text;
  }

  /** A failure of the connection, not an answer of a live server. */
  private isConnectionFailure(error: unknown): boolean {
    const { McpError, StreamableHTTPError } = loadMcpSdk('mcpTools()');
    if (error instanceof McpError) return error.code === -32000; // ConnectionClosed
    if (error instanceof StreamableHTTPError) return true;
    return error instanceof Error && (error.message === 'Not connected' || error.message === 'fetch failed' || networkCode(error) !== undefined);
  }

  /** A failure that shows the request never reached a server that knew the connection: safe to send again. */
  private neverArrived(error: unknown): boolean {
    const { StreamableHTTPError } = loadMcpSdk('mcpTools()');
    if (error instanceof StreamableHTTPError) return error.code === 404; // the server forgot the session (it restarted)
    const code = networkCode(error);
    return (error instanceof Error && error.message === 'Not connected') || code === 'ECONNREFUSED';
  }
}

/** The text of a tool result: its text parts, and what stands for the rest. */
function resultText(result: CallToolResult): string {
  const parts: string[] = [];
  for (const item of result.content ?? []) {
    if (item.type === 'text') parts.push(item.text);
    else if (item.type === 'resource') parts.push('text' in item.resource ? item.resource.text : `[resource ${item.resource.uri}]`);
    else if (item.type === 'resource_link') parts.push(`[resource ${item.uri}]`);
    else parts.push(`[${item.type}${'mimeType' in item ? ` ${item.mimeType}` : ''}]`);
  }
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent);
  return parts.join('\n');
}

/** `ECONNREFUSED` and the like, from an error or its cause (fetch wraps them). */
function networkCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

function describeFailure(error: unknown): string {
  const code = networkCode(error);
  const message = errorMessage(error);
  return code && !message.includes(code) ? `${message}: ${code}` : message;
}
