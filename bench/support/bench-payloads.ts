/**
 * What the HTTP benchmark sends and what its fake model answers, shared by the load generator
 * (bench/http-run.bench.ts) and the processes it starts (bench-servers.ts).
 */
import type { FakeReply } from '../../lib/testing';

/** The fake model's answer to a JSON /run request: two sentences. */
export const REPLY = 'Revenue grew twelve percent on strong subscription sales. Costs were flat, so margins improved.';

/** The input of a JSON /run request. */
export const JSON_INPUT = 'Summarise the quarterly report in two sentences.';

/** The input of a streamed /run request; the fake model answers it with {@link LONG_REPLY}. */
export const STREAM_INPUT = 'Write out the quarterly report in full.';

const SENTENCES = [
  'Revenue grew twelve percent on strong subscription sales across every region we serve.',
  'Costs were flat, so operating margins improved by nearly three points over the quarter.',
  'Churn fell for the fourth quarter in a row as the new onboarding flow reached all customers.',
  'Hiring slowed deliberately while the support team absorbed the seasonal peak without overtime.',
];

/**
 * The fake model's streamed answer: 200 words, which the fake server sends as 200 content
 * chunks (one per word), about the size of a typical paragraph-long answer in tokens.
 */
export const LONG_REPLY = (() => {
  const words = Array.from({ length: 50 }, (_, i) => SENTENCES[i % SENTENCES.length]).join(' ').split(' ');
  return words.slice(0, 200).join(' ');
})();

/** How many content chunks the fake model streams for {@link LONG_REPLY} (one per word). */
export const LONG_REPLY_CHUNKS = LONG_REPLY.split(' ').length;

/** The fake model's answer to a chat completion request: {@link LONG_REPLY} for the streaming input, else {@link REPLY}. */
export function benchReply(body: { messages?: { role?: string; content?: unknown }[] }): FakeReply {
  const last = [...(body.messages ?? [])].reverse().find((message) => message.role === 'user');
  return { content: last?.content === STREAM_INPUT ? LONG_REPLY : REPLY };
}
