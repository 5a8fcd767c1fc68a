import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { z } from 'zod';
import { Agent, ApiKeyAuth, DefinableModule, defineTool, OpenAIChat } from '../../lib';
import { startFakeOpenAI } from '../../lib/testing';
import type { FakeOpenAIServer } from '../../lib/testing';
import { killHard, startChild } from '../support/child-process';
import { tempDir } from '../support/fixtures';
import { PLATFORMS, post, readSse, startApp, TestApp } from '../support/nest';

const ALICE = { 'x-api-key': 'alice-key-0001' };
const BOB = { 'x-api-key': 'bob-key-00001' };
const ADMIN = { 'x-api-key': 'admin-key-0001' };

/** The refund call the fake model makes, then its answer once it has the tool's result. */
function scriptRefund(fake: FakeOpenAIServer, amount = 250): void {
  fake.enqueue({ content: 'Refunding.', toolCalls: [{ id: 'call_r', name: 'refund', arguments: { order: '42', amount } }] }, { content: 'Done.' });
}

/** The tool message the model got in request `index`. */
function toolMessage(fake: FakeOpenAIServer, index: number): string | undefined {
  const messages: any[] = (fake.requests[index]?.body as any)?.messages ?? [];
  return messages.find((message) => message.role === 'tool')?.content;
}

async function events(url: string, runId: string, headers: Record<string, string>, after = 0): Promise<{ event: string; id?: number; data: any }[]> {
  const response = await fetch(`${url}/runs/${runId}/events`, { headers: { ...headers, ...(after ? { 'last-event-id': String(after) } : {}) } });
  assert.equal(response.status, 200);
  const out: { event: string; id?: number; data: any }[] = [];
  for await (const frame of readSse(response)) out.push({ event: frame.event, id: frame.id, data: frame.data });
  return out;
}

for (const platform of PLATFORMS) {
  describe(`tool approvals over HTTP on ${platform}`, () => {
    let fake: FakeOpenAIServer;
    let server: TestApp;
    const refunds: number[] = [];

    before(async () => {
      fake = await startFakeOpenAI();
      const refund = defineTool({
        name: 'refund',
        description: 'Refunds an order',
        parameters: z.object({ order: z.string(), amount: z.number() }),
        approval: ({ amount }) => amount > 100,
        execute: ({ amount }) => {
          refunds.push(amount);
          return `refunded ${amount}`;
        },
      });
      server = await startApp(platform, {
        imports: [
          DefinableModule.forRoot({
            agent: new Agent({ name: 'shop', model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 }), tools: [refund] }),
            auth: new ApiKeyAuth({
              keys: [
                { key: ALICE['x-api-key'], userId: 'alice' },
                { key: BOB['x-api-key'], userId: 'bob' },
              ],
              trusted: false,
            }),
          }),
        ],
      });
    });
    afterEach(() => {
      fake.reset();
      refunds.length = 0;
    });
    after(async () => {
      await server?.close();
      await fake?.close();
    });

    it('pauses a JSON /run, lists the approval for its user only, and goes on once approved: the tool runs once', async () => {
      scriptRefund(fake);
      const paused = await post(`${server.url}/run`, { input: 'refund order 42' }, ALICE);
      assert.equal(paused.status, 200);
      assert.equal(paused.body.status, 'paused');
      assert.equal(paused.body.content, 'Refunding.');
      const [pending] = paused.body.pending_approvals;
      assert.equal(pending.tool_name, 'refund');
      assert.deepEqual(pending.args, { order: '42', amount: 250 });
      assert.equal(pending.status, 'pending');
      assert.deepEqual(refunds, []);
      const runId = paused.body.run_id;
      const run = await fetch(`${server.url}/runs/${runId}`, { headers: ALICE }).then((res) => res.json() as Promise<any>);
      assert.equal(run.status, 'paused');

      const mine = await fetch(`${server.url}/approvals?status=pending`, { headers: ALICE }).then((res) => res.json() as Promise<any>);
      assert.deepEqual(
        mine.approvals.map((approval: any) => approval.approval_id),
        [pending.approval_id],
      );
      const bobs = await fetch(`${server.url}/approvals?status=pending`, { headers: BOB }).then((res) => res.json() as Promise<any>);
      assert.deepEqual(bobs.approvals, []);

      // Someone else cannot decide it (nor see it).
      const refused = await post(`${server.url}/runs/${runId}/approvals/${pending.approval_id}`, { approve: true }, BOB);
      assert.equal(refused.status, 404);
      assert.equal(refused.body.error.code, 'approval_not_found');

      const decided = await post(`${server.url}/runs/${runId}/approvals/${pending.approval_id}`, { approve: true }, ALICE);
      assert.equal(decided.status, 200);
      assert.equal(decided.body.continued, true);
      assert.equal(decided.body.approval.status, 'approved');
      assert.equal(decided.body.approval.decided_by, 'alice');

      const all = await events(server.url, runId, ALICE);
      const names = all.map((frame) => frame.event);
      // A JSON run records its terminal event only: the pause, then the continuation's events.
      assert.deepEqual(names.slice(0, 4), ['RunPaused', 'RunContinued', 'ToolCallStarted', 'ToolCallCompleted']);
      assert.equal(names.at(-1), 'RunCompleted');
      assert.deepEqual(
        all.map((frame) => frame.id),
        all.map((_, i) => i + 1),
        'one sequence across the pause',
      );
      assert.equal(all.at(-1)!.data.output.status, 'completed');
      assert.deepEqual(refunds, [250]);
      assert.equal(toolMessage(fake, 1), 'refunded 250');
      const ended = await fetch(`${server.url}/runs/${runId}`, { headers: ALICE }).then((res) => res.json() as Promise<any>);
      assert.equal(ended.status, 'completed');
      assert.equal(ended.output.content, 'Done.');

      // A decision is taken once.
      const again = await post(`${server.url}/runs/${runId}/approvals/${pending.approval_id}`, { approve: false }, ALICE);
      assert.equal(again.status, 404, 'the run went on: its approvals are gone');
    });

    it('refuses a second decision with 409, and gives the model the reason of a rejection', async () => {
      fake.enqueue({ toolCalls: [{ id: 'a', name: 'refund', arguments: { order: '1', amount: 500 } }, { id: 'b', name: 'refund', arguments: { order: '2', amount: 700 } }] }, { content: 'Understood.' });
      const paused = await post(`${server.url}/run`, { input: 'refund both' }, ALICE);
      const [first, second] = paused.body.pending_approvals;
      const runId = paused.body.run_id;
      const rejected = await post(`${server.url}/runs/${runId}/approvals/${first.approval_id}`, { approve: false, reason: 'not today' }, ALICE);
      assert.equal(rejected.body.continued, false, 'one approval is still pending');
      const twice = await post(`${server.url}/runs/${runId}/approvals/${first.approval_id}`, { approve: true }, ALICE);
      assert.equal(twice.status, 409);
      assert.equal(twice.body.error.code, 'approval_decided');
      assert.match(twice.body.error.message, /was rejected by alice/);
      const bad = await post(`${server.url}/runs/${runId}/approvals/${second.approval_id}`, { approve: 'yes' }, ALICE);
      assert.equal(bad.status, 400);
      const last = await post(`${server.url}/runs/${runId}/approvals/${second.approval_id}`, { approve: false }, ALICE);
      assert.equal(last.body.continued, true);
      const all = await events(server.url, runId, ALICE, paused.body.pending_approvals.length ? 1 : 0);
      assert.equal(all.at(-1)!.event, 'RunCompleted');
      assert.deepEqual(refunds, []);
      const tools: any[] = ((fake.requests[1]?.body as any)?.messages ?? []).filter((message: any) => message.role === 'tool');
      assert.deepEqual(
        tools.map((message) => message.content),
        ['The user rejected this call: not today', 'The user rejected this call.'],
      );
    });

    it('streams ToolApprovalRequested and ends the stream with RunPaused; a small refund needs no approval', async () => {
      scriptRefund(fake);
      const response = await fetch(`${server.url}/run`, { method: 'POST', headers: { ...ALICE, 'content-type': 'application/json' }, body: JSON.stringify({ input: 'refund', stream: true }) });
      const frames = [];
      for await (const frame of readSse(response)) frames.push({ event: frame.event, data: frame.data });
      assert.deepEqual(
        frames.slice(-2).map((frame) => frame.event),
        ['ToolApprovalRequested', 'RunPaused'],
      );
      assert.equal(frames.at(-2)!.data.tool_name, 'refund');
      assert.equal(frames.at(-1)!.data.pending_approvals[0].approval_id, frames.at(-2)!.data.approval_id);
      assert.equal(frames.at(-1)!.data.output.status, 'paused');

      fake.reset();
      scriptRefund(fake, 30);
      const small = await post(`${server.url}/run`, { input: 'small refund' }, ALICE);
      assert.equal(small.body.status, 'completed');
      assert.deepEqual(refunds, [30]);
    });
  });
}

describe('tool approvals with an approver rule', () => {
  let fake: FakeOpenAIServer;
  let server: TestApp;
  before(async () => {
    fake = await startFakeOpenAI();
    const wipe = defineTool({ name: 'wipe', description: 'Wipes a disk', parameters: z.object({ disk: z.string() }), approval: true, execute: () => 'wiped' });
    server = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 }), tools: [wipe] }),
          auth: new ApiKeyAuth({ keys: [{ key: ALICE['x-api-key'], userId: 'alice' }, { key: ADMIN['x-api-key'], userId: 'admin' }], trusted: false }),
          approvals: { approver: (principal) => principal?.userId === 'admin' },
        }),
      ],
    });
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('lets only whom the rule allows decide: the run\'s own user gets 403', async () => {
    fake.enqueue({ toolCalls: [{ name: 'wipe', arguments: { disk: 'sda' } }] }, { content: 'Wiped.' });
    const paused = await post(`${server.url}/run`, { input: 'wipe sda' }, ALICE);
    const { approval_id: approvalId } = paused.body.pending_approvals[0];
    const own = await post(`${server.url}/runs/${paused.body.run_id}/approvals/${approvalId}`, { approve: true }, ALICE);
    assert.equal(own.status, 403);
    assert.equal(own.body.error.code, 'approval_forbidden');
    const listed = await fetch(`${server.url}/approvals`, { headers: ADMIN }).then((res) => res.json() as Promise<any>);
    assert.equal(listed.approvals.length, 1);
    const admin = await post(`${server.url}/runs/${paused.body.run_id}/approvals/${approvalId}`, { approve: true }, ADMIN);
    assert.equal(admin.status, 200);
    assert.equal(admin.body.approval.decided_by, 'admin');
  });
});

describe('tool approvals across a restart (SQLite run store, the app killed with SIGKILL)', () => {
  let fake: FakeOpenAIServer;
  const dir = tempDir();
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(async () => {
    await fake?.close();
    dir.cleanup();
  });

  it('decides in a new process after the one that paused the run was killed: the run goes on and the tool runs once', async () => {
    const script = join(__dirname, '../support/approvals-app.js');
    const env = { APPROVALS_OPENAI_URL: fake.baseURL, APPROVALS_DB: join(dir.path, 'runs.db'), APPROVALS_LOG: join(dir.path, 'refunds.log') };
    const ready = (line: string) => (line.startsWith('http://') ? line : undefined);
    scriptRefund(fake);
    const first = await startChild(script, env, ready);
    let paused;
    try {
      paused = await post(`${first.said}/run`, { input: 'refund order 42' }, ALICE);
      assert.equal(paused.body.status, 'paused');
    } finally {
      await killHard(first.child);
    }
    const second = await startChild(script, env, ready);
    try {
      const runId = paused.body.run_id;
      const listed = await fetch(`${second.said}/approvals?status=pending`, { headers: ALICE }).then((res) => res.json() as Promise<any>);
      assert.equal(listed.approvals.length, 1);
      const decided = await post(`${second.said}/runs/${runId}/approvals/${paused.body.pending_approvals[0].approval_id}`, { approve: true }, ALICE);
      assert.equal(decided.status, 200);
      assert.equal(decided.body.continued, true);
      const all = await events(second.said, runId, ALICE);
      assert.deepEqual(all.slice(0, 2).map((frame) => frame.event), ['RunPaused', 'RunContinued']);
      assert.equal(all[0].data.output.status, 'paused');
      assert.equal(all.at(-1)!.event, 'RunCompleted');
      assert.equal(readFileSync(env.APPROVALS_LOG, 'utf8'), '42 250\n');
    } finally {
      await killHard(second.child);
    }
    assert.ok(existsSync(env.APPROVALS_DB));
  });
});

describe('a paused run on the protocol surfaces', () => {
  let fake: FakeOpenAIServer;
  let server: TestApp;
  before(async () => {
    fake = await startFakeOpenAI();
    const refund = defineTool({ name: 'refund', description: 'Refunds an order', parameters: z.object({ order: z.string(), amount: z.number() }), approval: true, execute: () => 'refunded' });
    server = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'shop', model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 }), tools: [refund] }),
          server: { openai: true },
        }),
      ],
    });
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('tells an OpenAI client which call waits and how to decide it, streamed or not', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    scriptRefund(fake);
    const { data: completion, response } = await client.chat.completions.create({ model: 'shop', messages: [{ role: 'user', content: 'refund 42' }] }).withResponse();
    const text = completion.choices[0].message.content!;
    const runId = response.headers.get('x-run-id')!;
    const listed = await fetch(`${server.url}/approvals?run_id=${runId}`).then((res) => res.json() as Promise<any>);
    const approvalId = listed.approvals[0].approval_id;
    assert.ok(text.startsWith('Refunding.\n\nWaiting for approval before going on: refund({"order":"42","amount":250})'), text);
    assert.ok(text.includes(`approval ${approvalId}`) && text.includes(`POST /runs/${runId}/approvals/`), text);
    fake.reset();
    scriptRefund(fake);
    const stream = await client.chat.completions.create({ model: 'shop', messages: [{ role: 'user', content: 'refund 42' }], stream: true });
    let streamed = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.match(streamed, /^Refunding\.\n\nWaiting for approval before going on: refund/);
    assert.equal(finish, 'stop');
  });
});
