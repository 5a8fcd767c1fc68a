import { Logger } from '@nestjs/common';
import { Agent, AgentError, ApprovalError } from '../agent';
import type { ApprovalRecord } from '../agent';
import type { AgentRunner } from '../module/agent.runner';
import { approvalDecidedText, approvalRequestText } from '../module/approvals/approval-text';
import type { RunApprovals } from '../module/approvals/run-approvals';
import type { DefinableCluster } from '../module/cluster/definable-cluster';
import type { RunRecord } from '../module/runs/run-store';
import { ChatScheduler } from './chat-scheduler';
import { DedupStore, InMemoryDedupStore } from './dedup-store';
import { defaultUserId, IdentityResolver } from './identity/identity-resolver';
import type { ChatTarget, InboundMessage } from './inbound-message';
import type { ChatDecision, ChatDecisionResult, MessagingInterface } from './messaging-interface';
import { splitMessage } from './split-message';

const DEFAULT_ERROR_MESSAGE = 'Sorry, something went wrong while answering. Please try again in a moment.';
const STREAM_EDIT_INTERVAL_MS = 1000;

/** How long a chat run may take unless the interface says otherwise. */
const DEFAULT_RUN_TIMEOUT = 300_000;
/** Approval messages remembered for their edit (the oldest are forgotten first: a restart forgets them all). */
const MAX_APPROVAL_MESSAGES = 10_000;
/** A text reply that decides an approval: `yes 4F2KABCD`, `no 4F2KABCD too expensive`. */
const DECISION_REPLY = /^(yes|no)\s+([0-9a-z]{8})(?:\s+([\s\S]+))?$/i;

/** What a chat run answers: its text, and the approvals it paused for. */
interface ChatAnswer {
  text: string;
  approvals?: ApprovalRecord[];
}

/**
 * The path of every platform message, shared by all interfaces: dedup, self
 * filter, allowlist, hooks, identity, per-chat ordering with bounded
 * concurrency, typing indicator, the run, the reply split to the platform's
 * limit, and an error message when anything fails. The interface keeps running.
 *
 * With the module's `RunApprovals`, a run that pauses for tool approvals gets
 * one message per approval (with buttons where the platform has them); a
 * reply `yes <id>` / `no <id> [reason]` (or a button) decides for the sender;
 * an approval message is edited once decided — wherever the decision was made
 * — and the chat gets the answer of the continuation.
 */
export class MessagePipeline {
  private readonly logger: Logger;
  private readonly scheduler: ChatScheduler;
  private readonly dedup: DedupStore;
  /** Per chat: the last message being taken in (see {@link MessagePipeline.receive}). */
  private readonly arrivals = new Map<string, Promise<void>>();
  /** Messages received and not finished: a re-delivery while they run is dropped too. */
  private readonly inFlight = new Set<string>();
  /** Resolves once the interface runs (see {@link MessagePipeline.ready}). */
  private readonly started: Promise<void>;
  private markReady!: () => void;
  /** The approval messages this pipeline sent, by approval id: edited once decided. */
  private readonly approvalMessages = new Map<string, Promise<{ chatId: string; messageId: string } | undefined>>();
  /**
   * Approvals a button is deciding whose interface shows the decision on the
   * message itself (`ChatDecision.updatesMessage`), with the presses under
   * way; their edit is held back, and made after all when the press is refused
   * (decided elsewhere meanwhile).
   */
  private readonly decidingInPlace = new Map<string, { presses: number; decided?: boolean; held?: ApprovalRecord }>();
  private readonly unlisten?: () => void;

  constructor(
    private readonly platform: MessagingInterface,
    private readonly agent: Agent,
    private readonly runner: AgentRunner,
    private readonly identity?: IdentityResolver,
    /** The dedup store / chat inbox when the interface names none (the module's default). */
    dedup?: DedupStore,
    /** The module's approvals: without them, a paused run's approvals are not offered in the chat. */
    private readonly approvals?: RunApprovals,
    /** On several replicas: a chat is answered under its lock, by one replica at a time. */
    private readonly cluster?: DefinableCluster,
  ) {
    this.logger = new Logger(`Definable:${platform.name}`);
    const { maxConcurrentRuns = 10, maxQueued = 1_000, maxQueuedPerChat = 50 } = platform.options;
    this.scheduler = new ChatScheduler(maxConcurrentRuns, { maxQueued, maxQueuedPerChat });
    this.dedup = dedup ?? platform.options.dedup ?? new InMemoryDedupStore();
    this.started = new Promise((resolve) => (this.markReady = resolve));
    this.unlisten = approvals?.listen({
      decided: (approval) => this.showDecision(approval),
      ended: (_runId, record) => this.answerContinuation(record),
    });
  }

  /** Stops listening to the module's approvals. */
  close(): void {
    this.unlisten?.();
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
    // One chat's messages are taken in one at a time, in the order they came: a platform hands a batch
    // over at once (telegraf runs a getUpdates batch's handlers together), and the inbox's writes must
    // not let a later message be queued ahead of an earlier one.
    const chatKey = `${message.platform}:${message.chatId}`;
    const taking = (this.arrivals.get(chatKey) ?? Promise.resolve()).then(() => this.take(message, chatKey));
    const settled = taking.then(
      () => undefined,
      () => undefined,
    );
    this.arrivals.set(chatKey, settled);
    void settled.then(() => {
      if (this.arrivals.get(chatKey) === settled) this.arrivals.delete(chatKey);
    });
    return taking;
  }

  private async take(message: InboundMessage, chatKey: string): Promise<void> {
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
          if (this.cluster?.enabled) await this.cluster.withLock(this.cluster.key('chat', this.platform.name, chatKey), () => this.answerOnce(key, message));
          else await this.answerAndRecord(key, message);
        } catch (error) {
          // The chat's lock could not be had (Redis away): the message stays in the inbox, answered after a restart or a takeover.
          this.logger.error(`${message.messageId} in ${message.chatId} was not answered: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          this.inFlight.delete(key);
        }
      },
      recovered,
    );
  }

  /**
   * Under the chat's lock, on several replicas: answers unless another
   * replica already did (it took the message from the shared inbox) — after
   * the chat's earlier messages still waiting in the inbox, whichever replica
   * took them in, so a chat is answered in the order its messages came.
   */
  private async answerOnce(key: string, message: InboundMessage): Promise<void> {
    if (await this.dedup.answered?.(key)) return;
    for (const earlier of (await this.dedup.pending?.(this.platform.name)) ?? []) {
      if (earlier.key === key) break;
      if (earlier.message.chatId === message.chatId && earlier.message.platform === message.platform) await this.answerAndRecord(earlier.key, earlier.message);
    }
    await this.answerAndRecord(key, message);
  }

  /** Answers, then records the message answered (it leaves the inbox), whatever the answer's outcome. */
  private async answerAndRecord(key: string, message: InboundMessage): Promise<void> {
    try {
      await this.answer(message);
    } finally {
      await this.dedup.add(key).catch((error) => this.logger.warn(`could not record ${key}: ${String(error)}`));
    }
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
      if (await this.handleDecision(message, userId)) return;
      if (hooks?.onBeforeRespond) message = (await this.callHook('onBeforeRespond', () => hooks.onBeforeRespond!(message))) ?? message;
      const typing = this.keepTyping(message.chatId);
      let answer: ChatAnswer;
      try {
        answer = await this.run(message, userId);
      } finally {
        typing.stop();
      }
      let response = answer.text;
      if (hooks?.onAfterRespond) response = (await this.callHook('onAfterRespond', () => hooks.onAfterRespond!(message, response))) ?? response;
      const target = { chatId: message.chatId, replyTo: message.messageId };
      await this.runner.tracing.inSpan(`${this.platform.name} reply`, { 'definable.platform': message.platform }, () => this.reply(target, response, answer.approvals));
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
  private async run(message: InboundMessage, userId: string): Promise<ChatAnswer> {
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
      metadata: { platform: message.platform, chatId: message.chatId, messageId: message.messageId, interface: this.platform.name },
    };
    if (!this.platform.options.streaming || !this.platform.editText) {
      const output = await this.runner.run(message.text, options);
      if (output.status === 'paused') return { text: output.content == null ? '' : String(output.content), approvals: output.pendingApprovals };
      return { text: String(output.content) };
    }
    let approvals: ApprovalRecord[] | undefined;
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
      } else if (event.event === 'RunPaused') {
        approvals = event.pendingApprovals;
      }
    }
    if (!sent) return { text, approvals };
    // The streamed message holds what it could; the rest goes out as usual.
    if (text.length <= this.platform.maxMessageLength) {
      if (text !== shown) await this.platform.editText(message.chatId, sent.messageId, text);
      return { text: '', approvals };
    }
    return { text, approvals };
  }

  /** Sends a reply split to the platform's limit, then the approval messages of a paused run (whose text may be empty). */
  private async reply(target: ChatTarget, text: string, approvals: ApprovalRecord[] = []): Promise<void> {
    if (text || !approvals.length) {
      const chunks = splitMessage(text, this.platform.maxMessageLength);
      for (const [index, chunk] of chunks.entries()) {
        await this.platform.sendText({ chatId: target.chatId, replyTo: index === 0 ? target.replyTo : undefined }, chunk);
      }
    }
    if (approvals.length) await this.sendApprovals(target, approvals);
  }

  /** One message per approval (with buttons where the platform has them), remembered for its edit. */
  private async sendApprovals(target: ChatTarget, approvals: ApprovalRecord[]): Promise<void> {
    for (const approval of approvals) {
      const text = approvalRequestText(approval);
      const sending = this.platform.sendApproval ? this.platform.sendApproval(target, approval, text) : this.platform.sendText(target, text);
      // Remembered while it is being sent: a decision made meanwhile edits it once it is there.
      this.approvalMessages.set(
        approval.approvalId,
        sending.then(
          (sent) => ({ chatId: target.chatId, messageId: sent.messageId }),
          () => undefined,
        ),
      );
      if (this.approvalMessages.size > MAX_APPROVAL_MESSAGES) this.approvalMessages.delete(this.approvalMessages.keys().next().value!);
      await sending;
    }
  }

  /** A text reply `yes <id>` / `no <id> [reason]` decides an approval for its sender. Returns whether it was one. */
  private async handleDecision(message: InboundMessage, userId: string): Promise<boolean> {
    const match = this.approvals ? DECISION_REPLY.exec(message.text.trim()) : null;
    if (!match) return false;
    const [, answer, approvalId, reason] = match;
    const decision = { chatId: message.chatId, senderId: message.senderId, approvalId, approve: answer.toLowerCase() === 'yes', reason: reason?.trim() };
    const result = await this.decideAs(decision, userId);
    await this.platform.sendText({ chatId: message.chatId, replyTo: message.messageId }, result.text);
    return true;
  }

  /**
   * Decides an approval for a button press (the interface's
   * `InterfaceRuntime.decide`): as the sender's resolved user, trusted when
   * the interface lists them among its `approvers`.
   */
  async decide(decision: ChatDecision): Promise<ChatDecisionResult> {
    const approvalId = decision.approvalId.toUpperCase();
    const inPlace = decision.updatesMessage ? (this.decidingInPlace.get(approvalId) ?? { presses: 0 }) : undefined;
    if (inPlace) {
      inPlace.presses++;
      this.decidingInPlace.set(approvalId, inPlace);
    }
    let result: ChatDecisionResult;
    try {
      const userId = this.identity ? await this.identity.resolve(this.platform.platform, decision.senderId) : defaultUserId(this.platform.platform, decision.senderId);
      result = await this.decideAs(decision, userId);
    } catch (error) {
      this.logger.error(`deciding approval ${decision.approvalId} in ${decision.chatId} failed: ${error instanceof Error ? error.message : String(error)}`);
      result = { decided: false, text: this.platform.options.errorMessage ?? DEFAULT_ERROR_MESSAGE };
    }
    if (inPlace) {
      if (result.decided) {
        // The interface shows it on the message as it answers the press: nothing left to edit.
        inPlace.decided = true;
        this.approvalMessages.delete(approvalId);
      }
      if (--inPlace.presses === 0) {
        this.decidingInPlace.delete(approvalId);
        // Decided elsewhere (HTTP, text, expiry) while the presses were refused: the message is edited as usual.
        if (inPlace.held && !inPlace.decided) await this.showDecision(inPlace.held).catch((error) => this.logger.warn(`could not edit approval ${approvalId}: ${String(error)}`));
      }
    }
    return result;
  }

  private async decideAs(decision: ChatDecision, userId: string): Promise<ChatDecisionResult> {
    const approvalId = decision.approvalId.toUpperCase();
    if (!this.approvals) return { decided: false, text: 'Tool approvals are not handled here.' };
    const principal = { userId, provider: this.platform.platform, trusted: (this.platform.options.approvers ?? []).includes(decision.senderId) };
    try {
      const runId = decision.runId ?? (await this.approvals.lookup(approvalId))?.runId;
      if (!runId) return { decided: false, text: `No approval ${approvalId} is waiting.` };
      const { approval, continued } = await this.approvals.decide(runId, approvalId, { approve: decision.approve, ...(decision.reason ? { reason: decision.reason } : {}) }, principal);
      const outcome = decision.approve ? (continued ? 'Approved — going on.' : 'Approved.') : 'Rejected.';
      return {
        decided: true,
        text: continued || !decision.approve ? outcome : `${outcome} The run goes on once its other approvals are decided.`,
        message: approvalDecidedText(approval),
      };
    } catch (error) {
      if (!(error instanceof ApprovalError)) throw error;
      if (error.code === 'approval_decided') return { decided: false, text: error.message };
      if (error.code === 'approval_pending') return { decided: false, text: 'The run is going on already.' };
      return { decided: false, text: `Only the person who asked (or an approver) may decide approval ${approvalId}.` };
    }
  }

  /** An approval was decided (here, over HTTP, anywhere): its message in the chat says so, buttons removed. */
  private async showDecision(approval: ApprovalRecord): Promise<void> {
    const inPlace = this.decidingInPlace.get(approval.approvalId);
    if (inPlace) {
      // A button is deciding it and its interface updates the message: held back (see decide()).
      inPlace.held = approval;
      return;
    }
    const sending = this.approvalMessages.get(approval.approvalId);
    if (!sending || !this.platform.editText) return;
    this.approvalMessages.delete(approval.approvalId);
    const sent = await sending;
    if (sent) await this.platform.editText(sent.chatId, sent.messageId, approvalDecidedText(approval));
  }

  /** A continuation of a run from this interface's chats ended: the chat gets its answer (or its new approvals, or the error message). */
  private async answerContinuation(record: RunRecord): Promise<void> {
    const metadata = (record.output?.metadata ?? {}) as Record<string, unknown>;
    // An interrupted run has no output: its trigger, `<platform>(<chatId>)`, still names the chat.
    const fromTrigger = /^([^()]+)\((.*)\)$/.exec(record.trigger);
    const platform = metadata.platform ?? fromTrigger?.[1];
    const chatId = typeof metadata.chatId === 'string' ? metadata.chatId : fromTrigger?.[2];
    if (platform !== this.platform.platform || !chatId || (metadata.interface !== undefined && metadata.interface !== this.platform.name)) return;
    const target = { chatId, replyTo: typeof metadata.messageId === 'string' ? metadata.messageId : undefined };
    const output = record.output;
    if (record.status === 'completed' || record.status === 'paused') {
      await this.reply(target, output?.content == null ? '' : String(output.content), record.status === 'paused' ? output?.pendingApprovals : undefined);
      return;
    }
    if (record.status === 'interrupted' || this.runner.isClosing) return;
    this.logger.error(`the continuation of run ${record.runId} in ${chatId} ended ${record.status}${record.error ? ` [${record.error.code}]: ${record.error.message}` : ''}`);
    await this.platform.sendText(target, this.platform.options.errorMessage ?? DEFAULT_ERROR_MESSAGE);
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
