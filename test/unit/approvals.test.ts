import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { z } from 'zod';
import { Agent, ApprovalError, defineTool, messageText, RunEvent } from '../../lib';
import { TestModel, TestModelCall } from '../../lib/testing';
import { collect } from '../support/fixtures';

/** The tool results the model was given in its last call, as text. */
function toolResults(call: TestModelCall): string[] {
  const out: string[] = [];
  for (let i = call.messages.length - 1; i >= 0 && call.messages[i].role === 'tool'; i--) out.unshift(messageText(call.messages[i]));
  return out;
}

function setup(options: { threshold?: boolean; ttl?: number } = {}) {
  const refunds: number[] = [];
  const lookups: string[] = [];
  const refund = defineTool({
    name: 'refund',
    description: 'Refunds an order',
    parameters: z.object({ order: z.string(), amount: z.number() }),
    approval: options.threshold ? ({ amount }) => amount > 100 : true,
    execute: ({ amount }) => {
      refunds.push(amount);
      return `refunded ${amount}`;
    },
  });
  const lookup = defineTool({
    name: 'lookup',
    description: 'Looks an order up',
    parameters: z.object({ order: z.string() }),
    execute: ({ order }) => {
      lookups.push(order);
      return `order ${order}: shipped`;
    },
  });
  const model = new TestModel({
    responses: (call) => {
      const results = toolResults(call);
      if (results.length) return `done: ${results.join(' / ')}`;
      const text = messageText(call.messages.at(-1)!);
      if (text === 'big') return { content: 'Refunding.', toolCalls: [{ name: 'refund', args: { order: 'A1', amount: 250 } }] };
      if (text === 'small') return { toolCalls: [{ name: 'refund', args: { order: 'A2', amount: 20 } }] };
      if (text === 'both') return { toolCalls: [{ name: 'lookup', args: { order: 'B1' } }, { name: 'refund', args: { order: 'B1', amount: 500 } }] };
      return `echo: ${text}`;
    },
  });
  const agent = new Agent({ name: 'shop', model, tools: [refund, lookup], ...(options.ttl ? { approvals: { ttl: options.ttl } } : {}) });
  return { agent, model, refunds, lookups };
}

describe('tool approvals in the agent core', () => {
  it('pauses a run at a call needing approval: run() resolves paused with the pending approval, the tool has not run', async () => {
    const { agent, refunds } = setup();
    const output = await agent.run('big', { userId: 'alice', sessionId: 's1' });
    assert.equal(output.status, 'paused');
    assert.equal(output.content, 'Refunding.');
    assert.equal(output.pendingApprovals?.length, 1);
    const [approval] = output.pendingApprovals!;
    assert.equal(approval.toolName, 'refund');
    assert.deepEqual(approval.args, { order: 'A1', amount: 250 });
    assert.equal(approval.status, 'pending');
    assert.equal(approval.userId, 'alice');
    assert.match(approval.approvalId, /^[0-9A-Z]{8}$/);
    assert.ok(approval.expiresAt - approval.requestedAt === 24 * 60 * 60 * 1000);
    assert.deepEqual(refunds, []);
    // Nothing is stored in the session until the run ends.
    assert.equal((await agent.sessionStore.getMessages('s1', undefined, { userId: 'alice' })).length, 0);
    assert.deepEqual(await agent.approvalStore.list({ status: 'pending' }), [approval]);
  });

  it('streams ToolApprovalRequested then ends with RunPaused', async () => {
    const { agent } = setup();
    const events = await collect(agent.stream('big'));
    const names = events.map((event) => event.event);
    assert.deepEqual(names.slice(-2), ['ToolApprovalRequested', 'RunPaused']);
    assert.ok(!names.includes('ToolCallStarted'));
    const requested = events.at(-2) as Extract<RunEvent, { event: 'ToolApprovalRequested' }>;
    const paused = events.at(-1) as Extract<RunEvent, { event: 'RunPaused' }>;
    assert.equal(paused.pendingApprovals[0].approvalId, requested.approvalId);
    assert.equal(paused.pendingApprovals[0].expiresAt, requested.expiresAt);
    assert.equal(paused.output.status, 'paused');
  });

  it('approved: the tool runs once when the run goes on, and the answer arrives; the session gets the whole turn', async () => {
    const { agent, refunds, model } = setup();
    const paused = await agent.run('big', { userId: 'alice', sessionId: 's2' });
    const approvalId = paused.pendingApprovals![0].approvalId;
    await assert.rejects(agent.resume(paused.runId), (error: ApprovalError) => error.code === 'approval_pending' && error.message.includes(approvalId));
    const decided = await agent.decide(paused.runId, approvalId, { approve: true, decidedBy: 'alice' });
    assert.equal(decided.ready, true);
    assert.equal(decided.approval.status, 'approved');
    assert.equal(decided.approval.decidedBy, 'alice');
    const events = await collect(agent.resumeStream(paused.runId));
    assert.deepEqual(
      events.map((event) => event.event),
      ['RunContinued', 'ToolCallStarted', 'ToolCallCompleted', 'RunContent', 'RunContentCompleted', 'RunCompleted'],
    );
    const completed = events.at(-1) as Extract<RunEvent, { event: 'RunCompleted' }>;
    assert.equal(completed.runId, paused.runId);
    assert.equal(completed.output.content, 'done: refunded 250');
    assert.equal(completed.output.status, 'completed');
    assert.deepEqual(refunds, [250]);
    assert.equal(completed.output.toolCalls.length, 1);
    assert.equal(model.calls.length, 2);
    const stored = await agent.sessionStore.getMessages('s2', undefined, { userId: 'alice' });
    assert.deepEqual(
      stored.map((message) => message.role),
      ['user', 'assistant', 'tool', 'assistant'],
    );
    // It went on once: the paused run is gone.
    await assert.rejects(agent.resume(paused.runId), (error: ApprovalError) => error.code === 'approval_not_found');
    assert.deepEqual(await agent.approvalStore.list(), []);
  });

  it('rejected: the model is told the reason and the run goes on; the tool never runs', async () => {
    const { agent, refunds, model } = setup();
    const paused = await agent.run('big');
    await agent.decide(paused.runId, paused.pendingApprovals![0].approvalId, { approve: false, reason: 'too expensive', decidedBy: 'bob' });
    const output = await agent.resume(paused.runId);
    assert.equal(output.content, 'done: The user rejected this call: too expensive');
    assert.deepEqual(refunds, []);
    assert.deepEqual(toolResults(model.calls.at(-1)!), ['The user rejected this call: too expensive']);
    assert.equal(output.toolCalls[0].error, 'The user rejected this call: too expensive');
  });

  it('takes a decision once: a second one is refused and the first stands', async () => {
    const { agent } = setup();
    const paused = await agent.run('big');
    const { approvalId } = paused.pendingApprovals![0];
    await agent.decide(paused.runId, approvalId, { approve: false, decidedBy: 'bob' });
    await assert.rejects(agent.decide(paused.runId, approvalId, { approve: true, decidedBy: 'mallory' }), (error: ApprovalError) => {
      assert.equal(error.code, 'approval_decided');
      assert.match(error.message, /was rejected by bob/);
      return true;
    });
    await assert.rejects(agent.decide(paused.runId, 'NOPE0000', { approve: true, decidedBy: 'bob' }), (error: ApprovalError) => error.code === 'approval_not_found');
    assert.equal((await agent.approvalStore.list({ runId: paused.runId }))[0].status, 'rejected');
  });

  it('asks only when the approval rule says so (amount > 100)', async () => {
    const { agent, refunds } = setup({ threshold: true });
    const small = await agent.run('small');
    assert.equal(small.status, 'completed');
    assert.deepEqual(refunds, [20]);
    const big = await agent.run('big');
    assert.equal(big.status, 'paused');
    assert.deepEqual(refunds, [20]);
  });

  it('runs the other calls of the paused round at once, and gives the model every result in the order of the calls', async () => {
    const { agent, refunds, lookups, model } = setup();
    const paused = await agent.run('both');
    assert.deepEqual(lookups, ['B1']);
    assert.deepEqual(refunds, []);
    assert.equal(paused.toolCalls.length, 1);
    await agent.decide(paused.runId, paused.pendingApprovals![0].approvalId, { approve: true, decidedBy: 'alice' });
    const output = await agent.resume(paused.runId);
    assert.deepEqual(lookups, ['B1'], 'the lookup ran once');
    assert.deepEqual(refunds, [500]);
    assert.deepEqual(toolResults(model.calls.at(-1)!), ['order B1: shipped', 'refunded 500']);
    assert.equal(output.content, 'done: order B1: shipped / refunded 500');
  });

  it('lets exactly one of two concurrent resumes go on', async () => {
    const { agent, refunds } = setup();
    const paused = await agent.run('big');
    await agent.decide(paused.runId, paused.pendingApprovals![0].approvalId, { approve: true, decidedBy: 'alice' });
    const results = await Promise.allSettled([agent.resume(paused.runId), agent.resume(paused.runId)]);
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
    const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    assert.ok(refused.reason instanceof ApprovalError);
    assert.deepEqual(refunds, [250]);
  });

  it('rejects a call nobody decided in time as expired', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-12-06T10:00:00Z') });
    const { agent, refunds, model } = setup({ ttl: 60_000 });
    const paused = await agent.run('big');
    const { approvalId } = paused.pendingApprovals![0];
    t.mock.timers.tick(60_001);
    await assert.rejects(agent.decide(paused.runId, approvalId, { approve: true, decidedBy: 'alice' }), (error: ApprovalError) => {
      assert.equal(error.code, 'approval_decided');
      assert.match(error.message, /expired/);
      return true;
    });
    const output = await agent.resume(paused.runId);
    assert.deepEqual(refunds, []);
    assert.match(toolResults(model.calls.at(-1)!)[0], /expired/);
    assert.equal(output.toolCalls[0].error, 'The user rejected this call: nobody approved it in time (expired).');
  });

  it('checks the approval option of defineTool', () => {
    assert.throws(
      () => defineTool({ name: 't', description: 'd', parameters: z.object({}), execute: () => 1, approval: 'yes' as unknown as boolean }),
      /approval must be true, false or a function/,
    );
    assert.throws(() => new Agent({ model: new TestModel(), approvals: { ttl: -1 } }), /approvals.ttl must be a positive number/);
    void mock;
  });
});
