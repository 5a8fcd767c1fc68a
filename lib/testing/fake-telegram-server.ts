import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LongPoll } from './long-poll';

/** A call the fake Bot API received. */
export interface TelegramCall {
  method: string;
  token: string;
  params: Record<string, any>;
  at: number;
  /** What the fake answered for a `sendMessage` (the message, with its `message_id`): set before a waiter hears of the call. */
  result?: Record<string, any>;
}

/** An injected failure for the next call(s) of a method. */
export interface TelegramFailure {
  error_code: number;
  description: string;
  /** For 429: seconds to wait (sent as `parameters.retry_after`). */
  retry_after?: number;
  /** How many calls fail (default 1). */
  times?: number;
}

/** Options of {@link startFakeTelegram}. */
export interface FakeTelegramOptions {
  /** Tokens the fake accepts; others get 401. Default: any token. */
  tokens?: string[];
  /** The bot's own user. */
  bot?: { id: number; username: string };
  /** Longest a getUpdates waits for updates, in ms (capped by its `timeout`). Default 25,000. */
  maxHoldMs?: number;
}

/** A running fake Telegram Bot API (see {@link startFakeTelegram}). */
export interface FakeTelegramServer {
  /** The `apiRoot` for telegraf / `TelegramInterface`: `http://127.0.0.1:<port>`. */
  readonly apiRoot: string;
  /** Every API call, in order. */
  readonly calls: TelegramCall[];
  /** Queues a text message from a user as an update; returns the update id. */
  sendUserMessage(message: { chatId: number; userId: number; text: string; chatType?: 'private' | 'group'; firstName?: string; messageId?: number }): number;
  /** Queues a raw update (an `update_id` is assigned when absent). */
  pushUpdate(update: Record<string, any>): number;
  /** Makes the next call(s) of `method` fail. */
  fail(method: string, failure: TelegramFailure): void;
  /** Serves a file for `getFile` / downloads. */
  addFile(fileId: string, content: Buffer, path?: string): void;
  /** The highest offset a getUpdates confirmed (updates below it are acknowledged). */
  readonly confirmedOffset: number;
  /**
   * getUpdates answered 409 Conflict because another getUpdates of the same
   * token came while it was held — two pollers of one bot, as Telegram
   * answers them ("terminated by other getUpdates request").
   */
  readonly pollConflicts: number;
  /** The most getUpdates requests of one token that were open at once (1 when a single poller runs). */
  readonly maxConcurrentPolls: number;
  /** Resolves with the first call (past or future) matching the predicate. */
  waitForCall(predicate: (call: TelegramCall) => boolean): Promise<TelegramCall>;
  /** Texts sent with sendMessage to a chat, in order. */
  sentTexts(chatId: number): string[];
  /** A message the bot sent, as it stands now (edits applied; `reply_markup` absent once its buttons were removed). */
  message(chatId: number, messageId: number): { text: string; reply_markup?: { inline_keyboard: { text: string; callback_data?: string }[][] } } | undefined;
  /**
   * A user presses an inline button of a message the bot sent: queues a
   * `callback_query` update carrying the button's `callback_data` (throws when
   * the message has no such button). Returns the callback query's id.
   */
  pressButton(press: { chatId: number; messageId: number; userId: number; text: string; firstName?: string }): string;
  close(): Promise<void>;
}

/**
 * Starts a fake Telegram Bot API on 127.0.0.1 for the real `telegraf` client:
 * `getMe`, `deleteWebhook`, `setWebhook`, long-polling `getUpdates` (offset
 * confirmation as Telegram does it), `sendMessage` (with `parse_mode`
 * checking: unbalanced Markdown answers 400 "can't parse entities"),
 * `editMessageText` (400 for an unknown message, or one not modified; the
 * buttons go unless `reply_markup` is given again), inline keyboards
 * (`reply_markup` kept with the message) and their `callback_query` presses,
 * `answerCallbackQuery`, `sendChatAction`, `getFile` and file downloads, with
 * injectable failures (401, 409, 429 with `retry_after`, 5xx).
 */
export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegramServer> {
  const bot = options.bot ?? { id: 999_000, username: 'definable_test_bot' };
  const calls: TelegramCall[] = [];
  const updates: Record<string, any>[] = [];
  const failures = new Map<string, TelegramFailure[]>();
  const files = new Map<string, { content: Buffer; path: string }>();
  const longPoll = new LongPoll();
  const callWaiters: { predicate: (call: TelegramCall) => boolean; resolve: (call: TelegramCall) => void }[] = [];
  const sentMessages = new Map<string, { text: string; reply_markup?: any }>();
  let nextCallbackId = 1;
  let nextUpdateId = 1;
  let nextMessageId = 1000;
  let confirmedOffset = 0;
  let pollConflicts = 0;
  let maxConcurrentPolls = 0;
  /** Per token: getUpdates requests open, and how to end the one held (with 409, when a second poller comes). */
  const openPolls = new Map<string, number>();
  const heldResponse = new WeakMap<(instead: () => void) => void, ServerResponse>();
  const heldPolls = new Map<string, (instead: () => void) => void>();
  const wake = () => longPoll.wake();

  const record = (call: TelegramCall) => {
    calls.push(call);
    for (const waiter of [...callWaiters]) {
      if (waiter.predicate(call)) {
        callWaiters.splice(callWaiters.indexOf(waiter), 1);
        waiter.resolve(call);
      }
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => res.destroy()));
  });

  async function handle(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) {
      const found = [...files.values()].find((entry) => entry.path === decodeURIComponent(file[2]));
      if (!found) return void send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return void res.end(found.content);
    }
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!match) return void send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = match;
    let params: Record<string, any> = Object.fromEntries(url.searchParams);
    if (raw) {
      try {
        params = { ...params, ...JSON.parse(raw) };
      } catch {
        return void send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid JSON' });
      }
    }
    const call: TelegramCall = { method, token, params, at: Date.now() };
    record(call);
    if (options.tokens && !options.tokens.includes(token)) return void send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const queued = failures.get(method);
    if (queued?.length) {
      const failure = queued[0];
      failure.times = (failure.times ?? 1) - 1;
      if (failure.times <= 0) queued.shift();
      return void send(res, failure.error_code, {
        ok: false,
        error_code: failure.error_code,
        description: failure.description,
        ...(failure.retry_after !== undefined ? { parameters: { retry_after: failure.retry_after } } : {}),
      });
    }
    switch (method) {
      case 'getMe':
        return ok(res, { id: bot.id, is_bot: true, first_name: 'Definable Test', username: bot.username });
      case 'deleteWebhook':
      case 'setWebhook':
      case 'sendChatAction':
        return ok(res, true);
      case 'getUpdates':
        return getUpdates(res, params, token);
      case 'sendMessage': {
        if (params.parse_mode === 'Markdown' && !balancedMarkdown(String(params.text ?? ''))) {
          return void send(res, 400, { ok: false, error_code: 400, description: "Bad Request: can't parse entities: Can't find end of the entity" });
        }
        const messageId = nextMessageId++;
        const markup = params.reply_markup?.inline_keyboard?.length ? params.reply_markup : undefined;
        sentMessages.set(`${Number(params.chat_id)}:${messageId}`, { text: String(params.text), ...(markup ? { reply_markup: markup } : {}) });
        call.result = {
          message_id: messageId,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(params.chat_id), type: 'private' },
          from: { id: bot.id, is_bot: true, first_name: 'Definable Test' },
          text: params.text,
          ...(markup ? { reply_markup: markup } : {}),
        };
        return ok(res, call.result);
      }
      case 'editMessageText': {
        const key = `${Number(params.chat_id)}:${Number(params.message_id)}`;
        const current = sentMessages.get(key);
        if (!current) return void send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message to edit not found' });
        const markup = params.reply_markup?.inline_keyboard?.length ? params.reply_markup : undefined;
        if (current.text === String(params.text) && JSON.stringify(current.reply_markup) === JSON.stringify(markup)) {
          return void send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message' });
        }
        sentMessages.set(key, { text: String(params.text), ...(markup ? { reply_markup: markup } : {}) });
        return ok(res, { message_id: Number(params.message_id), chat: { id: Number(params.chat_id) }, text: params.text, ...(markup ? { reply_markup: markup } : {}) });
      }
      case 'answerCallbackQuery':
        if (!params.callback_query_id) return void send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
        return ok(res, true);
      case 'getFile': {
        const entry = files.get(String(params.file_id));
        if (!entry) return void send(res, 400, { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' });
        return ok(res, { file_id: params.file_id, file_unique_id: params.file_id, file_size: entry.content.length, file_path: entry.path });
      }
      default:
        return ok(res, true);
    }
  }

  function getUpdates(res: ServerResponse, params: Record<string, any>, token: string): void {
    const open = (openPolls.get(token) ?? 0) + 1;
    openPolls.set(token, open);
    maxConcurrentPolls = Math.max(maxConcurrentPolls, open);
    res.once('close', () => openPolls.set(token, (openPolls.get(token) ?? 1) - 1));
    // A second poller of one token: Telegram ends the held request with 409.
    const held = heldPolls.get(token);
    if (held) {
      heldPolls.delete(token);
      held(() => {
        pollConflicts++;
        send(heldResponse.get(held)!, 409, { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
      });
    }
    const offset = Number(params.offset ?? 0);
    if (offset > confirmedOffset) confirmedOffset = offset;
    // Confirmed updates are forgotten, as Telegram does.
    while (updates.length && updates[0].update_id < offset) updates.shift();
    const limit = Number(params.limit ?? 100);
    const respond = () => ok(res, updates.filter((update) => update.update_id >= offset).slice(0, limit));
    if (updates.some((update) => update.update_id >= offset) || !Number(params.timeout)) return respond();
    const release = longPoll.hold(res, Math.min(Number(params.timeout) * 1000, options.maxHoldMs ?? 25_000), () => {
      if (heldPolls.get(token) === release) heldPolls.delete(token);
      respond();
    });
    heldPolls.set(token, release);
    heldResponse.set(release, res);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const pushUpdate = (update: Record<string, any>) => {
    const id = update.update_id ?? nextUpdateId++;
    updates.push({ ...update, update_id: id });
    wake();
    return id;
  };

  return {
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    get confirmedOffset() {
      return confirmedOffset;
    },
    get pollConflicts() {
      return pollConflicts;
    },
    get maxConcurrentPolls() {
      return maxConcurrentPolls;
    },
    pushUpdate,
    sendUserMessage: ({ chatId, userId, text, chatType = 'private', firstName = 'User', messageId }) =>
      pushUpdate({
        message: {
          message_id: messageId ?? nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: chatType === 'private' ? { id: chatId, type: 'private', first_name: firstName } : { id: chatId, type: 'group', title: 'Group' },
          from: { id: userId, is_bot: false, first_name: firstName },
          text,
        },
      }),
    fail: (method, failure) => {
      const list = failures.get(method) ?? [];
      list.push({ ...failure });
      failures.set(method, list);
    },
    addFile: (fileId, content, path = `photos/${fileId}.jpg`) => void files.set(fileId, { content, path }),
    waitForCall: (predicate) =>
      new Promise((resolve) => {
        const found = calls.find(predicate);
        if (found) return resolve(found);
        callWaiters.push({ predicate, resolve });
      }),
    message: (chatId, messageId) => {
      const found = sentMessages.get(`${chatId}:${messageId}`);
      return found ? structuredClone(found) : undefined;
    },
    pressButton: ({ chatId, messageId, userId, text, firstName = 'User' }) => {
      const found = sentMessages.get(`${chatId}:${messageId}`);
      const button = found?.reply_markup?.inline_keyboard?.flat().find((candidate: { text: string }) => candidate.text === text);
      if (!found || !button) throw new Error(`Message ${messageId} in chat ${chatId} has no button "${text}".`);
      const id = String(nextCallbackId++);
      pushUpdate({
        callback_query: {
          id,
          from: { id: userId, is_bot: false, first_name: firstName },
          message: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' }, from: { id: bot.id, is_bot: true, first_name: 'Definable Test' }, text: found.text, reply_markup: found.reply_markup },
          chat_instance: String(chatId),
          data: button.callback_data,
        },
      });
      return id;
    },
    sentTexts: (chatId) => calls.filter((call) => call.method === 'sendMessage' && Number(call.params.chat_id) === chatId).map((call) => String(call.params.text)),
    close: () =>
      new Promise<void>((resolve) => {
        longPoll.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function ok(res: ServerResponse, result: unknown): void {
  send(res, 200, { ok: true, result });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

/** Telegram's legacy Markdown refuses unclosed `*`, `_`, `` ` `` and `[` entities. */
function balancedMarkdown(text: string): boolean {
  const withoutCode = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  if ((withoutCode.match(/`/g)?.length ?? 0) % 2) return false;
  return ['*', '_'].every((mark) => ((withoutCode.match(new RegExp(`\\${mark}`, 'g'))?.length ?? 0) % 2) === 0);
}
