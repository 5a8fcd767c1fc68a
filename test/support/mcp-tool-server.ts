import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/** What a {@link McpToolServer} keeps across restarts. */
export interface McpToolServerState {
  /** Tools added after the start (each adds two numbers, like `add`). */
  added: string[];
  /** The names of the tools called, in order. */
  calls: string[];
}

/** An MCP server built with the SDK, over Streamable HTTP with sessions, on 127.0.0.1. */
export interface McpToolServer {
  url: string;
  port: number;
  state: McpToolServerState;
  /** Adds a tool to every session (each sends notifications/tools/list_changed) and to later ones. */
  addTool(name: string): void;
  /** Stops the server and drops every connection. */
  close(): Promise<void>;
}

function register(server: McpServer, name: string, state: McpToolServerState): void {
  server.registerTool(
    name,
    // Read-only (a pure sum): a client may send it again after a lost connection.
    { description: `Adds two numbers (${name}).`, inputSchema: { a: z.number(), b: z.number() }, annotations: { readOnlyHint: true } },
    async ({ a, b }) => {
      state.calls.push(name);
      return { content: [{ type: 'text', text: String(a + b) }] };
    },
  );
}

function build(state: McpToolServerState): McpServer {
  const server = new McpServer({ name: 'test-tool-server', version: '1.0.0' });
  register(server, 'add', state);
  server.registerTool('fail', { description: 'Always reports an error.', inputSchema: { reason: z.string() } }, async ({ reason }) => {
    state.calls.push('fail');
    return { isError: true, content: [{ type: 'text', text: `the tool failed: ${reason}` }] };
  });
  for (const name of state.added) register(server, name, state);
  return server;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : JSON.parse(text);
}

/** Starts the server on `port` (0: an ephemeral one), with the state of an earlier run of it, if any. */
export async function startMcpToolServer(port = 0, state: McpToolServerState = { added: [], calls: [] }): Promise<McpToolServer> {
  const sessions = new Map<string, { server: McpServer; transport: StreamableHTTPServerTransport }>();
  const http: Server = createServer((request, response) => {
    void (async () => {
      const body = request.method === 'POST' ? await readJson(request) : undefined;
      const id = request.headers['mcp-session-id'];
      if (typeof id === 'string') {
        const session = sessions.get(id);
        if (!session) {
          response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
          return;
        }
        await session.transport.handleRequest(request, response, body);
        return;
      }
      const server = build(state);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => void sessions.set(sessionId, { server, transport }),
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      await transport.handleRequest(request, response, body);
    })().catch((error) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const actual = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/mcp`,
    port: actual,
    state,
    addTool(name) {
      state.added.push(name);
      for (const { server } of sessions.values()) register(server, name, state);
    },
    async close() {
      await Promise.all([...sessions.values()].map(({ server }) => server.close()));
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
