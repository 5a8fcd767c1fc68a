/**
 * Splits a reply into chunks of at most `limit` characters for platforms with
 * a message size limit: on paragraph boundaries first, then lines, then words,
 * and only mid-word when a single word is longer than the limit. Fenced code
 * blocks (```) are never split at a boundary inside them: a block too long for
 * one message is closed at the end of a chunk and reopened (with its language)
 * at the start of the next, so every chunk renders on its own.
 */
export function splitMessage(text: string, limit: number): string[] {
  if (!Number.isInteger(limit) || limit < 16) throw new RangeError(`splitMessage: limit must be a whole number of at least 16, got ${limit}.`);
  if (text.length <= limit) return text.length ? [text] : [];
  const chunks: string[] = [];
  for (const block of blocks(text)) {
    const pieces = block.code ? splitCode(block.text, block.fence!, limit) : splitProse(block.text, limit);
    for (const piece of pieces) {
      const last = chunks[chunks.length - 1];
      const joined = last === undefined ? piece : `${last}\n\n${piece}`;
      if (last !== undefined && joined.length <= limit) chunks[chunks.length - 1] = joined;
      else chunks.push(piece);
    }
  }
  return chunks.filter((chunk) => chunk.trim() !== '');
}

interface Block {
  text: string;
  code: boolean;
  /** The opening fence line of a code block, e.g. "```ts". */
  fence?: string;
}

/** Cuts text into prose paragraphs and whole fenced code blocks. */
function blocks(text: string): Block[] {
  const result: Block[] = [];
  const fence = /^```[^\n]*$/gm;
  let cursor = 0;
  let open: RegExpExecArray | null;
  while ((open = fence.exec(text))) {
    const close = fence.exec(text);
    const end = close ? close.index + close[0].length : text.length;
    const before = text.slice(cursor, open.index);
    for (const paragraph of before.split(/\n{2,}/)) if (paragraph.trim()) result.push({ text: paragraph.trim(), code: false });
    result.push({ text: text.slice(open.index, end), code: true, fence: open[0] });
    cursor = end;
    if (!close) break;
  }
  for (const paragraph of text.slice(cursor).split(/\n{2,}/)) if (paragraph.trim()) result.push({ text: paragraph.trim(), code: false });
  return result;
}

function splitProse(text: string, limit: number): string[] {
  if (text.length <= limit) return [text];
  const out: string[] = [];
  let current = '';
  const push = (piece: string, separator: string) => {
    if (current && (current + separator + piece).length <= limit) current += separator + piece;
    else {
      if (current) out.push(current);
      current = piece;
    }
  };
  for (const line of text.split('\n')) {
    if (line.length <= limit) {
      push(line, '\n');
      continue;
    }
    for (const word of line.split(/ +/)) {
      if (word.length <= limit) push(word, ' ');
      else for (let i = 0; i < word.length; i += limit) push(word.slice(i, i + limit), ' ');
    }
  }
  if (current) out.push(current);
  return out;
}

function splitCode(block: string, fence: string, limit: number): string[] {
  if (block.length <= limit) return [block];
  const closing = '\n```';
  const body = block.slice(fence.length + 1).replace(/\n?```\s*$/, '');
  const room = limit - fence.length - 1 - closing.length;
  const out: string[] = [];
  let current = '';
  for (const line of body.split('\n')) {
    const parts = line.length <= room ? [line] : line.match(new RegExp(`.{1,${room}}`, 'g')) ?? [''];
    for (const part of parts) {
      if (current !== '' && (current + '\n' + part).length > room) {
        out.push(`${fence}\n${current}${closing}`);
        current = part;
      } else current = current === '' ? part : `${current}\n${part}`;
    }
  }
  if (current !== '') out.push(`${fence}\n${current}${closing}`);
  return out;
}
