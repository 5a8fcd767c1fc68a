import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitMessage } from '../../lib/interfaces/split-message';

describe('splitMessage', () => {
  it('keeps a short message whole', () => {
    assert.deepEqual(splitMessage('Hello there.', 100), ['Hello there.']);
  });

  it('splits on paragraphs first, packing as many as fit', () => {
    const text = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(40)].join('\n\n');
    assert.deepEqual(splitMessage(text, 90), [`${'a'.repeat(40)}\n\n${'b'.repeat(40)}`, 'c'.repeat(40)]);
  });

  it('then on lines, then on words, never exceeding the limit', () => {
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const chunks = splitMessage(words, 50);
    assert.ok(chunks.every((chunk) => chunk.length <= 50));
    assert.equal(chunks.join(' '), words);
    assert.ok(chunks.every((chunk) => !chunk.startsWith(' ') && /\d$/.test(chunk)), 'no word is cut');
  });

  it('cuts a single overlong word only when it must', () => {
    const chunks = splitMessage('x'.repeat(130), 50);
    assert.deepEqual(chunks.map((chunk) => chunk.length), [50, 50, 30]);
  });

  it('never splits inside a code block that fits, and reopens one that does not', () => {
    const code = '```ts\n' + Array.from({ length: 12 }, (_, i) => `const v${i} = ${i};`).join('\n') + '\n```';
    const text = `Intro paragraph.\n\n${code}\n\nOutro.`;
    const chunks = splitMessage(text, 120);
    assert.ok(chunks.every((chunk) => chunk.length <= 120), chunks.map((c) => c.length).join(','));
    for (const chunk of chunks) {
      const fences = chunk.match(/```/g)?.length ?? 0;
      assert.equal(fences % 2, 0, `balanced fences in: ${chunk}`);
    }
    assert.ok(chunks.filter((chunk) => chunk.includes('```ts')).length >= 2, 'the long block is reopened with its language');
    const whole = splitMessage(`Intro.\n\n\`\`\`\nshort code\nhere\n\`\`\`\n\nOutro ${'z'.repeat(60)}`, 40);
    assert.ok(whole.some((chunk) => chunk.includes('```\nshort code\nhere\n```')), whole.join(' | '));
  });
});
