import { Logger } from '@nestjs/common';
import type { Client, ClientOptions, Interaction, Message } from 'discord.js';
import type { ApprovalRecord, FileInput, ImageInput } from '../../agent';
import type { ChatTarget, InboundMessage } from '../inbound-message';
import { InterfaceAuthError, InterfaceOptions, InterfaceRuntime, loadPlatformPackage, MessagingInterface } from '../messaging-interface';
import { tokenDigest } from '../token-digest';

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

/** An approval button's `custom_id`: `apv:<y|n>:<approval id>[:<run id>]` (the run's id when it fits Discord's 100 characters). */
const APPROVAL_BUTTON = /^apv:([yn]):([0-9A-Z]{8})(?::(.+))?$/;
/** Discord's `MessageFlags.Ephemeral`: only the presser sees the reply. */
const EPHEMERAL = 64;

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
  private readonly logger = new Logger('Definable:discord');

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

  /** One gateway session per bot token. */
  override exclusiveKey(): string | undefined {
    return this.options.botToken ? `discord:${tokenDigest(this.options.botToken)}` : super.exclusiveKey();
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
    const onInteraction = (interaction: Interaction) => void this.onInteraction(interaction, runtime);
    const onDisconnect = (event: { code?: number }) => {
      if (!this.stopRequested) runtime.crashed(new Error(`the Discord gateway closed (code ${event?.code ?? 'unknown'}) and will not resume`));
    };
    const onInvalidated = () => {
      if (!this.stopRequested) runtime.crashed(new Error('the Discord session was invalidated'));
    };
    client.on('messageCreate', onMessage);
    client.on('interactionCreate', onInteraction);
    client.on('shardDisconnect', onDisconnect);
    client.on('invalidated', onInvalidated);
    this.detach = () => {
      client.off('messageCreate', onMessage);
      client.off('interactionCreate', onInteraction);
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

  /** The approval message with an action row: Approve (success) / Reject (danger), pressed through `interactionCreate`. */
  override async sendApproval(target: ChatTarget, approval: ApprovalRecord, text: string): Promise<{ messageId: string }> {
    const { ButtonStyle, ComponentType } = loadDiscord();
    const customId = (answer: 'y' | 'n') => {
      const full = `apv:${answer}:${approval.approvalId}:${approval.runId}`;
      return full.length <= 100 ? full : `apv:${answer}:${approval.approvalId}`;
    };
    const channel = await this.channel(target.chatId);
    const sent = await channel.send({
      content: text,
      components: [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Success, label: 'Approve', custom_id: customId('y') },
            { type: ComponentType.Button, style: ButtonStyle.Danger, label: 'Reject', custom_id: customId('n') },
          ],
        },
      ],
      ...(target.replyTo ? { reply: { messageReference: target.replyTo, failIfNotExists: false } } : {}),
      allowedMentions: { parse: [] },
    });
    return { messageId: sent.id };
  }

  async sendTyping(chatId: string): Promise<void> {
    await (await this.channel(chatId)).sendTyping();
  }

  override async editText(chatId: string, messageId: string, text: string): Promise<void> {
    // Discord keeps the fields an edit omits: `components: []` removes the buttons (an approval's, once decided).
    await (await this.channel(chatId)).messages.edit(messageId, { content: text, components: [] });
  }

  /**
   * An approval button pressed: decided for whoever pressed it (the pipeline
   * checks they may). Discord wants every press answered within 3 seconds:
   * a decision taken updates the message itself (its decision, buttons
   * removed — the pipeline leaves that edit to us); a refusal is an ephemeral
   * reply only the presser sees, the message unchanged. Buttons that are not
   * ours are left to whoever made them.
   */
  private async onInteraction(interaction: Interaction, runtime: InterfaceRuntime): Promise<void> {
    if (!interaction.isButton()) return;
    const match = APPROVAL_BUTTON.exec(interaction.customId);
    if (!match) return;
    const [, answer, approvalId, runId] = match;
    const refuse = (text: string) => interaction.reply({ content: text.slice(0, 2000), flags: EPHEMERAL, allowedMentions: { parse: [] } });
    try {
      if (!runtime.decide) return void (await refuse('Tool approvals are not handled here.'));
      const result = await runtime.decide({
        chatId: interaction.channelId,
        senderId: interaction.user.id,
        approvalId,
        ...(runId ? { runId } : {}),
        approve: answer === 'y',
        updatesMessage: true,
      });
      if (!result.decided) return void (await refuse(result.text));
      const text = result.message ?? result.text;
      try {
        await interaction.update({ content: text, components: [], allowedMentions: { parse: [] } });
      } catch (error) {
        // The press could not be answered (too late, say): the decision stands, and the message still shows it.
        this.logger.warn(`could not answer the approval button press ${interaction.id}: ${error instanceof Error ? error.message : String(error)}`);
        await this.editText(interaction.channelId, interaction.message.id, text);
      }
    } catch (error) {
      // An answer that fails (the interaction expired) must not break the gateway: there is nothing more to do.
      this.logger.warn(`approval button press ${interaction.id} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
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
