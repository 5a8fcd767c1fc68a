/**
 * A text part of a message's content.
 */
export interface TextPart {
  type: 'text';
  text: string;
}

/**
 * An image part of a message's content: an `http(s)` URL or a `data:` URL.
 */
export interface ImagePart {
  type: 'image';
  url: string;
  /** Resolution hint for vision models. */
  detail?: 'auto' | 'low' | 'high';
}

/**
 * An audio part of a message's content, base64-encoded.
 */
export interface AudioPart {
  type: 'audio';
  /** Base64-encoded audio bytes. */
  data: string;
  format: 'wav' | 'mp3';
}

/** A video part of a message's content (for models that take video): a URL, or base64 data with its mime type. */
export interface VideoPart {
  type: 'video';
  url?: string;
  /** Base64-encoded video bytes. */
  data?: string;
  mimeType?: string;
}

/** One part of a multi-part message content. */
export type ContentPart = TextPart | ImagePart | AudioPart | VideoPart;

/**
 * A tool call requested by the model, as stored in history.
 */
export interface ToolCallRequest {
  /** The provider's id for this call; tool results refer to it. */
  id: string;
  name: string;
  /** The raw JSON arguments as the model produced them. */
  arguments: string;
}

/**
 * A chat message in the provider-neutral format the agent keeps in sessions and
 * hands to models. Models translate it to their own wire format.
 */
export type Message =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCallRequest[] }
  | { role: 'tool'; toolCallId: string; name?: string; content: string };

/** Returns the plain text of a message's content (media parts are skipped). */
export function messageText(message: Message): string {
  const content = message.content;
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((part): part is TextPart => part.type === 'text')
    .map((part) => part.text)
    .join('\n');
}
