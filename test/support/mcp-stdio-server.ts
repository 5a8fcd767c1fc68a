// A small MCP server on stdio, started as a child process by the mcpTools tests
// (`process.execPath dist/test/support/mcp-stdio-server.js`): one tool that says which process answered.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'stdio-test-server', version: '1.0.0' });
server.registerTool(
  'whoami',
  { description: 'Greets back with the process id of this server.', inputSchema: { greeting: z.string() } },
  async ({ greeting }) => ({ content: [{ type: 'text', text: `${greeting} from pid ${process.pid}` }] }),
);
void server.connect(new StdioServerTransport());
