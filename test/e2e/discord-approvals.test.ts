import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Agent, ApiKeyAuth, DefinableModule, DiscordInterface, InterfaceSupervisor, OpenAIChat, RunApprovals } from '../../lib';
import { startFakeDiscord, startFakeOpenAI } from '../../lib/testing';
import type { DiscordCall, FakeDiscordServer, FakeOpenAIServer } from '../../lib/testing';
import { lastToolMessage, refundTool } from '../support/approval-fixtures';
import { flush, post, startApp, TestApp } from '../support/nest';

const TOKEN = 'discord-test-token';
const OPS = { 'x-api-key': 'ops-key-000001' };
/** A Discord user listed in the interface's `approvers`. */
const APPROVER = '700000000000000500';
const CALL = 'refund({"order":"42","amount":250})';

// A hang guard, not a timing assertion.
describe('tool approvals in a Discord channel: buttons (real discord.js, real openai against fakes)', { timeout: 60_000 }, () => {
  let model: FakeOpenAIServer;
  let discord: FakeDiscordServer;
  let server: TestApp;
  const refunds: number[] = [];

  before(async () => {
    model = await startFakeOpenAI();
    discord = await startFakeDiscord({ token: TOKEN });
    server = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'shop', model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: model.baseURL, maxRetries: 0 }), tools: [refundTool(refunds)] }),
          auth: new ApiKeyAuth({ keys: [{ key: OPS['x-api-key'], userId: 'ops' }] }),
          interfaces: [
            new DiscordInterface({
              botToken: TOKEN,
              approvers: [APPROVER],
              clientOptions: { rest: { api: discord.api }, ws: { buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }) as never } },
            }),
          ],
        }),
      ],
    });
    await discord.waitForReady(1);
    while (server.app.get(InterfaceSupervisor).status()[0].state !== 'running') await flush();
  });
  afterEach(() => {
    model.reset();
    refunds.length = 0;
  });
  after(async () => {
    await server?.close();
    await discord?.close();
    await model?.close();
  });

  const channel = () => discord.guild.channelId;

  /** A member mentions the bot asking for a refund; the model calls the gated tool: the approval message the channel gets. */
  async function pausedRefund(userId: string, answer = 'Done: refunded.'): Promise<{ call: DiscordCall; messageId: string; askedId: string; approvalId: string; runId: string }> {
    model.enqueue({ content: 'Refunding.', toolCalls: [{ id: 'call_r', name: 'refund', arguments: { order: '42', amount: 250 } }] }, { content: answer });
    const askedId = discord.sendGuildMessage({ authorId: userId, content: `<@${discord.bot.id}> refund order 42` });
    const call = await discord.waitForCall(
      (candidate) => candidate.method === 'POST' && candidate.path === `/channels/${channel()}/messages` && candidate.body.message_reference?.message_id === askedId && candidate.body.components?.length > 0,
    );
    const [, , approvalId, runId] = call.body.components[0].components[0].custom_id.split(':');
    return { call, messageId: call.result.id, askedId, approvalId, runId };
  }

  /** The message posted to the channel with this content in reply to `askedId` (the answer of that message's run). */
  function answered(askedId: string, content: string): Promise<DiscordCall> {
    return discord.waitForCall(
      (call) => call.method === 'POST' && call.path === `/channels/${channel()}/messages` && call.body.content === content && call.body.message_reference?.message_id === askedId,
    );
  }

  it('sends the content, then an approval message with Approve / Reject buttons; a press by the same user is answered with UPDATE_MESSAGE (the decision, no buttons), the tool runs once and the answer follows', async () => {
    const { call, messageId, askedId, approvalId, runId } = await pausedRefund('700000000000000007');
    const sentBefore = discord.calls.filter((candidate) => candidate.method === 'POST' && candidate.path === `/channels/${channel()}/messages`).map((candidate) => candidate.body.content);
    assert.deepEqual(sentBefore.slice(-2, -1), ['Refunding.'], "the paused run's content first");
    assert.match(call.body.content, new RegExp(`^Approval needed: refund\\(\\{"order":"42","amount":250\\}\\)\\nApproval ${approvalId}, expires `));
    assert.equal(call.body.components.length, 1, 'one action row');
    const [row] = call.body.components;
    assert.equal(row.type, 1);
    assert.deepEqual(
      row.components.map((button: any) => [button.type, button.style, button.label]),
      [
        [2, 3, 'Approve'],
        [2, 4, 'Reject'],
      ],
    );
    assert.deepEqual(
      row.components.map((button: any) => button.custom_id),
      [`apv:y:${approvalId}:${runId}`, `apv:n:${approvalId}:${runId}`],
    );
    assert.match(runId, /^[0-9a-f-]{36}$/);
    assert.ok(row.components.every((button: any) => button.custom_id.length <= 100));
    assert.deepEqual(refunds, []);

    const interactionId = discord.pressButton({ channelId: channel(), messageId, userId: '700000000000000007', label: 'Approve' });
    const response = await discord.waitForInteractionResponse(interactionId);
    assert.equal(response.type, 7, 'UPDATE_MESSAGE');
    assert.equal(response.data.content, `${CALL}\n✅ Approved by discord:700000000000000007`);
    assert.deepEqual(response.data.components, [], 'the buttons removed');
    // The answer replies to the message that asked.
    await answered(askedId, 'Done: refunded.');
    assert.deepEqual(discord.message(channel(), messageId), { id: messageId, channelId: channel(), content: `${CALL}\n✅ Approved by discord:700000000000000007`, components: [], edited: true });
    assert.equal(
      discord.calls.filter((candidate) => candidate.method === 'PATCH' && candidate.path.endsWith(`/messages/${messageId}`)).length,
      0,
      'the interaction answer was the edit: no second one',
    );
    assert.deepEqual(refunds, [250], 'the tool ran once');
    assert.equal(lastToolMessage(model), 'refunded 250 on order 42');
  });

  it('refuses a press by someone else with an ephemeral reply, deciding nothing and keeping the buttons; an approver may decide', async () => {
    const { messageId, approvalId, askedId } = await pausedRefund('700000000000000008');
    const refusedId = discord.pressButton({ channelId: channel(), messageId, userId: '700000000000000009', label: 'Reject' });
    const refused = await discord.waitForInteractionResponse(refusedId);
    assert.equal(refused.type, 4, 'CHANNEL_MESSAGE_WITH_SOURCE');
    assert.equal(refused.ephemeral, true, 'flags 64: only the presser sees it');
    assert.equal(refused.data.flags, 64);
    assert.match(refused.data.content, new RegExp(`^Only the person who asked \\(or an approver\\) may decide approval ${approvalId}`));
    const [still] = await server.app.get(RunApprovals).list(undefined, { status: 'pending' });
    assert.equal(still.approvalId, approvalId, 'nothing was decided');
    const message = discord.message(channel(), messageId)!;
    assert.equal(message.edited, false, 'the message is unchanged');
    assert.equal(message.components[0].components.length, 2, 'the buttons stay');
    assert.deepEqual(refunds, []);

    const approvedId = discord.pressButton({ channelId: channel(), messageId, userId: APPROVER, label: 'Approve' });
    const approved = await discord.waitForInteractionResponse(approvedId);
    assert.equal(approved.type, 7);
    assert.equal(approved.data.content, `${CALL}\n✅ Approved by discord:${APPROVER}`);
    await answered(askedId, 'Done: refunded.');
    assert.deepEqual(discord.message(channel(), messageId)!.components, []);
    assert.deepEqual(refunds, [250]);
  });

  it('a Reject press by the same user is answered with the rejection; the tool does not run and the model hears it', async () => {
    const { messageId, askedId } = await pausedRefund('700000000000000010', 'Understood, no refund.');
    const interactionId = discord.pressButton({ channelId: channel(), messageId, userId: '700000000000000010', label: 'Reject' });
    const response = await discord.waitForInteractionResponse(interactionId);
    assert.equal(response.type, 7);
    assert.equal(response.data.content, `${CALL}\n❌ Rejected by discord:700000000000000010`);
    assert.deepEqual(response.data.components, []);
    await answered(askedId, 'Understood, no refund.');
    assert.match(lastToolMessage(model) ?? '', /^The user rejected this call/);
    assert.deepEqual(refunds, [], 'the rejected refund did not run');
  });

  it('edits the approval message, removing its buttons, when the decision is made over HTTP; the answer follows', async () => {
    const { messageId, approvalId, runId, askedId } = await pausedRefund('700000000000000021');
    const decided = await post(`${server.url}/runs/${runId}/approvals/${approvalId}`, { approve: true }, OPS);
    assert.equal(decided.status, 200);
    assert.equal(decided.body.continued, true);
    const edit = await discord.waitForCall((call) => call.method === 'PATCH' && call.path === `/channels/${channel()}/messages/${messageId}`);
    assert.equal(edit.body.content, `${CALL}\n✅ Approved by ops`);
    assert.deepEqual(edit.body.components, [], 'sent explicitly: Discord keeps what an edit omits');
    assert.deepEqual(discord.message(channel(), messageId), { id: messageId, channelId: channel(), content: `${CALL}\n✅ Approved by ops`, components: [], edited: true });
    await answered(askedId, 'Done: refunded.');
    assert.deepEqual(refunds, [250]);
  });
});

describe('the fake Discord keeps components as Discord does', { timeout: 30_000 }, () => {
  it('keeps the components a PATCH omits, removes them with components: [], and answers an interaction once', async () => {
    const fake = await startFakeDiscord({ token: TOKEN });
    const rest = async (method: string, path: string, body?: unknown, auth = true) => {
      const response = await fetch(`${fake.api}/v10${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bot ${TOKEN}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (response.status === 204 ? undefined : await response.json()) as any };
    };
    try {
      const row = { type: 1, components: [{ type: 2, style: 3, label: 'Go', custom_id: 'go' }] };
      const channelId = fake.guild.channelId;
      const sent = await rest('POST', `/channels/${channelId}/messages`, { content: 'first', components: [row] });
      assert.deepEqual(sent.body.components, [row]);
      const kept = await rest('PATCH', `/channels/${channelId}/messages/${sent.body.id}`, { content: 'second' });
      assert.deepEqual(kept.body.components, [row], 'an edit without components keeps them');
      assert.equal(fake.message(channelId, sent.body.id)!.content, 'second');
      assert.equal((await rest('PATCH', `/channels/${channelId}/messages/1`, { content: 'x' })).body.code, 10008, 'unknown message');

      // No gateway client here: the press is dispatched to nobody, the callback is answered all the same.
      const interactionId = fake.pressButton({ channelId, messageId: sent.body.id, userId: '5', label: 'Go' });
      const callback = `/interactions/${interactionId}/interaction-token-${interactionId}/callback`;
      assert.equal((await rest('POST', `/interactions/${interactionId}/wrong-token/callback`, { type: 6 }, false)).body.code, 10062);
      assert.equal((await rest('POST', callback, { type: 7, data: { content: 'done', components: [] } }, false)).status, 204, 'no bot token needed');
      assert.deepEqual(fake.message(channelId, sent.body.id), { id: sent.body.id, channelId, content: 'done', components: [], edited: true });
      assert.equal((await rest('POST', callback, { type: 7, data: { content: 'again' } }, false)).body.code, 40060, 'answered once');
      assert.deepEqual(await fake.waitForInteractionResponse(interactionId), { type: 7, data: { content: 'done', components: [] }, ephemeral: false });
      assert.throws(() => fake.pressButton({ channelId, messageId: sent.body.id, userId: '5', label: 'Go' }), /has no button "Go"/);
    } finally {
      await fake.close();
    }
  });
});
