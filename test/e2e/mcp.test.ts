import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { Agent, AgentLogger, AgentRunError, ApiKeyAuth, DefinableModule, defineTool, Message, messageText, ModelError, mcpTools } from '../../lib';
import { TestModel, TestModelCall, TestResponse } from '../../lib/testing';
import { deferred } from '../support/fixtures';
import { startMcpToolServer, McpToolServer } from '../support/mcp-tool-server';
import { PLATFORMS, startApp, TestApp } from '../support/nest';

const API_KEY = 'mcp-key-000000001';
const quiet: AgentLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

function lastUserText(messages: Message[]): string {
  const last = [...messages].reverse().find((message) => message.role === 'user');
  return last ? messageText(last) : '';
}

/** A client of the SDK connected to our endpoint. */
async function connect(url: string, headers?: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'e2e-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }));
  return client;
}

const textOf = (result: Awaited<ReturnType<Client['callTool']>>) => (result.content as { type: string; text: string }[])[0].text;

for (const platform of PLATFORMS) {
  describe(`MCP server on ${platform}`, () => {
    describe('without auth', () => {
      let server: TestApp;
      let client: Client;
      // Answers with the message and how many user turns the session holds.
      const assistant = new TestModel({
        responses: (call) => `echo: ${lastUserText(call.messages)} (turn ${call.messages.filter((message) => message.role === 'user').length})`,
      });
      const extractor = new TestModel({ responses: () => '{"city":"Paris","country":"France"}' });
      const broken = new TestModel({ responses: () => ({ error: new ModelError('model_unavailable', 'upstream said 503 with token sk-secret-123') }) });

      before(async () => {
        server = await startApp(platform, {
          imports: [
            DefinableModule.forRoot({
              agents: { assistant: { model: assistant }, extractor: { model: extractor }, broken: { model: broken } },
              server: {
                mcp: { agents: { extractor: { description: 'Finds the city in a sentence.', outputSchema: z.object({ city: z.string(), country: z.string() }) } } },
              },
            }),
          ],
        });
        client = await connect(server.url);
      });
      after(async () => {
        await client?.close();
        await server?.close();
      });

      it('lists one tool per agent, with the message/session input schema', async () => {
        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((tool) => tool.name).sort(), ['assistant', 'broken', 'extractor']);
        const tool = tools.find((entry) => entry.name === 'assistant')!;
        assert.match(tool.description ?? '', /"assistant" agent/);
        assert.deepEqual(tool.inputSchema.required, ['message']);
        assert.deepEqual(Object.keys(tool.inputSchema.properties ?? {}).sort(), ['message', 'session_id']);
        assert.equal(tool.outputSchema, undefined);
        const structured = tools.find((entry) => entry.name === 'extractor')!;
        assert.equal(structured.description, 'Finds the city in a sentence.');
        assert.equal(structured.outputSchema?.type, 'object');
        assert.deepEqual(Object.keys(structured.outputSchema?.properties ?? {}).sort(), ['city', 'country']);
      });

      it('runs the agent on tools/call and answers its text', async () => {
        const result = await client.callTool({ name: 'assistant', arguments: { message: 'hello' } });
        assert.equal(result.isError, undefined);
        assert.equal(textOf(result), 'echo: hello (turn 1)');
        assert.equal(typeof (result._meta as Record<string, unknown>).run_id, 'string');
      });

      it('continues a session with session_id', async () => {
        const first = await client.callTool({ name: 'assistant', arguments: { message: 'one', session_id: `s-${platform}` } });
        const second = await client.callTool({ name: 'assistant', arguments: { message: 'two', session_id: `s-${platform}` } });
        assert.equal(textOf(first), 'echo: one (turn 1)');
        assert.equal(textOf(second), 'echo: two (turn 2)');
        assert.equal((second._meta as Record<string, unknown>).session_id, `s-${platform}`);
      });

      it('returns structuredContent for an agent with an outputSchema (checked by the SDK client against the declared schema)', async () => {
        const result = await client.callTool({ name: 'extractor', arguments: { message: 'I live in Paris.' } });
        assert.deepEqual(result.structuredContent, { city: 'Paris', country: 'France' });
        assert.deepEqual(JSON.parse(textOf(result)), { city: 'Paris', country: 'France' });
        assert.equal(extractor.calls.at(-1)?.responseFormat?.name, 'output');
      });

      it('answers isError for a failing run, without the provider detail', async () => {
        const result = await client.callTool({ name: 'broken', arguments: { message: 'hi' } });
        assert.equal(result.isError, true);
        assert.match(textOf(result), /model_unavailable/);
        assert.match(textOf(result), /retry later/i);
        assert.doesNotMatch(textOf(result), /sk-secret/);
      });

      it('answers isError for invalid arguments without running the agent', async () => {
        const before = assistant.calls.length;
        const result = await client.callTool({ name: 'assistant', arguments: { message: '', extra: 1 } });
        assert.equal(result.isError, true);
        assert.match(textOf(result), /"message" must be a non-empty string/);
        assert.equal(assistant.calls.length, before);
      });

      it('answers GET and DELETE with 405 and a JSON-RPC error', async () => {
        for (const method of ['GET', 'DELETE']) {
          const response = await fetch(`${server.url}/mcp`, { method, headers: { accept: 'application/json, text/event-stream' } });
          assert.equal(response.status, 405);
          assert.equal(response.headers.get('allow'), 'POST');
          const body = (await response.json()) as { jsonrpc: string; error: { code: number }; id: null };
          assert.equal(body.jsonrpc, '2.0');
          assert.equal(body.error.code, -32000);
          assert.equal(body.id, null);
        }
      });
    });

    describe('with ApiKeyAuth', () => {
      let server: TestApp;
      const model = new TestModel({ responses: (call) => `hi ${lastUserText(call.messages)}` });

      before(async () => {
        server = await startApp(platform, {
          imports: [DefinableModule.forRoot({ agent: { name: 'helper', model }, auth: new ApiKeyAuth({ keys: [{ key: API_KEY, userId: 'alice' }] }), server: { mcp: true } })],
        });
      });
      after(() => server?.close());

      it('refuses a client without the key with 401 before any MCP exchange', async () => {
        await assert.rejects(connect(server.url), (error: Error & { code?: number }) => error.code === 401);
        const response = await fetch(`${server.url}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        });
        assert.equal(response.status, 401);
      });

      it('serves a client with Authorization: Bearer or the key header', async () => {
        for (const headers of [{ authorization: `Bearer ${API_KEY}` }, { 'x-api-key': API_KEY }] as Record<string, string>[]) {
          const client = await connect(server.url, headers);
          try {
            const result = await client.callTool({ name: 'helper', arguments: { message: 'there' } });
            assert.equal(textOf(result), 'hi there');
          } finally {
            await client.close();
          }
        }
      });
    });
  });
}

/** The text of the last tool result the model was given, if the last message is one. */
function lastToolResult(call: TestModelCall): string | undefined {
  const last = call.messages.at(-1);
  return last?.role === 'tool' ? messageText(last) : undefined;
}

describe('mcpTools over Streamable HTTP, against an SDK server', () => {
  let tools: McpToolServer;
  let agent: Agent;
  let plan: TestResponse = 'nothing to do';
  const changed: { names: string[]; seen: ReturnType<typeof deferred<string[]>> } = { names: [], seen: deferred<string[]>() };
  // Calls what `plan` says, then answers with the tool's result.
  const model = new TestModel({
    responses: (call) => {
      const result = lastToolResult(call);
      return result === undefined ? plan : `tool said: ${result}`;
    },
  });

  before(async () => {
    tools = await startMcpToolServer();
    agent = new Agent({
      name: 'calculator',
      model,
      tools: [mcpTools({ url: tools.url, logger: quiet, onToolsChanged: (names) => changed.seen.resolve(names) })],
    });
  });
  after(async () => {
    await agent?.close();
    await tools?.close();
  });

  it('gives the model the server\'s tools with their JSON Schemas as-is, and the call\'s result', async () => {
    plan = { toolCalls: [{ name: 'add', args: { a: 2, b: 3 } }] };
    const output = await agent.run('2 + 3?');
    assert.equal(output.content, 'tool said: 5');
    const add = model.calls.at(-1)!.tools.find((tool) => tool.name === 'add')!;
    assert.equal(add.description, 'Adds two numbers (add).');
    const client = new Client({ name: 'reference', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(tools.url)));
    const listed = (await client.listTools()).tools.find((tool) => tool.name === 'add')!;
    await client.close();
    assert.deepEqual(add.parameters, listed.inputSchema);
    assert.deepEqual(tools.state.calls, ['add']);
  });

  it('feeds invalid arguments back to the model without calling the server', async () => {
    const before = tools.state.calls.length;
    plan = { toolCalls: [{ name: 'add', args: { a: 'two', b: 3 } }] };
    const output = await agent.run('two + 3?');
    assert.match(String(output.content), /^tool said: Invalid arguments for tool "add": .*a.*number/);
    assert.equal(output.toolCalls[0].error !== undefined, true);
    assert.equal(tools.state.calls.length, before);
  });

  it('feeds a tool\'s isError result back to the model, and the run goes on', async () => {
    plan = { toolCalls: [{ name: 'fail', args: { reason: 'disk full' } }] };
    const output = await agent.run('break it');
    assert.equal(output.status, 'completed');
    assert.equal(output.content, 'tool said: Tool "fail" failed: the tool failed: disk full');
  });

  it('connects again after the server restarts on the same port', async () => {
    const { port, state } = tools;
    await tools.close();
    tools = await startMcpToolServer(port, state);
    plan = { toolCalls: [{ name: 'add', args: { a: 20, b: 22 } }] };
    const output = await agent.run('20 + 22?');
    assert.equal(output.content, 'tool said: 42');
    assert.equal(state.calls.at(-1), 'add');
  });

  it('reads the tool list again on notifications/tools/list_changed: the next run\'s model sees the new tool', async () => {
    plan = 'no tools needed';
    await agent.run('warm up');
    assert.equal(model.calls.at(-1)!.tools.some((tool) => tool.name === 'add_more'), false);
    tools.addTool('add_more');
    assert.ok((await changed.seen.promise).includes('add_more'));
    plan = { toolCalls: [{ name: 'add_more', args: { a: 1, b: 1 } }] };
    const output = await agent.run('1 + 1 with the new tool');
    assert.ok(model.calls.at(-2)!.tools.some((tool) => tool.name === 'add_more'));
    assert.equal(output.content, 'tool said: 2');
  });

  it('fails a run whose MCP server cannot be reached, naming the server and what to check', async () => {
    const lonely = new Agent({ model: new TestModel({ responses: ['unused'] }), tools: [mcpTools({ url: 'http://127.0.0.1:1/mcp', logger: quiet })] });
    try {
      await assert.rejects(lonely.run('hi'), (error: AgentRunError) => {
        assert.equal(error.code, 'tools_unavailable');
        assert.match(error.message, /MCP server http:\/\/127\.0\.0\.1:1\/mcp could not be reached/);
        assert.match(error.message, /check that it is running/);
        return true;
      });
      // Within the backoff, the next run fails at once with the same reason.
      await assert.rejects(lonely.run('hi'), /next attempt is in/);
    } finally {
      await lonely.close();
    }
  });

  it('refuses two tools with one name', async () => {
    const clash = new Agent({
      model: new TestModel({ responses: ['unused'] }),
      tools: [mcpTools({ url: tools.url, logger: quiet }), mcpTools({ url: tools.url, logger: quiet, name: 'second' })],
    });
    try {
      await assert.rejects(clash.run('hi'), (error: AgentRunError) => error.code === 'tools_unavailable' && /two tools named "add".*second.*prefix/.test(error.message));
    } finally {
      await clash.close();
    }
  });

  it("refuses a remote tool named like one of the agent's own, and takes it under a prefix", async () => {
    const add = defineTool({ name: 'add', description: 'Local addition', parameters: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });
    const clash = new Agent({ model: new TestModel({ responses: ['unused'] }), tools: [add, mcpTools({ url: tools.url, logger: quiet })] });
    const prefixedModel = new TestModel({ responses: ['fine'] });
    const prefixed = new Agent({ model: prefixedModel, tools: [add, mcpTools({ url: tools.url, logger: quiet, prefix: 'remote_' })] });
    try {
      await assert.rejects(clash.run('hi'), (error: AgentRunError) => error.code === 'tools_unavailable' && /two tools named "add" \(in the agent's own tools/.test(error.message));
      assert.equal((await prefixed.run('hi')).content, 'fine');
      const names = prefixedModel.calls[0].tools.map((tool) => tool.name);
      assert.ok(names.includes('add') && names.includes('remote_add'), names.join(', '));
    } finally {
      await clash.close();
      await prefixed.close();
    }
  });
});

describe('mcpTools over stdio', () => {
  const serverScript = join(__dirname, '../support/mcp-stdio-server.js');
  /** Calls `whoami` once, then answers with its result. */
  const whoamiModel = (name: string) =>
    new TestModel({
      responses: (call) => {
        const result = lastToolResult(call);
        return result === undefined ? { toolCalls: [{ name, args: { greeting: 'hello' } }] } : `tool said: ${result}`;
      },
    });
  const pidOf = (content: unknown) => {
    const match = /^tool said: hello from pid (\d+)$/.exec(String(content));
    assert.ok(match, String(content));
    return Number(match[1]);
  };
  const gone = (pid: number) => assert.throws(() => process.kill(pid, 0), (error: NodeJS.ErrnoException) => error.code === 'ESRCH');

  it('is closed with the Nest app: a run through POST /run uses it, and app.close() stops the child process', async () => {
    const server = await startApp('fastify', {
      imports: [DefinableModule.forRoot({ agent: { model: whoamiModel('whoami'), tools: [mcpTools({ command: process.execPath, args: [serverScript], logger: quiet })] } })],
    });
    let pid: number;
    try {
      const response = await fetch(`${server.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 'who?' }) });
      assert.equal(response.status, 200);
      pid = pidOf(((await response.json()) as { content: string }).content);
      assert.doesNotThrow(() => process.kill(pid, 0));
    } finally {
      await server.close();
    }
    gone(pid);
  });

  it('runs a tool of a child-process server, and leaves no process behind after agent.close()', async () => {
    const agent = new Agent({
      model: whoamiModel('local_whoami'),
      tools: [mcpTools({ command: process.execPath, args: [serverScript], prefix: 'local_', logger: quiet })],
    });
    let pid: number;
    try {
      pid = pidOf((await agent.run('who are you?')).content);
      assert.notEqual(pid, process.pid);
      assert.doesNotThrow(() => process.kill(pid, 0), 'the server runs while the agent is open');
    } finally {
      await agent.close();
    }
    gone(pid);
  });
});
