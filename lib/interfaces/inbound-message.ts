import type { FileInput, ImageInput } from '../agent';

/** A platform message, normalised by its interface for the pipeline. */
export interface InboundMessage {
  /** The platform (`'telegram'`, `'discord'`, `'signal'`). */
  platform: string;
  /** The platform's id of this message (for dedup and replies). */
  messageId: string;
  /** The chat (conversation, channel, group) it was sent in. */
  chatId: string;
  /** Whether the chat is a one-to-one conversation with the bot. */
  direct: boolean;
  /** The sender's platform user id. */
  senderId: string;
  senderName?: string;
  /** Whether the bot itself sent it. */
  fromSelf: boolean;
  text: string;
  /** The message it replies to, if any. */
  replyTo?: { messageId: string; text?: string };
  images?: ImageInput[];
  files?: FileInput[];
  /** The platform's raw message. */
  raw: unknown;
}

/** A chat to send to. */
export interface ChatTarget {
  chatId: string;
  /** Reply to this message (threads the answer under it). */
  replyTo?: string;
}
