import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Controller, Delete, Get, Logger, Post, Req, Res, Type, UseFilters, UseGuards } from '@nestjs/common';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { CallToolResult, Tool as McpToolInfo } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { AgentError } from '../agent/errors';
import { requireMcpSdk } from '../agent/tools/mcp-sdk';
import { isObjectSchema, JsonSchema, zodToJsonSchema } from '../agent/json-schema';
import type { AuthContext } from '../auth/auth-provider';
import { AUTH_CONTEXT_PROPERTY } from '../auth/auth.constants';
import { DefinableAuthGuard } from '../auth/definable-auth.guard';
import { AgentRegistry } from '../module/agent.registry';
import { AgentRunner, RunnerOptions } from '../module/agent.runner';
import { DefinableExceptionFilter } from '../module/definable-exception.filter';
import { newRequestId, publicError } from '../module/http-errors';
import { redactSecrets } from '../module/redact';
import { pausedNote } from '../module/approvals/approval-text';
import { clientGone } from './run-events-writer';
import { callerUserId } from './run-request';
import type { McpServerOptions } from './surface-options';

export type { McpAgentToolOptions, McpServerOptions } from './surface-options';

/** The arguments of every agent's MCP tool. */
export interface McpAgentToolArguments {
  /** The message to the agent. */
  message: string;
  /** Continue this session (any id of the caller's choosing; the result's `_meta.session_id` names the one used). */
  session_id?: string;
}

/** One agent's tool: what `tools/list` shows and how to run it. */
interface AgentTool {
  info: McpToolInfo;
  agentName: string;
  outputSchema?: z.ZodType;
}

type ServerModule = typeof import('@modelcontextprotocol/sdk/server/index.js');
type HttpModule = typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js');
type TypesModule = typeof import('@modelcontextprotocol/sdk/types.js');

const INPUT_SCHEMA = {
  type: 'object',
  properties: {
    message: { type: 'string', minLength: 1, description: 'The message to the agent.' },
    session_id: {
      type: 'string',
      minLength: 1,
      description: 'Continue this conversation: the agent sees its earlier turns. Any id of your choosing; omit it to start a new one.',
    },
  },
  required: ['message'],
  additionalProperties: false,
} as const;
const METHOD_NOT_ALLOWED = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; send JSON-RPC requests with POST.' }, id: null });
const TRIGGER = 'MCP tools/call';

/**
 * The module's agents as MCP tools over Streamable HTTP (stateless: a new MCP
 * server and transport for each `POST`; `GET` and `DELETE` answer 405). One
 * tool per agent, named after it, taking `{ message, session_id? }`; a call
 * runs the agent through `AgentRunner` (quotas, traces, metrics, shutdown
 * drain, cancelled when the client goes away) for the caller's user, and
 * answers its text — and with an `outputSchema` for the agent (see
 * {@link McpServerOptions}), the parsed answer as `structuredContent`. A run
 * that fails answers `isError: true` with what went wrong and what to do.
 * `_meta` of each result carries `session_id` and `run_id`.
 */
@UseFilters(DefinableExceptionFilter)
export class McpController {
  private readonly logger = new Logger('Definable:MCP');
  private readonly sdk: Pick<ServerModule, 'Server'> & Pick<HttpModule, 'StreamableHTTPServerTransport'> & TypesModule;
  private readonly tools: AgentTool[];
  private readonly byName: Map<string, AgentTool>;

  constructor(
    agents: AgentRegistry,
    private readonly runner: AgentRunner,
    private readonly options: McpServerOptions,
  ) {
    const user = 'server.mcp (the MCP endpoint)';
    this.sdk = {
      ...requireMcpSdk<TypesModule>(user, 'types.js'),
      Server: requireMcpSdk<ServerModule>(user, 'server/index.js').Server,
      StreamableHTTPServerTransport: requireMcpSdk<HttpModule>(user, 'server/streamableHttp.js').StreamableHTTPServerTransport,
    };
    this.tools = agentTools(agents, options);
    this.byName = new Map(this.tools.map((tool) => [tool.info.name, tool]));
  }

  /** Answers one JSON-RPC message (or batch) of a client. */
  protected async handle(request: any, reply: any): Promise<void> {
    const raw: ServerResponse = rawResponse(reply);
    const incoming: IncomingMessage = request.raw ?? request;
    // Aborted when the client goes away before its answer.
    const gone = clientGone(raw);
    const server = this.server(request, gone.signal);
    const transport = new this.sdk.StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    try {
      await server.connect(transport);
      await transport.handleRequest(incoming, raw, request.body);
    } catch (error) {
      this.logger.error(`MCP request failed: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
      if (!raw.headersSent) {
        raw.writeHead(500, { 'content-type': 'application/json' });
        raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error; the server log has the details.' }, id: null }));
      }
    } finally {
      gone.release();
      await server.close().catch(() => undefined);
    }
  }

  /** `GET` and `DELETE`: a stateless server has no stream to open and no session to end. */
  protected notAllowed(reply: any): void {
    const raw = rawResponse(reply);
    raw.writeHead(405, { 'content-type': 'application/json', allow: 'POST' });
    raw.end(METHOD_NOT_ALLOWED);
  }

  /** An MCP server for one request: lists the agents' tools and runs them for the request's caller. */
  private server(request: any, gone: AbortSignal): Server {
    const { Server, ListToolsRequestSchema, CallToolRequestSchema, McpError } = this.sdk;
    const server = new Server(
      { name: this.options.name ?? 'nestjs-definable', version: this.options.version ?? '1.0.0' },
      { capabilities: { tools: {} } },
    );
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: this.tools.map((tool) => tool.info) }));
    server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
      const tool = this.byName.get(call.params.name);
      if (!tool) {
        throw new McpError(-32602, `Unknown tool "${call.params.name}"; this server's tools are: ${[...this.byName.keys()].join(', ')}.`);
      }
      return this.callAgent(tool, call.params.arguments, request, AbortSignal.any([gone, extra.signal]));
    });
    return server;
  }

  /** Runs the tool's agent on the message; any failure becomes an `isError` result. */
  private async callAgent(tool: AgentTool, args: Record<string, unknown> | undefined, request: any, signal: AbortSignal): Promise<CallToolResult> {
    const problem = invalidArguments(args);
    if (problem) return failed(`Invalid arguments for tool "${tool.info.name}": ${problem}`);
    const { message, session_id } = args as unknown as McpAgentToolArguments;
    const principal: AuthContext | undefined = request[AUTH_CONTEXT_PROPERTY];
    const sessionId = session_id ?? randomUUID();
    try {
      const options: RunnerOptions = {
        agent: tool.agentName,
        trigger: TRIGGER,
        sessionId,
        userId: callerUserId(principal, undefined),
        signal,
        metadata: { mcp_tool: tool.info.name, ...(principal ? { auth: principal.provider } : {}) },
        traceCarrier: request.headers,
        ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
      };
      const output = await this.runner.run(message, options);
      const meta = { session_id: output.sessionId, run_id: output.runId };
      if (tool.outputSchema) {
        return { content: [{ type: 'text', text: JSON.stringify(output.content) }], structuredContent: output.content as Record<string, unknown>, _meta: meta };
      }
      if (output.pendingApprovals?.length) {
        // Paused for a person's approval: say which calls wait and how to decide them.
        const text = [String(output.content ?? ''), pausedNote(output.runId, output.pendingApprovals)].filter(Boolean).join('\n\n');
        return { content: [{ type: 'text', text }], _meta: { ...meta, status: 'paused', pending_approvals: output.pendingApprovals.map((approval) => approval.approvalId) } };
      }
      return { content: [{ type: 'text', text: String(output.content ?? '') }], _meta: meta };
    } catch (error) {
      return failed(this.explain(error), { session_id: sessionId });
    }
  }

  /** A run's failure as the client may see it: provider details stay in the log, under a request id. */
  private explain(error: unknown): string {
    if (error instanceof AgentError) {
      const { info, detail } = publicError(error.code, error.message);
      if (detail) this.logger.warn(`${TRIGGER} run failed (${info.request_id}): ${detail}`);
      const hint = HINTS[error.code] ?? '';
      return `The agent's run failed (${info.code}): ${info.message}${info.request_id ? ` (request id ${info.request_id})` : ''}${hint}`;
    }
    const requestId = newRequestId();
    this.logger.error(`${TRIGGER} failed (${requestId}): ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
    return `The agent's run failed with an internal error; the server log has the details (request id ${requestId}).`;
  }
}

/** What to do next, for failures whose message does not already say it. */
const HINTS: Partial<Record<string, string>> = {
  cancelled: ' Call the tool again to retry.',
  model_rate_limit: ' Retry later.',
  model_unavailable: ' Retry later.',
  model_timeout: ' Retry, perhaps with a shorter message.',
  model_connection: ' Retry later.',
};

/**
 * The MCP endpoint at `path` (default `/mcp`) as a controller to mount: see
 * {@link McpController}. Protected by the module's auth like `POST /run`
 * (401 before any MCP exchange); `DefinableModule` mounts it for
 * `server: { mcp: true | McpServerOptions }`.
 */
export function createMcpController(path = '/mcp', options: McpServerOptions = {}): Type<unknown> {
  @Controller()
  @UseGuards(DefinableAuthGuard)
  class McpRoutes extends McpController {
    constructor(agents: AgentRegistry, runner: AgentRunner) {
      super(agents, runner, options);
    }

    @Post(path)
    post(@Req() request: any, @Res() reply: any): Promise<void> {
      return this.handle(request, reply);
    }

    @Get(path)
    get(@Res() reply: any): void {
      this.notAllowed(reply);
    }

    @Delete(path)
    delete(@Res() reply: any): void {
      this.notAllowed(reply);
    }
  }
  return McpRoutes;
}

/** The Node response behind a Fastify reply (which then leaves it to us) or an Express one. */
function rawResponse(reply: any): ServerResponse {
  if (typeof reply.hijack === 'function') reply.hijack();
  return reply.raw ?? reply;
}

/** One tool per agent, named after it (made a valid MCP tool name); configuration mistakes fail at bootstrap. */
function agentTools(agents: AgentRegistry, options: McpServerOptions): AgentTool[] {
  const settings = options.agents ?? {};
  const names = agents.names();
  for (const name of Object.keys(settings)) {
    if (!names.includes(name)) {
      throw new Error(`server.mcp.agents names "${name}", which is not an agent of DefinableModule (it has: ${names.join(', ')}); use one of those names.`);
    }
  }
  const taken = new Set<string>();
  return names.map((agentName) => {
    const setting = settings[agentName] ?? {};
    let name = agentName.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 120) || 'agent';
    for (let n = 2; taken.has(name); n++) name = `${name.replace(/_\d+$/, '')}_${n}`;
    taken.add(name);
    const info: McpToolInfo = {
      name,
      ...(setting.title ? { title: setting.title } : {}),
      description:
        setting.description ??
        `Asks the "${agentName}" agent: runs it on your message and returns its answer. Pass the same session_id to continue a conversation with it.`,
      inputSchema: INPUT_SCHEMA as unknown as McpToolInfo['inputSchema'],
    };
    if (setting.outputSchema) info.outputSchema = objectSchema(setting.outputSchema, agentName) as McpToolInfo['outputSchema'];
    return { info, agentName, outputSchema: setting.outputSchema };
  });
}

function objectSchema(schema: z.ZodType, agentName: string): JsonSchema {
  if (!schema || typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
    throw new Error(`server.mcp.agents["${agentName}"].outputSchema must be a zod schema, e.g. z.object({ answer: z.string() }).`);
  }
  const json = zodToJsonSchema(schema);
  if (!isObjectSchema(json)) {
    throw new Error(`server.mcp.agents["${agentName}"].outputSchema must be a z.object(...) schema: MCP's structuredContent is an object.`);
  }
  return json;
}

/** Why the arguments are not `{ message, session_id? }`, or nothing. */
function invalidArguments(args: Record<string, unknown> | undefined): string | undefined {
  if (!args || typeof args !== 'object') return '"message" (a non-empty string) is required.';
  if (typeof args.message !== 'string' || args.message.trim() === '') return '"message" must be a non-empty string.';
  if (args.session_id !== undefined && (typeof args.session_id !== 'string' || args.session_id === '')) return '"session_id" must be a non-empty string.';
  const unknown = Object.keys(args).filter((key) => key !== 'message' && key !== 'session_id');
  if (unknown.length) return `unknown argument${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => JSON.stringify(key.slice(0, 40))).join(', ')}: the tool takes "message" and "session_id".`;
  return undefined;
}

function failed(text: string, meta?: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true, ...(meta ? { _meta: meta } : {}) };
}
