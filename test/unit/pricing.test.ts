import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findModelPrice, OpenAIChat } from '../../lib';

describe('pricing', () => {
  it('finds exact ids and dated snapshots by the longest prefix', () => {
    assert.deepEqual(findModelPrice('gpt-4o'), { input: 2.5, output: 10 });
    assert.deepEqual(findModelPrice('gpt-4o-2024-08-06'), { input: 2.5, output: 10 });
    assert.deepEqual(findModelPrice('gpt-4o-mini-2024-07-18'), { input: 0.15, output: 0.6 });
    assert.deepEqual(findModelPrice('GPT-4.1-nano'), { input: 0.1, output: 0.4 });
    assert.equal(findModelPrice('gpt-4oo'), null);
    assert.equal(findModelPrice('llama3.1'), null);
  });

  it('prices usage on OpenAIChat, with an override or none', () => {
    assert.equal(new OpenAIChat({ id: 'gpt-4o-mini' }).cost({ inputTokens: 1_000_000, outputTokens: 1_000_000 }), 0.75);
    assert.equal(new OpenAIChat({ id: 'mine', pricing: { input: 1, output: 2 } }).cost({ inputTokens: 500_000, outputTokens: 0 }), 0.5);
    assert.equal(new OpenAIChat({ id: 'gpt-4o', pricing: null }).cost({ inputTokens: 1, outputTokens: 1 }), null);
    assert.throws(() => new OpenAIChat({ id: '' }), /needs a model id/);
  });
});
