/**
 * Secrets that upstream error texts and platform errors are known to carry, and what replaces
 * them. Applied to what is logged; callers never see such texts at all.
 */
const SECRET_PATTERNS: [RegExp, string][] = [
  // Authorization values: "Bearer sk-…", "Basic dXNl…".
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, '$1 [redacted]'],
  // Telegram bot tokens (123456:AA…), also inside https://api.telegram.org/bot<token>/ URLs.
  [/\b\d{5,}:[A-Za-z0-9_-]{30,}/g, '[redacted-bot-token]'],
  // Provider keys: OpenAI-style sk-…, and long key-like runs after a key name.
  [/\bsk-[A-Za-z0-9_-]{8,}/g, 'sk-[redacted]'],
  [/\b(api[_-]?key|access[_-]?token|token|secret|password|authorization)(["']?\s*[:=]\s*["']?)[^\s"',;&]{4,}/gi, '$1$2[redacted]'],
  // Phone numbers in international form (Signal accounts).
  [/\+\d[\d ]{6,16}\d/g, '+[redacted-phone]'],
];

/** `text` with bearer tokens, API keys, bot tokens and phone numbers replaced, for logs. */
export function redactSecrets(text: string): string {
  let redacted = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) redacted = redacted.replace(pattern, replacement);
  return redacted;
}
