import type { Client, ClientOptions, Message } from 'discord.js';
import type { FileInput, ImageInput } from '../../agent';
import type { ChatTarget, InboundMessage } from '../inbound-message';
import { InterfaceAuthError, InterfaceOptions, InterfaceRuntime, loadPlatformPackage, MessagingInterface } from '../messaging-interface';

/** Options of {@link DiscordInterface}. */
export interface DiscordInterfaceOptions extends InterfaceOptions {
  /** The bot token (not needed when attaching to an existing client). */
  botToken?: string;
  /** Which messages get an answer: those mentioning the bot (default), every message, or direct messages only. */
  respondTo?: 'mentions' | 'all' | 'dms';
  /** Passed through to the discord.js `Client` (e.g. `rest.api`, `ws` for a self-hosted or fake gateway). */
  clientOptions?: Partial<ClientOptions>;
  /** Use this client. Default: the `necord` client of the app if there is one, else a new `Client`. */
  client?: Client;
  /** Largest text attachment read for the agent, in bytes. Default 1 MiB. */
  maxFileBytes?: number;
}

/**
 * Discord on `discord.js`. Uses the app's `necord` client when there is one.
 * A gateway that drops for good after start-up — a `shardDisconnect` that
 * discord.js will not resume (4004 after READY leaves `isReady()` true) — is
 * reported to the supervisor as a crash; a refused token parks it as failed.
 */
export class DiscordInterface extends MessagingInterface {
  readonly platform = 'discord';
  readonly maxMessageLength = 2000;
  override readonly typingIntervalMs = 8000;
  private client?: Client;
  private owned = false;
  /** Whether the current client has been started once (an owned one is replaced on the next start). */
  private launched = false;
  /** The client {@link resolveClient} made for the module. */
  private created?: Client;
  private runtime?: InterfaceRuntime;
  private detach?: () => void;
  private stopRequested = false;

  constructor(override readonly options: DiscordInterfaceOptions = {}) {
    super(options);
    const respondTo = options.respondTo ?? 'mentions';
    if (!['mentions', 'all', 'dms'].includes(respondTo)) throw new TypeError(`DiscordInterface: respondTo must be 'mentions', 'all' or 'dms', got "${respondTo}".`);
  }

  /** discord.js's `Client` class, which `necord` provides its client under; none without discord.js. */
  override appClientToken(): unknown {
    if (this.options.client) return undefined;
    try {
      return loadDiscord().Client;
    } catch {
      return undefined;
    }
  }

  /** The client of the options, else the app's `necord` client, else a new `Client` (not logged in). */
  override resolveClient(appClient: unknown): Client | null {
    if (this.options.client) return this.options.client;
    try {
      const { Client: ClientClass } = loadDiscord();
      if (appClient instanceof ClientClass) return appClient;
      return (this.created = this.createClient());
    } catch {
      // No token or no discord.js package: start() throws the same error, and the supervisor parks the interface.
      return null;
    }
  }

  override useClient(client: unknown): void {
    if (!client || this.client) return;
    this.client = client as Client;
    this.owned = client === this.created;
  }

  /** A client of our own (the module's), not logged in. */
  private createClient(): Client {
    const discord = loadDiscord();
    if (!this.options.botToken) throw new InterfaceAuthError("DiscordInterface needs a botToken (or a client, or necord's NecordModule in the app).");
    const { GatewayIntentBits, Partials } = discord;
    return new discord.Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
      partials: [Partials.Channel],
      ...this.options.clientOptions,
    });
  }

  async start(runtime: InterfaceRuntime): Promise<void> {
    this.stopRequested = false;
    this.runtime = runtime;
    if (!this.client && this.options.client) this.client = this.options.client;
    else if (!this.client || (this.owned && this.launched)) {
      // A fresh client per launch: a destroyed discord.js client does not announce readiness again.
      this.client = this.createClient();
      this.owned = true;
    }
    this.launched = true;
    const client = this.client;
    const onMessage = (message: Message) => void this.onMessage(message);
    const onDisconnect = (event: { code?: number }) => {
      if (!this.stopRequested) runtime.crashed(new Error(`the Discord gateway closed (code ${event?.code ?? 'unknown'}) and will not resume`));
    };
    const onInvalidated = () => {
      if (!this.stopRequested) runtime.crashed(new Error('the Discord session was invalidated'));
    };
    client.on('messageCreate', onMessage);
    client.on('shardDisconnect', onDisconnect);
    client.on('invalidated', onInvalidated);
    this.detach = () => {
      client.off('messageCreate', onMessage);
      client.off('shardDisconnect', onDisconnect);
      client.off('invalidated', onInvalidated);
    };
    if (client.isReady() && client.ws.status === 0) return;
    if (!this.owned) {
      await new Promise<void>((resolve) => client.once('clientReady', () => resolve()));
      return;
    }
    const ready = new Promise<void>((resolve) => client.once('clientReady', () => resolve()));
    try {
      await client.login(this.options.botToken);
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      const message = error instanceof Error ? error.message : String(error);
      if (code === 'TokenInvalid' || /4004|invalid token|Unauthorized/i.test(message)) {
        throw new InterfaceAuthError(`Discord refused the bot token: ${message}.`);
      }
      throw error;
    }
    await ready;
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    this.detach?.();
    this.detach = undefined;
    this.runtime = undefined;
    // A client of our own is destroyed (a relaunch logs in again); necord's stays with necord.
    if (this.owned && this.client) {
      await this.client.destroy();
    }
  }

  async sendText(target: ChatTarget, text: string): Promise<{ messageId: string }> {
    const channel = await this.channel(target.chatId);
    const sent = await channel.send({
      content: text,
      ...(target.replyTo ? { reply: { messageReference: target.replyTo, failIfNotExists: false } } : {}),
      allowedMentions: { parse: [] },
    });
    return { messageId: sent.id };
  }

  async sendTyping(chatId: string): Promise<void> {
    await (await this.channel(chatId)).sendTyping();
  }

  override async editText(chatId: string, messageId: string, text: string): Promise<void> {
    await (await this.channel(chatId)).messages.edit(messageId, { content: text });
  }

  private async channel(chatId: string): Promise<any> {
    const channel = await this.client!.channels.fetch(chatId);
    if (!channel || !('send' in channel)) throw new Error(`Discord channel ${chatId} cannot receive messages.`);
    return channel;
  }

  private async onMessage(message: Message): Promise<void> {
    const runtime = this.runtime;
    const client = this.client;
    if (!runtime || !client?.user) return;
    const direct = !message.guildId;
    const mentioned = message.mentions?.users?.has(client.user.id) ?? false;
    const respondTo = this.options.respondTo ?? 'mentions';
    if (respondTo === 'dms' && !direct) return;
    if (respondTo === 'mentions' && !direct && !mentioned) return;
    const text = message.content.replace(new RegExp(`<@!?${client.user.id}>`, 'g'), '').trim();
    const images: ImageInput[] = [];
    const files: FileInput[] = [];
    for (const attachment of message.attachments?.values() ?? []) {
      const type = attachment.contentType ?? '';
      // Discord's attachment URLs are signed CDN links with no bot credentials: the model may fetch them.
      if (/^image\/(png|jpeg|gif|webp)/.test(type)) images.push(attachment.url);
      else if (/^(text\/|application\/json)/.test(type) && attachment.size <= (this.options.maxFileBytes ?? 1024 * 1024)) {
        const response = await fetch(attachment.url);
        if (response.ok) files.push({ name: attachment.name, content: Buffer.from(await response.arrayBuffer()), mimeType: type.split(';')[0] });
      }
    }
    if (!text && !images.length && !files.length) return;
    const inbound: InboundMessage = {
      platform: this.platform,
      messageId: message.id,
      chatId: message.channelId,
      direct,
      senderId: message.author.id,
      senderName: message.author.username,
      fromSelf: message.author.id === client.user.id || message.author.bot,
      text,
      ...(images.length ? { images } : {}),
      ...(files.length ? { files } : {}),
      raw: message,
    };
    await runtime.receive(inbound);
  }
}

function loadDiscord(): typeof import('discord.js') {
  return loadPlatformPackage<typeof import('discord.js')>('discord.js', '14', 'DiscordInterface');
}
