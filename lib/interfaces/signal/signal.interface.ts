import { linkedController } from '../../agent/abort';
import type { ChatTarget, InboundMessage } from '../inbound-message';
import { InterfaceOptions, InterfaceRuntime, MessagingInterface } from '../messaging-interface';

/** Options of {@link SignalInterface}. */
export interface SignalInterfaceOptions extends InterfaceOptions {
  /** The signal-cli-rest-api server, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** The bot's registered number, e.g. `+15550001`. */
  number: string;
  /** Seconds one receive request waits for messages. Default 10. */
  receiveTimeout?: number;
}

const MAX_SEND_ATTEMPTS = 4;

/**
 * Signal over the HTTP API of signal-cli-rest-api (normal mode): long-polls
 * `GET /v1/receive/{number}`, answers with `POST /v2/send`, shows typing with
 * `PUT /v1/typing-indicator/{number}`. A receive loop that fails is reported
 * to the supervisor, which restarts it with backoff.
 */
export class SignalInterface extends MessagingInterface {
  readonly platform = 'signal';
  readonly maxMessageLength = 2000;
  override readonly typingIntervalMs = 10_000;
  private loop?: Promise<void>;
  private controller?: AbortController;

  constructor(override readonly options: SignalInterfaceOptions) {
    super(options);
    if (!options || typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError("SignalInterface needs the signal-cli-rest-api baseUrl, e.g. new SignalInterface({ baseUrl: 'http://localhost:8080', number: '+15550001' }).");
    }
    if (typeof options.number !== 'string' || options.number === '') throw new TypeError('SignalInterface needs the bot\'s registered number, e.g. \'+15550001\'.');
  }

  /** One receive loop per number (a message received is gone from signal-cli). */
  override exclusiveKey(): string | undefined {
    return `signal:${this.options.number}`;
  }

  async start(runtime: InterfaceRuntime): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    // Fails start (and so triggers backoff) when the server is unreachable.
    await this.request('GET', '/v1/about', undefined, controller.signal);
    this.loop = this.receiveLoop(runtime, controller.signal).catch((error) => {
      if (!controller.signal.aborted) runtime.crashed(error instanceof Error ? error : new Error(String(error)));
    });
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
  }

  async sendText(target: ChatTarget, text: string): Promise<{ messageId: string }> {
    const answer = (await this.request('POST', '/v2/send', { number: this.options.number, recipients: [target.chatId], message: text })) as { timestamp?: string };
    return { messageId: String(answer?.timestamp ?? '') };
  }

  async sendTyping(chatId: string): Promise<void> {
    await this.request('PUT', `/v1/typing-indicator/${encodeURIComponent(this.options.number)}`, { recipient: chatId });
  }

  private async receiveLoop(runtime: InterfaceRuntime, signal: AbortSignal): Promise<void> {
    const timeout = this.options.receiveTimeout ?? 10;
    while (!signal.aborted) {
      const items = (await this.request('GET', `/v1/receive/${encodeURIComponent(this.options.number)}?timeout=${timeout}`, undefined, signal)) as unknown[];
      for (const item of Array.isArray(items) ? items : []) {
        const message = this.normalise(item);
        if (message) await runtime.receive(message);
      }
    }
  }

  private normalise(item: any): InboundMessage | undefined {
    const envelope = item?.envelope;
    const data = envelope?.dataMessage;
    if (!data || typeof data.message !== 'string' || data.message === '') return undefined;
    const sender = String(envelope.sourceNumber ?? envelope.source ?? envelope.sourceUuid);
    const groupId = data.groupInfo?.groupId;
    return {
      platform: this.platform,
      messageId: `${sender}:${data.timestamp ?? envelope.timestamp}`,
      chatId: groupId ? `group.${Buffer.from(String(groupId)).toString('base64')}` : sender,
      direct: !groupId,
      senderId: sender,
      senderName: envelope.sourceName,
      fromSelf: sender === this.options.number,
      text: data.message,
      raw: item,
    };
  }

  /** One call to the API; 429 answers are retried with backoff, other failures throw with the server's error. */
  private async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    // Each call gets its own signal, linked to the loop's and unlinked after: fetch leaves listeners on
    // the signal it is given until a major GC, and the receive loop polls all day.
    const { controller, unlink } = linkedController(signal);
    try {
      return await this.send(method, path, body, controller.signal);
    } finally {
      unlink();
    }
  }

  private async send(method: string, path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${this.options.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        signal,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status === 429 && attempt < MAX_SEND_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** (attempt - 1)));
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        let detail = text;
        try {
          detail = JSON.parse(text).error ?? text;
        } catch {
          /* not JSON */
        }
        throw new Error(`signal-cli-rest-api ${method} ${path.split('?')[0]} answered ${response.status}: ${detail}`);
      }
      return text ? JSON.parse(text) : undefined;
    }
  }
}
