import { Logger } from '@nestjs/common';
import { Agent, AgentError } from '../agent';
import type { AgentRunner } from '../module/agent.runner';
import { ChatScheduler } from './chat-scheduler';
import { DedupStore, InMemoryDedupStore } from './dedup-store';
import { defaultUserId, IdentityResolver } from './identity/identity-resolver';
import type { InboundMessage } from './inbound-message';
import type { MessagingInterface } from './messaging-interface';
import { splitMessage } from './split-message';

const DEFAULT_ERROR_MESSAGE = 'Sorry, something went wrong while answering. Please try again in a moment.';
const STREAM_EDIT_INTERVAL_MS = 1000;

/** How long a chat run may take unless the interface says otherwise. */
const DEFAULT_RUN_TIMEOUT = 300_000;

/**
 * The path of every platform message, shared by all interfaces: dedup, self
 * filter, allowlist, hooks, identity, per-chat ordering with bounded
 * concurrency, typing indicator, the run, the reply split to the platform's
 * limit, and an error message when anything fails. The interface keeps running.
 */
export class MessagePipeline {
  private readonly logger: Logger;
  private readonly scheduler: ChatScheduler;
  private readonly dedup: DedupStore;
  /** Messages received and not finished: a re-delivery while they run is dropped too. */
  private readonly inFlight = new Set<string>();
  /** Resolves once the interface runs (see {@link MessagePipeline.ready}). */
  private readonly started: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly platform: MessagingInterface,
    private readonly agent: Agent,
    private readonly runner: AgentRunner,
    private readonly identity?: IdentityResolver,
    /** The dedup store / chat inbox when the interface names none (the module's default). */
    dedup?: DedupStore,
  ) {
    this.logger = new Logger(`Definable:${platform.name}`);
    const { maxConcurrentRuns = 10, maxQueued = 1_000, maxQueuedPerChat = 50 } = platform.options;
    this.scheduler = new ChatScheduler(maxConcurrentRuns, { maxQueued, maxQueuedPerChat });
    this.dedup = dedup ?? platform.options.dedup ?? new InMemoryDedupStore();
    this.started = new Promise((resolve) => (this.markReady = resolve));
  }

  /** Messages queued or being answered. */
  get pending(): number {
    return this.scheduler.size;
  }

  /**
   * Takes a message in; resolves once it is recorded (in the chat inbox, when
   * the dedup store is one, and queued for its chat) or dropped — the
   * interface acknowledges the delivery to the platform after that. The
   * answer happens later, in chat order.
   */
  async receive(message: InboundMessage): Promise<void> {
    const key = `${message.platform}:${message.chatId}:${message.messageId}`;
    if (message.fromSelf || this.inFlight.has(key) || (await this.dedup.has(key))) return;
    const { allow, rejectMessage, hooks } = this.platform.options;
    if (allow) {
      const principal = await allow.authenticate({ platform: message.platform, headers: {}, userId: message.senderId, chatId: message.chatId });
      if (!principal) {
        this.logger.log(`ignored a message from ${message.senderId} in ${message.chatId}: not allowed`);
        if (rejectMessage) await this.platform.sendText({ chatId: message.chatId, replyTo: message.messageId }, rejectMessage).catch(() => {});
        return;
      }
    }
    if (hooks?.onMessageReceived && (await this.callHook('onMessageReceived', () => hooks.onMessageReceived!(message))) === false) return;
    const chatKey = `${message.platform}:${message.chatId}`;
    if (!this.scheduler.hasRoom(chatKey)) {
      // Not recorded: a re-delivery after the backlog cleared is taken.
      this.logger.warn(`refused ${message.messageId} in ${message.chatId}: ${this.scheduler.size} messages are queued (maxQueued / maxQueuedPerChat)`);
      const { busyMessage } = this.platform.options;
      if (busyMessage) await this.platform.sendText({ chatId: message.chatId, replyTo: message.messageId }, busyMessage).catch(() => {});
      return;
    }
    // Into the inbox before the platform hears the delivery was taken: a crash from here on is answered after the restart.
    if (this.dedup.admit && !(await this.dedup.admit(key, message, this.platform.name))) return;
    this.queue(key, chatKey, message, false);
  }

  /**
   * Queues the messages the inbox holds unanswered (a crash left them), in the
   * order they came, ahead of new ones; they are answered once the interface
   * runs ({@link MessagePipeline.ready}). Returns how many.
   */
  async recover(): Promise<number> {
    const entries = (await this.dedup.pending?.(this.platform.name)) ?? [];
    for (const { key, message } of entries) {
      if (this.inFlight.has(key)) continue;
      this.queue(key, `${message.platform}:${message.chatId}`, message, true);
    }
    if (entries.length) this.logger.log(`answering ${entries.length} message(s) left unanswered before the restart`);
    return entries.length;
  }

  /** The interface runs: recovered messages may be answered now. */
  ready(): void {
    this.markReady();
  }

  private queue(key: string, chatKey: string, message: InboundMessage, recovered: boolean): void {
    this.inFlight.add(key);
    this.scheduler.enqueue(
      chatKey,
      async () => {
        try {
          // A recovered message waits for the interface to run (its replies need the platform's client).
          if (recovered) await this.started;
          await this.answer(message);
        } finally {
          this.inFlight.delete(key);
          await this.dedup.add(key).catch((error) => this.logger.warn(`could not record ${key}: ${String(error)}`));
        }
      },
      recovered,
    );
  }

  /** Waits for the queued and running messages to be answered. */
  drain(): Promise<void> {
    return this.scheduler.drain();
  }

  /** Answers one message inside its trace span (`<platform> message`), when tracing records. */
  private answer(received: InboundMessage): Promise<void> {
    return this.runner.tracing.inSpan(`${this.platform.name} message`, { 'definable.platform': received.platform, 'definable.chat.direct': received.direct }, () => this.respond(received));
  }

  private async respond(received: InboundMessage): Promise<void> {
    const { hooks } = this.platform.options;
    let message = received;
    try {
      const userId = this.identity ? await this.identity.resolve(message.platform, message.senderId) : defaultUserId(message.platform, message.senderId);
      if (await this.handleCommand(message, userId)) return;
      if (hooks?.onBeforeRespond) message = (await this.callHook('onBeforeRespond', () => hooks.onBeforeRespond!(message))) ?? message;
      const typing = this.keepTyping(message.chatId);
      let response: string;
      try {
        response = await this.run(message, userId);
      } finally {
        typing.stop();
      }
      if (hooks?.onAfterRespond) response = (await this.callHook('onAfterRespond', () => hooks.onAfterRespond!(message, response))) ?? response;
      const replying = message;
      await this.runner.tracing.inSpan(`${this.platform.name} reply`, { 'definable.platform': message.platform }, () => this.reply(replying, response));
    } catch (error) {
      if (this.stoppedByShutdown(error)) {
        // The app is going away: the person gets no "something went wrong" from a server that is closing.
        this.logger.log(`${message.messageId} in ${message.chatId} was not answered: the app is shutting down`);
        return;
      }
      const { quotaMessage } = this.runner;
      if (error instanceof AgentError && error.code === 'quota_exceeded' && quotaMessage !== undefined) {
        this.logger.warn(`${message.messageId} in ${message.chatId} was not answered, over quota: ${error.message}`);
        await this.platform
          .sendText({ chatId: message.chatId, replyTo: message.messageId }, quotaMessage)
          .catch((sendError) => this.logger.error(`could not send the quota message to ${message.chatId}: ${String(sendError)}`));
        return;
      }
      const failure = error instanceof Error ? error : new Error(String(error));
      this.logger.error(`answering ${message.messageId} in ${message.chatId} failed${failure instanceof AgentError ? ` [${failure.code}]` : ''}: ${failure.message}`);
      if (hooks?.onError) await this.callHook('onError', () => hooks.onError!(failure, message));
      await this.platform
        .sendText({ chatId: message.chatId, replyTo: message.messageId }, this.platform.options.errorMessage ?? DEFAULT_ERROR_MESSAGE)
        .catch((sendError) => this.logger.error(`could not send the error message to ${message.chatId}: ${String(sendError)}`));
    }
  }

  /** A run refused or cancelled because the app is shutting down. */
  private stoppedByShutdown(error: unknown): boolean {
    return error instanceof AgentError && (error.code === 'shutting_down' || (error.code === 'cancelled' && this.runner.isClosing));
  }

  /** Runs the agent; with `streaming`, edits one message as the content arrives (at most once a second). */
  private async run(message: InboundMessage, userId: string): Promise<string> {
    const options = {
      // One-to-one chats follow the person (shared across linked platforms); group chats are per chat and person.
      sessionId: message.direct ? `dm:${userId}` : `${message.platform}:${message.chatId}:${userId}`,
      userId,
      images: message.images,
      files: message.files,
      historyLimit: this.platform.options.historyLimit,
      sessionStore: this.platform.options.sessionStore,
      agent: this.agent,
      timeout: this.platform.options.runTimeout ?? DEFAULT_RUN_TIMEOUT,
      trigger: `${message.platform}(${message.chatId})`,
      metadata: { platform: message.platform, chatId: message.chatId, messageId: message.messageId },
    };
    if (!this.platform.options.streaming || !this.platform.editText) {
      const output = await this.runner.run(message.text, options);
      return String(output.content);
    }
    let sent: { messageId: string } | undefined;
    let shown = '';
    let text = '';
    let lastEdit = 0;
    for await (const event of await this.runner.stream(message.text, options)) {
      if (event.event === 'RunContent') {
        text += event.content;
        const now = Date.now();
        if (now - lastEdit >= STREAM_EDIT_INTERVAL_MS && text.trim() && text.length <= this.platform.maxMessageLength) {
          lastEdit = now;
          if (!sent) sent = await this.platform.sendText({ chatId: message.chatId, replyTo: message.messageId }, text);
          else await this.platform.editText(message.chatId, sent.messageId, text);
          shown = text;
        }
      } else if (event.event === 'RunError') {
        throw new AgentError(event.error.code, event.error.message);
      } else if (event.event === 'RunCancelled') {
        throw new AgentError('cancelled', event.reason);
      }
    }
    if (!sent) return text;
    // The streamed message holds what it could; the rest goes out as usual.
    if (text.length <= this.platform.maxMessageLength) {
      if (text !== shown) await this.platform.editText(message.chatId, sent.messageId, text);
      return '';
    }
    return text;
  }

  private async reply(message: InboundMessage, text: string): Promise<void> {
    const chunks = splitMessage(text, this.platform.maxMessageLength);
    for (const [index, chunk] of chunks.entries()) {
      await this.platform.sendText({ chatId: message.chatId, replyTo: index === 0 ? message.messageId : undefined }, chunk);
    }
  }

  /** `/link`, `/link <code>` and `/unlink`: cross-platform identity. Returns whether the message was a command. */
  private async handleCommand(message: InboundMessage, userId: string): Promise<boolean> {
    const match = /^\/(link|unlink)(?:@\S+)?(?:\s+(\S+))?\s*$/i.exec(message.text.trim());
    if (!match) return false;
    const target = { chatId: message.chatId, replyTo: message.messageId };
    if (!this.identity) {
      await this.platform.sendText(target, 'Account linking is not enabled on this bot.');
      return true;
    }
    const [, command, code] = match;
    if (command.toLowerCase() === 'unlink') {
      await this.identity.unlink(message.platform, message.senderId);
      await this.platform.sendText(target, `This ${message.platform} account is no longer linked.`);
    } else if (!code) {
      const issued = await this.identity.createLinkCode(userId);
      await this.platform.sendText(target, `Your link code is ${issued}. Within 10 minutes, send "/link ${issued}" from your other account.`);
    } else {
      const canonical = await this.identity.redeemLinkCode(code);
      if (!canonical) await this.platform.sendText(target, 'That link code is unknown, used or expired. Send /link on your other account for a new one.');
      else {
        await this.identity.link(message.platform, message.senderId, canonical);
        await this.platform.sendText(target, 'Linked: your accounts now share one history.');
      }
    }
    return true;
  }

  /** Sends the typing indicator now and every `typingIntervalMs` until stopped. */
  private keepTyping(chatId: string): { stop: () => void } {
    const send = () => void this.platform.sendTyping(chatId).catch((error) => this.logger.debug?.(`typing in ${chatId} failed: ${String(error)}`));
    send();
    const timer = setInterval(send, this.platform.typingIntervalMs);
    timer.unref?.();
    return { stop: () => clearInterval(timer) };
  }

  private async callHook<T>(name: string, call: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.logger.error(`${name} hook failed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }
}
