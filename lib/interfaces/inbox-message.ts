import type { InboundMessage } from './inbound-message';

// How every durable chat inbox (SQLite, PostgreSQL) stores a message, so a message written by one
// is read back the same by the other.

/** A message as the inbox stores it: JSON, bytes (downloaded images, files) as base64, without the platform's raw object. */
export function serializeMessage(message: InboundMessage): string {
  return JSON.stringify({ ...message, raw: null }, function (this: Record<string, unknown>, key, value) {
    // The holder's own value: a Buffer has already been through its toJSON() in `value`.
    const original = this[key];
    return original instanceof Uint8Array ? { $bytes: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') } : value;
  });
}

/** The message {@link serializeMessage} stored, bytes as `Uint8Array`s again. */
export function parseMessage(text: string): InboundMessage {
  return JSON.parse(text, (_key, value) =>
    value && typeof value === 'object' && typeof value.$bytes === 'string' && Object.keys(value).length === 1 ? new Uint8Array(Buffer.from(value.$bytes, 'base64')) : value,
  ) as InboundMessage;
}
