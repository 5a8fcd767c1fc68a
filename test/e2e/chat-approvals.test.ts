import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Agent, ApiKeyAuth, DefinableModule, InterfaceSupervisor, OpenAIChat, RunApprovals, SignalInterface, TelegramInterface } from '../../lib';
import { startFakeOpenAI, startFakeSignal, startFakeTelegram } from '../../lib/testing';
import type { FakeOpenAIServer, FakeSignalServer, FakeTelegramServer, TelegramCall } from '../../lib/testing';
import { lastToolMessage, refundTool, scriptRefund } from '../support/approval-fixtures';
import { bootModule, flush, post, startApp, TestApp } from '../support/nest';

const TOKEN = '123456:test-token';
const OPS = { 'x-api-key': 'ops-key-000001' };
/** A Telegram user listed in the interface's `approvers`. */
const APPROVER = 500;

/** The approval id an approval message names. */
function approvalIdOf(text: string): string {
  const match = /Approval ([0-9A-Z]{8}), expires/.exec(text);
  assert.ok(match, text);
  return match[1];
}

describe('tool approvals in a Telegram chat (real telegraf, real openai against fakes)', { timeout: 60_000 }, () => {
  let model: FakeOpenAIServer;
  let telegram: FakeTelegramServer;
  let server: TestApp;
  const refunds: number[] = [];

  before(async () => {
    model = await startFakeOpenAI();
    telegram = await startFakeTelegram({ tokens: [TOKEN], maxHoldMs: 200 });
    server = await startApp('fastify', {
      imports: [
        DefinableModule.forRoot({
          agent: new Agent({ name: 'shop', model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: model.baseURL, maxRetries: 0 }), tools: [refundTool(refunds)] }),
          auth: new ApiKeyAuth({ keys: [{ key: OPS['x-api-key'], userId: 'ops' }] }),
          interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: telegram.apiRoot, approvers: [String(APPROVER)] })],
        }),
      ],
    });
    await telegram.waitForCall((call) => call.method === 'getUpdates');
    while (server.app.get(InterfaceSupervisor).status()[0].state !== 'running') await flush();
  });
  afterEach(() => {
    model.reset();
    refunds.length = 0;
  });
  after(async () => {
    await server?.close();
    await telegram?.close();
    await model?.close();
  });

  /** A user's message that makes the model call the refund tool: the approval message the chat gets. */
  async function pausedRefund(chatId: number, userId: number, chatType: 'private' | 'group' = 'private'): Promise<{ call: TelegramCall; approvalId: string; messageId: number }> {
    scriptRefund(model);
    telegram.sendUserMessage({ chatId, userId, text: 'refund order 42', chatType, messageId: 4000 + userId });
    const call = await telegram.waitForCall((candidate) => candidate.method === 'sendMessage' && Number(candidate.params.chat_id) === chatId && candidate.params.reply_markup !== undefined);
    return { call, approvalId: approvalIdOf(call.params.text), messageId: call.result!.message_id };
  }

  /** The edit of a message, once made. */
  function edited(chatId: number, messageId: number): Promise<TelegramCall> {
    return telegram.waitForCall((call) => call.method === 'editMessageText' && Number(call.params.chat_id) === chatId && Number(call.params.message_id) === messageId);
  }

  /** The first message sent to a chat with this text. */
  function sent(chatId: number, text: string): Promise<TelegramCall> {
    return telegram.waitForCall((call) => call.method === 'sendMessage' && Number(call.params.chat_id) === chatId && call.params.text === text);
  }

  it('sends the content, then an approval message with two buttons; a press by the same user runs the tool once, answers the callback, edits the message and the answer follows', async () => {
    const { call, approvalId, messageId } = await pausedRefund(7, 7);
    const texts = telegram.sentTexts(7);
    assert.equal(texts[0], 'Refunding.', 'the paused run\'s content first');
    assert.match(call.params.text, /^Approval needed: refund\(\{"order":"42","amount":250\}\)\n/);
    assert.match(call.params.text, new RegExp(`Reply "yes ${approvalId}" to approve or "no ${approvalId} \\[reason\\]" to reject\\.$`));
    const buttons = call.params.reply_markup.inline_keyboard.flat();
    assert.deepEqual(
      buttons.map((button: any) => button.text),
      ['Approve', 'Reject'],
    );
    assert.match(buttons[0].callback_data, new RegExp(`^apv:y:${approvalId}:[0-9a-f-]{36}$`));
    assert.ok(buttons.every((button: any) => Buffer.byteLength(button.callback_data) <= 64));
    assert.deepEqual(refunds, []);

    const queryId = telegram.pressButton({ chatId: 7, messageId, userId: 7, text: 'Approve' });
    const answered = await telegram.waitForCall((candidate) => candidate.method === 'answerCallbackQuery' && candidate.params.callback_query_id === queryId);
    assert.equal(answered.params.text, 'Approved');
    const answer = await sent(7, 'Done: refunded.');
    assert.equal(answer.params.reply_parameters.message_id, 4007, 'the answer replies to the message that asked');
    const edit = await edited(7, messageId);
    assert.equal(edit.params.text, 'refund({"order":"42","amount":250})\n✅ Approved by telegram:7');
    assert.equal(telegram.message(7, messageId)!.reply_markup, undefined, 'the buttons are gone');
    assert.deepEqual(refunds, [250]);
    assert.equal(lastToolMessage(model), 'refunded 250 on order 42');
  });

  it('refuses a press by someone else with an answered callback and decides nothing; an approver may decide', async () => {
    const { approvalId, messageId } = await pausedRefund(-100, 8, 'group');
    const queryId = telegram.pressButton({ chatId: -100, messageId, userId: 9, text: 'Reject' });
    const refused = await telegram.waitForCall((call) => call.method === 'answerCallbackQuery' && call.params.callback_query_id === queryId);
    assert.match(refused.params.text, /^Only the person who asked \(or an approver\) may decide approval/);
    assert.equal(refused.params.show_alert, true);
    const [still] = await server.app.get(RunApprovals).list(undefined, { status: 'pending' });
    assert.equal(still.approvalId, approvalId, 'nothing was decided');
    assert.equal(telegram.message(-100, messageId)!.reply_markup?.inline_keyboard.length, 1, 'the buttons stay');

    const approverQuery = telegram.pressButton({ chatId: -100, messageId, userId: APPROVER, text: 'Approve' });
    const approved = await telegram.waitForCall((call) => call.method === 'answerCallbackQuery' && call.params.callback_query_id === approverQuery);
    assert.equal(approved.params.text, 'Approved');
    await sent(-100, 'Done: refunded.');
    assert.equal((await edited(-100, messageId)).params.text, 'refund({"order":"42","amount":250})\n✅ Approved by telegram:500');
    assert.deepEqual(refunds, [250]);
  });

  it('edits the chat message and sends the answer when the decision is made over HTTP', async () => {
    const { call, approvalId, messageId } = await pausedRefund(21, 21);
    const runId = call.params.reply_markup.inline_keyboard[0][0].callback_data.split(':')[3];
    const decided = await post(`${server.url}/runs/${runId}/approvals/${approvalId}`, { approve: true }, OPS);
    assert.equal(decided.status, 200);
    assert.equal(decided.body.continued, true);
    assert.equal((await edited(21, messageId)).params.text, 'refund({"order":"42","amount":250})\n✅ Approved by ops');
    await sent(21, 'Done: refunded.');
    assert.deepEqual(refunds, [250]);
  });

  it('decides by text: "yes <id>" approves, "no <id> <reason>" rejects and the model gets the reason; unknown and decided ids are refused', async () => {
    const first = await pausedRefund(31, 31);
    telegram.sendUserMessage({ chatId: 31, userId: 31, text: `yes ${first.approvalId.toLowerCase()}` });
    await sent(31, 'Approved — going on.');
    await sent(31, 'Done: refunded.');
    assert.deepEqual(refunds, [250]);
    telegram.sendUserMessage({ chatId: 31, userId: 31, text: `no ${first.approvalId}` });
    const twice = await telegram.waitForCall((call) => call.method === 'sendMessage' && Number(call.params.chat_id) === 31 && /a decision is taken once|No approval/.test(call.params.text));
    // The run went on and left the store: its approval is no longer waiting.
    assert.equal(twice.params.text, `No approval ${first.approvalId} is waiting.`);

    model.reset();
    const second = await pausedRefund(32, 32);
    model.reset();
    model.enqueue({ content: 'Understood, no refund.' });
    telegram.sendUserMessage({ chatId: 32, userId: 32, text: `no ${second.approvalId} too expensive` });
    await sent(32, 'Rejected.');
    await sent(32, 'Understood, no refund.');
    assert.equal(lastToolMessage(model), 'The user rejected this call: too expensive');
    assert.equal((await edited(32, second.messageId)).params.text, 'refund({"order":"42","amount":250})\n❌ Rejected by telegram:32: too expensive');
    assert.deepEqual(refunds, [250], 'the rejected refund did not run');
  });
});

describe('tool approvals in a streaming Telegram chat', { timeout: 60_000 }, () => {
  it('sends the approval message after the streamed content (RunPaused); an approval past its time is shown expired and the run goes on', async () => {
    const model = await startFakeOpenAI();
    const telegram = await startFakeTelegram({ maxHoldMs: 200 });
    const refunds: number[] = [];
    // Approvals expire a millisecond after they are asked for: any decision comes too late.
    const agent = new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: model.baseURL, maxRetries: 0 }), tools: [refundTool(refunds)], approvals: { ttl: 1 } });
    const moduleRef = await bootModule({ agent, interfaces: [new TelegramInterface({ botToken: TOKEN, apiRoot: telegram.apiRoot, streaming: true, parseMode: null })] });
    try {
      await telegram.waitForCall((call) => call.method === 'getUpdates');
      scriptRefund(model, 'The refund expired; nothing was done.');
      telegram.sendUserMessage({ chatId: 51, userId: 51, text: 'refund order 42', messageId: 60 });
      const request = await telegram.waitForCall((call) => call.method === 'sendMessage' && call.params.reply_markup !== undefined);
      assert.equal(telegram.sentTexts(51)[0], 'Refunding.', 'the streamed content, then the approval');
      const messageId = request.result!.message_id;
      await moduleRef.get(RunApprovals).sweep();
      const edit = await telegram.waitForCall((call) => call.method === 'editMessageText' && Number(call.params.message_id) === messageId);
      assert.equal(edit.params.text, 'refund({"order":"42","amount":250})\n⌛ Expired');
      await telegram.waitForCall((call) => call.method === 'sendMessage' && call.params.text === 'The refund expired; nothing was done.');
      assert.equal(lastToolMessage(model), 'The user rejected this call: nobody approved it in time (expired).');
      assert.deepEqual(refunds, []);
    } finally {
      await moduleRef.close();
      await telegram.close();
      await model.close();
    }
  });
});

describe('tool approvals in a Signal chat (the text way)', { timeout: 60_000 }, () => {
  const BOT = '+15550001';
  let model: FakeOpenAIServer;
  let signal: FakeSignalServer;

  before(async () => {
    model = await startFakeOpenAI();
    signal = await startFakeSignal({ maxHoldMs: 200 });
  });
  after(async () => {
    await signal?.close();
    await model?.close();
  });

  it('asks in the chat, refuses someone else, and goes on when the person replies "yes <id>"', async () => {
    const refunds: number[] = [];
    const moduleRef = await bootModule({
      agent: new Agent({ model: new OpenAIChat({ id: 'gpt-4o', apiKey: 'k', baseURL: model.baseURL, maxRetries: 0 }), tools: [refundTool(refunds)] }),
      interfaces: [new SignalInterface({ baseUrl: signal.baseUrl, number: BOT, receiveTimeout: 1 })],
    });
    try {
      await signal.waitForCall((call) => call.path.startsWith('/v1/receive/'));
      scriptRefund(model);
      signal.receiveMessage({ number: BOT, from: '+15550002', text: 'refund order 42' });
      const request = await signal.waitForCall((call) => call.path === '/v2/send' && String(call.body.message).startsWith('Approval needed'));
      assert.deepEqual(signal.sentTo('+15550002')[0], 'Refunding.');
      const approvalId = approvalIdOf(request.body.message);
      assert.match(request.body.message, new RegExp(`Reply "yes ${approvalId}"`));

      signal.receiveMessage({ number: BOT, from: '+15550003', text: `yes ${approvalId}` });
      const refused = await signal.waitForCall((call) => call.path === '/v2/send' && call.body.recipients[0] === '+15550003');
      assert.match(refused.body.message, /^Only the person who asked \(or an approver\) may decide/);
      assert.deepEqual(refunds, []);

      signal.receiveMessage({ number: BOT, from: '+15550002', text: `yes ${approvalId}` });
      await signal.waitForCall((call) => call.path === '/v2/send' && call.body.message === 'Approved — going on.');
      const answer = await signal.waitForCall((call) => call.path === '/v2/send' && call.body.message === 'Done: refunded.');
      assert.deepEqual(answer.body.recipients, ['+15550002']);
      assert.deepEqual(refunds, [250]);
    } finally {
      await moduleRef.close();
    }
  });
});
