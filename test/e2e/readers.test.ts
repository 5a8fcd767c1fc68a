import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, AgentRunError } from '../../lib';
import { TestModel } from '../../lib/testing';
import { collect, tempDir } from '../support/fixtures';
import { makeDocx, makePdf } from '../support/fixture-files';

const dir = tempDir();
after(() => dir.cleanup());

/** The user message text the model received for one file. */
async function read(file: Parameters<Agent['run']>[1] extends infer O ? NonNullable<O> extends { files?: (infer F)[] } ? F : never : never) {
  const model = new TestModel({ responses: ['ok'] });
  const events = await collect(new Agent({ model }).stream('Summarise.', { files: [file] }));
  const last = events.at(-1);
  if (last?.event === 'RunError') throw new AgentRunError(last.error.code, last.error.message, last.output);
  return { text: String(model.calls[0].messages.at(-1)?.content), events };
}

describe('file readers', () => {
  it('reads text, Markdown, JSON and CSV as they are, with read events', async () => {
    for (const [name, content] of [
      ['notes.txt', 'plain words'],
      ['readme.md', '# Title\n\n- item'],
      ['data.json', '{"a": 1}'],
      ['table.csv', 'a,b\n1,2'],
    ]) {
      const { text, events } = await read({ name, content: Buffer.from(content) });
      assert.equal(text, `Summarise.\n\n<file name="${name}">\n${content}\n</file>`);
      const started = events.find((event) => event.event === 'FileReadStarted');
      const completed = events.find((event) => event.event === 'FileReadCompleted');
      assert.ok(started?.event === 'FileReadStarted' && started.name === name && started.type === 'text');
      assert.ok(completed?.event === 'FileReadCompleted' && completed.characters > content.length);
    }
  });

  it('extracts the text of HTML', async () => {
    const { text } = await read({ name: 'page.html', content: '<html><head><style>p{}</style></head><body><h1>Title</h1><p>Hello <b>HTML</b> reader.</p><img src="x.png"></body></html>' });
    assert.match(text, /TITLE/);
    assert.match(text, /Hello HTML reader\./);
    assert.doesNotMatch(text, /<p>|style|x\.png/);
  });

  it('extracts the text of a PDF read from a path', async () => {
    const path = join(dir.path, 'report.pdf');
    writeFileSync(path, makePdf('Quarterly revenue grew 12 percent'));
    const { text, events } = await read(path);
    assert.match(text, /<file name="report.pdf">\nQuarterly revenue grew 12 percent\n<\/file>/);
    assert.ok(events.some((event) => event.event === 'FileReadCompleted' && event.type === 'pdf'));
  });

  it('extracts the text of a Word document', async () => {
    const { text } = await read({ name: 'letter.docx', content: makeDocx('Dear reader,\nThis is DOCX.') });
    assert.match(text, /Dear reader,\s+This is DOCX\./);
  });

  it('refuses unknown, corrupt and oversized files with a clear error', async () => {
    await assert.rejects(read({ name: 'image.xyz', content: 'x' }), (error: AgentRunError) => error.code === 'file_read' && /supported: txt, .*pdf, docx/.test(error.message));
    await assert.rejects(read({ name: 'broken.pdf', content: Buffer.from('%PDF-1.7 not really') }), (error: AgentRunError) => error.code === 'file_read' && /Could not read "broken.pdf" as pdf/.test(error.message));
    await assert.rejects(read({ name: 'bad.txt', content: Buffer.from([0xff, 0xfe, 0xfd]) }), /not valid UTF-8/);
    await assert.rejects(read(join(dir.path, 'missing.txt')), /is not a readable file/);
    const small = new Agent({ model: new TestModel({ responses: ['x'] }), readers: { maxFileBytes: 10, maxChars: 5 } });
    await assert.rejects(small.run('x', { files: [{ name: 'big.txt', content: 'x'.repeat(11) }] }), /the limit is 10 \(readers.maxFileBytes\)/);
    await assert.rejects(small.run('x', { files: [{ name: 'long.txt', content: 'y'.repeat(8) }] }), /the limit is 5 \(readers.maxChars\)/);
    const none = new Agent({ model: new TestModel({ responses: ['x'] }), readers: false });
    await assert.rejects(none.run('x', { files: [{ name: 'a.txt', content: 'a' }] }), /readers disabled/);
  });
});
