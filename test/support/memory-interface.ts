import { ChatTarget, InboundMessage, InterfaceRuntime, MessagingInterface, InterfaceOptions } from '../../lib';

/**
 * An in-process platform for pipeline and supervisor tests: messages go in
 * with `deliver()`, replies land in `sent`. `failStarts` makes the next starts
 * throw; `crash()` reports a failure after start-up.
 */
export class MemoryInterface extends MessagingInterface {
  readonly platform: string;
  readonly maxMessageLength: number;
  readonly sent: { chatId: string; text: string; replyTo?: string }[] = [];
  readonly typing: string[] = [];
  starts = 0;
  stops = 0;
  failStarts: Error[] = [];
  private runtime?: InterfaceRuntime;
  private waiters: { count: number; resolve: () => void }[] = [];
  private nextId = 1;

  constructor(options: InterfaceOptions & { platform?: string; maxMessageLength?: number } = {}) {
    super(options);
    this.platform = options.platform ?? 'memory';
    this.maxMessageLength = options.maxMessageLength ?? 4000;
  }

  async start(runtime: InterfaceRuntime): Promise<void> {
    this.starts++;
    const failure = this.failStarts.shift();
    if (failure) throw failure;
    this.runtime = runtime;
  }

  async stop(): Promise<void> {
    this.stops++;
    this.runtime = undefined;
  }

  crash(error = new Error('connection lost')): void {
    this.runtime?.crashed(error);
  }

  /** Delivers a message as the platform would; resolves once the pipeline recorded it. */
  async deliver(message: Partial<InboundMessage> & { text: string; senderId: string; chatId?: string }): Promise<void> {
    if (!this.runtime) throw new Error('MemoryInterface is not running');
    await this.runtime.receive({
      platform: this.platform,
      messageId: message.messageId ?? String(this.nextId++),
      chatId: message.chatId ?? message.senderId,
      direct: message.direct ?? true,
      fromSelf: false,
      raw: null,
      ...message,
    });
  }

  async sendText(target: ChatTarget, text: string): Promise<{ messageId: string }> {
    this.sent.push({ chatId: target.chatId, text, replyTo: target.replyTo });
    this.waiters = this.waiters.filter((waiter) => (this.sent.length >= waiter.count ? (waiter.resolve(), false) : true));
    return { messageId: `out-${this.sent.length}` };
  }

  async sendTyping(chatId: string): Promise<void> {
    this.typing.push(chatId);
  }

  /** Resolves once `count` messages in all have been sent. */
  waitForSent(count: number): Promise<void> {
    if (this.sent.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

/** A {@link MemoryInterface} that can edit sent messages (for streaming replies). */
export class EditableMemoryInterface extends MemoryInterface {
  readonly edits: { messageId: string; text: string }[] = [];

  override async editText(_chatId: string, messageId: string, text: string): Promise<void> {
    this.edits.push({ messageId, text });
  }
}
