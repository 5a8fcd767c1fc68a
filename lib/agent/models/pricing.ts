/** A model's price in USD per one million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
}

/**
 * List prices (USD per 1M tokens, standard tier) of common OpenAI models.
 * Dated snapshots (`gpt-4o-2024-08-06`) match their base id by longest prefix.
 * Pass `pricing` to `OpenAIChat` for other models or negotiated prices.
 */
export const OPENAI_PRICING: Readonly<Record<string, ModelPrice>> = Object.freeze({
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, output: 60 },
  'o1-mini': { input: 1.1, output: 4.4 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
});

/**
 * Finds the price of a model id in a table: an exact match, else the longest
 * key followed by `-` (so `gpt-4o-2024-08-06` finds `gpt-4o`, and
 * `gpt-4o-mini` is not mistaken for `gpt-4o`). Returns `null` when unknown.
 */
export function findModelPrice(
  modelId: string,
  table: Readonly<Record<string, ModelPrice>> = OPENAI_PRICING,
): ModelPrice | null {
  const id = modelId.toLowerCase();
  if (table[id]) return table[id];
  let best: string | null = null;
  for (const key of Object.keys(table)) {
    if (id.startsWith(`${key}-`) && (best === null || key.length > best.length)) best = key;
  }
  return best === null ? null : table[best];
}

/** The cost in USD of a number of input and output tokens at a price. */
export function priceTokens(price: ModelPrice, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}
