import type { Context, Telegraf } from 'telegraf';
import type { ApprovalRecord, FileInput, ImageInput } from '../../agent';
import type { ChatTarget, InboundMessage } from '../inbound-message';
import { timingSafeEqual } from 'node:crypto';
import { tokenDigest } from '../token-digest';
import { DefinableHttpError } from '../../module/http-errors';
import { areRoutesMounted } from '../interface-routes';
import {
  InterfaceAuthError,
  InterfaceConflictError,
  InterfaceOptions,
  InterfaceRoute,
  InterfaceRuntime,
  loadPlatformPackage,
  MessagingInterface,
} from '../messaging-interface';

/** Options of {@link TelegramInterface}. */
export interface TelegramInterfaceOptions extends InterfaceOptions {
  /** The bot token from @BotFather (not needed when attaching to an existing bot). */
  botToken?: string;
  /**
   * `'polling'` (the default), or `'webhook'`: Telegram posts updates to `webhookUrl`, served by a
   * route on the app's own server (mounted by `DefinableModule.forRoot()`), checked against
   * `webhookSecret`.
   */
  mode?: 'polling' | 'webhook';
  /** Webhook mode: the public HTTPS URL Telegram posts to, e.g. `https://bot.example.com/telegram/webhook`. */
  webhookUrl?: string;
  /** Webhook mode: the secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (1–256 of A-Z a-z 0-9 _ -). */
  webhookSecret?: string;
  /** Webhook mode: the route path on this server. Default: the path of `webhookUrl`. */
  webhookPath?: string;
  /** A Bot API server other than Telegram's (a local Bot API server, or a fake in tests). */
  apiRoot?: string;
  /** Use this bot. Default: the `nestjs-telegraf` bot of the app if there is one, else a new `Telegraf`. */
  bot?: Telegraf;
  /** How replies are formatted. Default `'Markdown'`; a parse error falls back to plain text. `null` sends plain text. */
  parseMode?: 'Markdown' | 'MarkdownV2' | 'HTML' | null;
  /** Largest photo or document downloaded for the agent, in bytes. Default 10 MiB. */
  maxFileBytes?: number;
}

const TEXT_DOCUMENTS = /^(text\/|application\/json)/;
/** An approval button's `callback_data`: `apv:<y|n>:<approval id>[:<run id>]` (the run's id when it fits Telegram's 64 bytes). */
const APPROVAL_BUTTON = /^apv:([yn]):([0-9A-Z]{8})(?::(.+))?$/;
const MAX_SEND_ATTEMPTS = 4;

/**
 * Telegram on `telegraf`. Long polling is at-least-once: telegraf confirms a
 * batch's offset only when the next `getUpdates` goes out, after each update
 * has been handed to the pipeline and recorded, so a crash re-delivers rather
 * than loses. Attaches to the app's `nestjs-telegraf` bot when it has one (one
 * poller per token), always installs `bot.catch`, and reports a poller that
 * stops (409 Conflict, 401, network) to the supervisor.
 */
export class TelegramInterface extends MessagingInterface {
  readonly platform = 'telegram';
  readonly maxMessageLength = 4096;
  override readonly typingIntervalMs = 4000;
  private bot?: Telegraf;
  /** The app's `nestjs-telegraf` bot, when that is the one in use. */
  private appBot?: Telegraf;
  private handlerInstalled = false;
  private runtime?: InterfaceRuntime;
  private polling?: Promise<void>;
  private stopRequested = false;

  constructor(override readonly options: TelegramInterfaceOptions = {}) {
    super(options);
    if (options.mode !== undefined && options.mode !== 'polling' && options.mode !== 'webhook') {
      throw new TypeError(`TelegramInterface: mode must be 'polling' or 'webhook', got "${options.mode}".`);
    }
    if (options.mode === 'webhook') {
      if (!options.webhookUrl || !/^https?:\/\//.test(options.webhookUrl)) {
        throw new TypeError("TelegramInterface webhook mode needs webhookUrl, the public URL Telegram posts to, e.g. 'https://bot.example.com/telegram/webhook'.");
      }
      if (!options.webhookSecret || !/^[A-Za-z0-9_-]{1,256}$/.test(options.webhookSecret)) {
        throw new TypeError('TelegramInterface webhook mode needs webhookSecret: 1 to 256 letters, digits, "_" or "-" (Telegram sends it back in every request).');
      }
    }
  }

  /** `nestjs-telegraf`'s token for its default bot, when that package is installed. */
  override appClientToken(): unknown {
    if (this.options.bot) return undefined;
    try {
      return (require('nestjs-telegraf') as { getBotToken(name?: string): string }).getBotToken();
    } catch {
      return undefined;
    }
  }

  /** The bot of the options, else the app's `nestjs-telegraf` bot, else a new `Telegraf` (not launched). */
  override resolveClient(appClient: unknown): Telegraf | null {
    if (this.options.bot) return this.options.bot;
    if (isTelegraf(appClient)) {
      this.appBot = appClient;
      return appClient;
    }
    try {
      return this.createBot();
    } catch {
      // No token or no telegraf package: start() throws the same error, and the supervisor parks the interface.
      return null;
    }
  }

  override useClient(client: unknown): void {
    if (!isTelegraf(client) || this.bot) return;
    if (client === this.appBot) {
      // nestjs-telegraf stops the bot in its own shutdown hook, after ours has: its second stop()
      // would throw "Bot is not running!" and fail app.close().
      const stop = client.stop.bind(client);
      client.stop = (reason?: string) => {
        try {
          stop(reason);
        } catch {
          /* already stopped */
        }
      };
    }
    this.bot = client;
  }

  /** Webhook mode: the update route, mounted on the app's server inside Nest routing. */
  override routes(): InterfaceRoute[] {
    if (this.options.mode !== 'webhook') return [];
    const path = this.options.webhookPath ?? new URL(this.options.webhookUrl!).pathname;
    return [{ method: 'POST', path, handle: (body, headers) => this.handleWebhook(body, headers) }];
  }

  /** Verifies the secret, hands the update over, and answers 200 only once it is recorded (Telegram retries otherwise). */
  private async handleWebhook(update: unknown, headers: Record<string, string | string[] | undefined>): Promise<{ ok: true }> {
    const secret = headers['x-telegram-bot-api-secret-token'];
    if (!this.options.webhookSecret || typeof secret !== 'string' || !sameSecret(secret, this.options.webhookSecret)) {
      throw new DefinableHttpError(401, 'unauthorized', 'Missing or wrong X-Telegram-Bot-Api-Secret-Token.');
    }
    if (!this.runtime || this.stopRequested) throw new DefinableHttpError(503, 'not_running', 'The Telegram interface is not running; Telegram will retry.');
    if (!update || typeof update !== 'object' || typeof (update as { update_id?: unknown }).update_id !== 'number') {
      throw new DefinableHttpError(400, 'invalid_request', 'The body is not a Telegram update.');
    }
    await this.getBot().handleUpdate(update as never);
    return { ok: true };
  }

  /** One poller per bot token (Telegram answers a second one with 409 Conflict); in webhook mode any replica takes updates. */
  override exclusiveKey(): string | undefined {
    if (this.options.mode === 'webhook') return undefined;
    return this.options.botToken ? `telegram:${tokenDigest(this.options.botToken)}` : super.exclusiveKey();
  }

  async start(runtime: InterfaceRuntime): Promise<void> {
    const bot = this.getBot();
    this.runtime = runtime;
    this.stopRequested = false;
    if (this.options.mode === 'webhook') {
      if (!areRoutesMounted(this)) {
        throw new InterfaceAuthError(
          'TelegramInterface webhook mode needs its route: pass the interface to DefinableModule.forRoot() or serve() (forRootAsync builds interfaces too late), or use polling.',
        );
      }
      try {
        bot.botInfo ??= await bot.telegram.getMe();
        await bot.telegram.setWebhook(this.options.webhookUrl!, { secret_token: this.options.webhookSecret, drop_pending_updates: false });
      } catch (error) {
        throw classify(error);
      }
      return;
    }
    bot.catch((error) => runtime.crashed(error instanceof Error ? error : new Error(String(error))));
    await new Promise<void>((resolve, reject) => {
      let launched = false;
      this.polling = bot
        .launch({ dropPendingUpdates: false }, () => {
          launched = true;
          resolve();
        })
        .then(
          () => {
            if (!this.stopRequested) runtime.crashed(new Error('Telegram polling stopped unexpectedly.'));
          },
          (error: unknown) => {
            const failure = classify(error);
            if (!launched) reject(failure);
            else if (!this.stopRequested) runtime.crashed(failure);
          },
        );
    });
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    // Webhook mode keeps its webhook: Telegram holds updates until the app is back.
    if (this.options.mode === 'webhook') return;
    try {
      this.bot?.stop('definable shutdown');
    } catch {
      // "Bot is not running!": nothing to stop.
    }
    await this.polling?.catch(() => {});
  }

  async sendText(target: ChatTarget, text: string): Promise<{ messageId: string }> {
    return this.send(target, text, {});
  }

  /** The approval message with an inline keyboard: Approve / Reject, pressed through `callback_query`. */
  override async sendApproval(target: ChatTarget, approval: ApprovalRecord, text: string): Promise<{ messageId: string }> {
    const data = (answer: 'y' | 'n') => {
      const full = `apv:${answer}:${approval.approvalId}:${approval.runId}`;
      return Buffer.byteLength(full) <= 64 ? full : `apv:${answer}:${approval.approvalId}`;
    };
    return this.send(target, text, {
      reply_markup: {
        inline_keyboard: [
          [
            { text: 'Approve', callback_data: data('y') },
            { text: 'Reject', callback_data: data('n') },
          ],
        ],
      },
    });
  }

  private async send(target: ChatTarget, text: string, extra: Record<string, unknown>): Promise<{ messageId: string }> {
    const bot = this.getBot();
    const base = { ...extra, ...(target.replyTo ? { reply_parameters: { message_id: Number(target.replyTo), allow_sending_without_reply: true } } : {}) };
    const parseMode = this.options.parseMode === undefined ? 'Markdown' : this.options.parseMode;
    const sent = await retrying(async () => {
      try {
        return await bot.telegram.sendMessage(target.chatId, text, { ...base, ...(parseMode ? { parse_mode: parseMode } : {}) });
      } catch (error) {
        // Model output is not always valid Telegram markup: send it as it is.
        if (parseMode && describe(error).includes("can't parse entities")) return bot.telegram.sendMessage(target.chatId, text, base);
        throw error;
      }
    });
    return { messageId: String(sent.message_id) };
  }

  async sendTyping(chatId: string): Promise<void> {
    await this.getBot().telegram.sendChatAction(chatId, 'typing');
  }

  override async editText(chatId: string, messageId: string, text: string): Promise<void> {
    await retrying(async () => {
      try {
        // Without reply_markup Telegram removes the message's buttons (an approval's, once decided).
        await this.getBot().telegram.editMessageText(chatId, Number(messageId), undefined, text);
      } catch (error) {
        if (!describe(error).includes('message is not modified')) throw error;
      }
    });
  }

  private createBot(): Telegraf {
    if (!this.options.botToken) {
      throw new InterfaceAuthError("TelegramInterface needs a botToken (or a bot, or nestjs-telegraf's TelegrafModule in the app).");
    }
    const { Telegraf: TelegrafClass } = loadTelegraf();
    return new TelegrafClass(this.options.botToken, this.options.apiRoot ? { telegram: { apiRoot: this.options.apiRoot } } : {});
  }

  private getBot(): Telegraf {
    this.bot ??= this.options.bot ?? this.createBot();
    if (!this.handlerInstalled) {
      this.handlerInstalled = true;
      this.bot.on('message', (ctx) => this.onMessage(ctx));
      this.bot.on('callback_query', (ctx) => this.onCallbackQuery(ctx));
    }
    return this.bot;
  }

  /** Hands a message to the pipeline; telegraf awaits this before it confirms the update's offset. */
  private async onMessage(ctx: Context): Promise<void> {
    const message = ctx.message as any;
    if (!message || !this.runtime) return;
    const inbound = await this.normalise(ctx, message);
    if (inbound) await this.runtime.receive(inbound);
  }

  /**
   * An approval button pressed: decided for whoever pressed it (the pipeline
   * checks they may), answered with a short text either way — Telegram shows
   * a spinner on the button until the callback is answered.
   */
  private async onCallbackQuery(ctx: Context): Promise<void> {
    const query = ctx.callbackQuery as any;
    const match = typeof query?.data === 'string' ? APPROVAL_BUTTON.exec(query.data) : null;
    // An answer that fails (the query is too old) must not stop the poller: there is nothing more to do.
    const answerQuery = (text?: string, alert = false) => ctx.answerCbQuery(text, text ? { show_alert: alert } : undefined).catch(() => {});
    if (!match || !this.runtime?.decide) return void (await answerQuery());
    const [, answer, approvalId, runId] = match;
    const chatId = String(query.message?.chat?.id ?? query.from.id);
    const result = await this.runtime.decide({ chatId, senderId: String(query.from.id), approvalId, ...(runId ? { runId } : {}), approve: answer === 'y' });
    // A callback answer holds at most 200 characters.
    await answerQuery(result.decided ? (answer === 'y' ? 'Approved' : 'Rejected') : result.text.slice(0, 200), !result.decided);
  }

  private async normalise(ctx: Context, message: any): Promise<InboundMessage | undefined> {
    const text: string = message.text ?? message.caption ?? '';
    const images: ImageInput[] = [];
    const files: FileInput[] = [];
    if (Array.isArray(message.photo) && message.photo.length) {
      const largest = message.photo[message.photo.length - 1];
      const data = await this.download(largest.file_id, largest.file_size);
      if (data) images.push({ data, mimeType: 'image/jpeg' });
    }
    if (message.document && TEXT_DOCUMENTS.test(message.document.mime_type ?? '')) {
      const data = await this.download(message.document.file_id, message.document.file_size);
      if (data) files.push({ name: message.document.file_name ?? 'document.txt', content: data, mimeType: message.document.mime_type });
    }
    if (!text && !images.length && !files.length) return undefined;
    return {
      platform: this.platform,
      messageId: String(message.message_id),
      chatId: String(message.chat.id),
      direct: message.chat.type === 'private',
      senderId: String(message.from?.id ?? message.chat.id),
      senderName: message.from?.first_name,
      fromSelf: Boolean(message.from && ctx.botInfo && message.from.id === ctx.botInfo.id),
      text,
      ...(message.reply_to_message ? { replyTo: { messageId: String(message.reply_to_message.message_id), text: message.reply_to_message.text } } : {}),
      ...(images.length ? { images } : {}),
      ...(files.length ? { files } : {}),
      raw: message,
    };
  }

  /** Downloads a file for the agent (never hands it the token-bearing URL). */
  private async download(fileId: string, size: number | undefined): Promise<Buffer | undefined> {
    const limit = this.options.maxFileBytes ?? 10 * 1024 * 1024;
    if (size !== undefined && size > limit) return undefined;
    const link = await this.getBot().telegram.getFileLink(fileId);
    const response = await fetch(link);
    if (!response.ok) throw new Error(`Telegram file download failed: HTTP ${response.status}`);
    const data = Buffer.from(await response.arrayBuffer());
    return data.length > limit ? undefined : data;
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Telegram 401 / 409 become the supervisor's auth / conflict errors. */
function classify(error: unknown): Error {
  const code = (error as { code?: unknown })?.code;
  const message = describe(error);
  if (code === 401) return new InterfaceAuthError(`Telegram refused the bot token (401): ${message}.`);
  if (code === 409) return new InterfaceConflictError(`another client is polling this bot token (409 Conflict): ${message}. Run one poller per token.`);
  return error instanceof Error ? error : new Error(message);
}

function describe(error: unknown): string {
  const response = (error as { response?: { description?: unknown } })?.response;
  return String(response?.description ?? (error instanceof Error ? error.message : error));
}

/** Retries a Bot API call answered 429 after the `retry_after` it names (a few times at most). */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retryAfter = (error as { code?: number; parameters?: { retry_after?: number } })?.parameters?.retry_after;
      if ((error as { code?: number })?.code !== 429 || attempt >= MAX_SEND_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, retryAfter ?? 1) * 1000));
    }
  }
}

function isTelegraf(value: unknown): value is Telegraf {
  return typeof value === 'object' && value !== null && typeof (value as Telegraf).launch === 'function' && typeof (value as Telegraf).handleUpdate === 'function';
}

function loadTelegraf(): typeof import('telegraf') {
  return loadPlatformPackage<typeof import('telegraf')>('telegraf', '4', 'TelegramInterface');
}
