import type { Agent, ApprovalRecord, SessionStore } from '../agent';
import type { AuthProvider } from '../auth';
import type { DedupStore } from './dedup-store';
import type { ChatTarget, InboundMessage } from './inbound-message';

/** Hooks around the handling of one platform message. */
export interface InterfaceHooks {
  /** Return `false` to ignore the message. */
  onMessageReceived?(message: InboundMessage): boolean | void | Promise<boolean | void>;
  /** Return a changed message to run the agent with it instead. */
  onBeforeRespond?(message: InboundMessage): InboundMessage | void | Promise<InboundMessage | void>;
  /** Return a changed text to send it instead of the agent's reply. */
  onAfterRespond?(message: InboundMessage, response: string): string | void | Promise<string | void>;
  /** Called when handling a message failed (before the error message is sent). */
  onError?(error: Error, message: InboundMessage): void | Promise<void>;
}

/** Options every interface takes. */
export interface InterfaceOptions {
  /** How the interface appears in logs and `/health`. Default: the platform. */
  name?: string;
  /** Who may talk to the agent (an `AllowlistAuth` or any auth provider); others are ignored. */
  allow?: AuthProvider;
  /** Sent to a sender the `allow` provider refuses. Default: nothing is sent. */
  rejectMessage?: string;
  hooks?: InterfaceHooks;
  /** Runs at once across chats (one at a time per chat). Default 10. */
  maxConcurrentRuns?: number;
  /**
   * Messages waiting or being answered across chats; past it new messages are
   * refused (logged, `busyMessage` sent if set) instead of held in memory.
   * Default 1,000.
   */
  maxQueued?: number;
  /** Messages waiting or being answered in one chat; past it that chat's new messages are refused. Default 50. */
  maxQueuedPerChat?: number;
  /** Sent to a sender whose message was refused because the queue is full. Default: nothing is sent. */
  busyMessage?: string;
  /**
   * Most milliseconds one chat run may take; past it the run is cancelled and
   * the person gets `errorMessage`, so a stuck tool or upstream cannot hold a
   * chat forever. Default 300,000 (5 minutes).
   */
  runTimeout?: number;
  /** Sent when handling a message fails. */
  errorMessage?: string;
  /** Stored messages sent with each run (default: the agent's `historyLimit`). */
  historyLimit?: number;
  /** Where this interface's conversations are kept (default: the agent's `sessionStore`). */
  sessionStore?: SessionStore;
  /** Edit one message as the reply streams in (at most one edit per second per chat). Default `false`. */
  streaming?: boolean;
  /** The agent that answers: an `Agent`, or the name of one of the module's agents. Default: the module's default agent. */
  agent?: string | Agent;
  /** Where answered message ids are remembered. Default: in memory (10,000). */
  dedup?: DedupStore;
  /**
   * Platform user ids (as the platform gives them, e.g. Telegram's `'12345'`)
   * who may decide tool approvals of anyone's runs from this chat — besides
   * the person each run belongs to. They decide as trusted principals (a
   * module `approvals.approver` rule still has the last word).
   */
  approvers?: string[];
}

/** A decision a person took with a platform's button (see {@link InterfaceRuntime.decide}). */
export interface ChatDecision {
  /** The chat the button was pressed in. */
  chatId: string;
  /** The platform user id of who pressed it. */
  senderId: string;
  approvalId: string;
  /** The run, when the button carries it (spares a look-up). */
  runId?: string;
  approve: boolean;
  reason?: string;
  /**
   * The interface shows the decision on the approval's message itself, as it
   * answers the press (Discord updates the message through the interaction):
   * the pipeline then does not edit it, and a taken decision's result carries
   * the message's new text in `message`.
   */
  updatesMessage?: boolean;
}

/** What {@link InterfaceRuntime.decide} answers: whether the decision was taken, and a short text for the person. */
export interface ChatDecisionResult {
  decided: boolean;
  /** E.g. "Approved — going on.", or why nothing was decided. */
  text: string;
  /** A decision taken: what the approval's message says now ("refund(…)\n✅ Approved by discord:42"), buttons removed. */
  message?: string;
}

/** What the supervisor gives an interface when it starts it. */
export interface InterfaceRuntime {
  /** Hands a message to the pipeline; resolves once it is recorded (queued for its chat). */
  receive(message: InboundMessage): Promise<void>;
  /** Reports that the running interface broke; the supervisor restarts it with backoff. */
  crashed(error: Error): void;
  /**
   * Decides a tool approval for a button press (the sender's identity
   * resolved, the interface's `approvers` trusted), through the module's
   * `RunApprovals`; never throws for a refusal — the result says why.
   */
  decide?(decision: ChatDecision): Promise<ChatDecisionResult>;
}

/** An HTTP route an interface needs on the app's server (Telegram's webhook), mounted inside Nest routing. */
export interface InterfaceRoute {
  method: 'POST';
  /** The path, e.g. `/telegram/webhook`. */
  path: string;
  /** Handles one request; throw a Nest `HttpException` to answer with an error. */
  handle(body: unknown, headers: Record<string, string | string[] | undefined>): Promise<unknown>;
}

/** The credentials were refused (Telegram 401, Discord 4004): restarting would not help. */
export class InterfaceAuthError extends Error {
  override readonly name = 'InterfaceAuthError';
}

/**
 * The interface cannot run as set up — a platform package that is not
 * installed, say. Like {@link InterfaceAuthError} it is parked as `failed`
 * instead of restarted: the fix is to change the app and start it again.
 */
export class InterfaceSetupError extends Error {
  override readonly name = 'InterfaceSetupError';
}

/**
 * Loads a platform SDK that is an optional peer dependency; when it is not
 * installed, throws an {@link InterfaceSetupError} saying what to install.
 */
export function loadPlatformPackage<T>(pkg: string, range: string, who: string): T {
  try {
    return require(pkg) as T;
  } catch (error) {
    if ((error as { code?: string })?.code !== 'MODULE_NOT_FOUND' || !String((error as Error).message).includes(`'${pkg}'`)) throw error;
    throw new InterfaceSetupError(`${who} needs the "${pkg}" package, which is not installed: run \`npm install ${pkg}@${range}\` and restart the app.`);
  }
}

/** Another client holds the connection (Telegram 409: a second poller on the same token). */
export class InterfaceConflictError extends Error {
  override readonly name = 'InterfaceConflictError';
}

/**
 * A messaging platform: turns platform messages into {@link InboundMessage}s
 * for the pipeline and sends replies. The `InterfaceSupervisor` starts it after
 * bootstrap, restarts it when it crashes, and stops it at shutdown.
 */
export abstract class MessagingInterface {
  /** The platform, e.g. `'telegram'`. */
  abstract readonly platform: string;
  /** Longest text one message may carry on the platform. */
  abstract readonly maxMessageLength: number;
  /** How often the typing indicator is refreshed while a run goes on. */
  readonly typingIntervalMs: number = 4000;

  constructor(readonly options: InterfaceOptions = {}) {}

  /** The interface's name in logs and `/health`. */
  get name(): string {
    return this.options.name ?? this.platform;
  }

  /**
   * What only one process may hold at a time to receive for this interface —
   * the polling loop or gateway session of one bot — as a key; `undefined`
   * when any number of processes may receive at once (webhook mode). On
   * several replicas (the module's `cluster` option) the supervisor runs the
   * interface on the one replica holding a lease on this key, and the others
   * stand by. Default: the platform and the interface's name.
   */
  exclusiveKey(): string | undefined {
    return `${this.platform}:${this.name}`;
  }

  /** Connects and starts intake; resolves once running. Later failures go to `runtime.crashed()`. */
  abstract start(runtime: InterfaceRuntime): Promise<void>;
  /** Stops intake (replies to messages in flight can still be sent). Must be safe to call in any state. */
  abstract stop(): Promise<void>;
  /** Closes the platform client after the runs in flight have finished (default: nothing more to do). */
  async close(): Promise<void> {}
  /**
   * The DI token of the client the app may already have for this platform
   * (`nestjs-telegraf`'s bot, `necord`'s `Client`), so the interface attaches
   * to it instead of opening a second connection; `undefined` when there is none.
   * Must not throw (a missing package means no such client).
   */
  appClientToken?(): unknown;
  /**
   * The platform SDK client, registered under `getInterfaceClientToken(name)`:
   * the one in the options, else `appClient` (what DI found for
   * {@link appClientToken}), else a new one, not yet connected. `null` when none
   * can be made (the error surfaces at start, where the supervisor parks the
   * interface). Never connects: that happens in {@link start}.
   */
  resolveClient?(appClient: unknown): unknown;
  /** Hands the interface the client DI resolved for its token: the one {@link resolveClient} made, or a test's `overrideProvider()`. */
  useClient?(client: unknown): void;
  /**
   * @deprecated Implement {@link appClientToken}, {@link resolveClient} and
   * {@link useClient} instead. Still called, once before the first start,
   * with a look-up of the app's providers.
   */
  attach?(lookup: (token: unknown) => unknown): void;
  /** HTTP routes the interface needs on the app's own server; `DefinableModule.forRoot()` mounts them. */
  routes?(): InterfaceRoute[];
  /** Sends one message (already within `maxMessageLength`); returns its platform id. */
  abstract sendText(target: ChatTarget, text: string): Promise<{ messageId: string }>;
  /** Shows the typing indicator in a chat. */
  abstract sendTyping(chatId: string): Promise<void>;
  /**
   * Replaces a sent message's text (for `streaming`, and to show an
   * approval's decision); platforms without edits leave it undefined. Buttons
   * the message had are removed.
   */
  editText?(chatId: string, messageId: string, text: string): Promise<void>;
  /**
   * Sends the message asking for a tool approval (`text`, which says how to
   * decide by replying) with Approve / Reject buttons that end in
   * {@link InterfaceRuntime.decide}; platforms without buttons leave it
   * undefined and the pipeline sends `text` alone.
   */
  sendApproval?(target: ChatTarget, approval: ApprovalRecord, text: string): Promise<{ messageId: string }>;
}
