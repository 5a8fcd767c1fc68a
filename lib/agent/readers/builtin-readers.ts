import { AgentError } from '../errors';
import type { FileReader, LoadedFile } from './file-reader';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode(file: LoadedFile): string {
  try {
    return utf8.decode(file.data);
  } catch {
    throw new AgentError('file_read', `"${file.name}" is not valid UTF-8 text.`);
  }
}

function optional<T>(name: string, reader: string): T {
  try {
    return require(name) as T;
  } catch {
    throw new AgentError('file_read', `Reading ${reader} files needs the "${name}" package: run \`npm install ${name}\`.`);
  }
}

/** Plain text, Markdown, JSON and CSV, as they are (UTF-8). */
export const textReader: FileReader = {
  name: 'text',
  extensions: ['txt', 'text', 'md', 'markdown', 'json', 'csv', 'tsv', 'log', 'yaml', 'yml', 'xml'],
  mimeTypes: ['text/plain', 'text/markdown', 'application/json', 'text/csv', 'text/tab-separated-values', 'application/xml', 'text/xml', 'application/yaml'],
  read: async (file) => decode(file),
};

/** HTML reduced to its text (on `html-to-text`). */
export const htmlReader: FileReader = {
  name: 'html',
  extensions: ['html', 'htm'],
  mimeTypes: ['text/html', 'application/xhtml+xml'],
  read: async (file) => {
    const { convert } = optional<typeof import('html-to-text')>('html-to-text', 'HTML');
    return convert(decode(file), { wordwrap: false, selectors: [{ selector: 'img', format: 'skip' }] }).trim();
  },
};

/** PDF text (on `pdf-parse`). */
export const pdfReader: FileReader = {
  name: 'pdf',
  extensions: ['pdf'],
  mimeTypes: ['application/pdf'],
  read: async (file) => {
    const { PDFParse } = optional<{ PDFParse: new (options: { data: Uint8Array }) => { getText(params?: { pageJoiner?: string }): Promise<{ text: string }>; destroy(): Promise<void> } }>('pdf-parse', 'PDF');
    const parser = new PDFParse({ data: new Uint8Array(file.data) });
    try {
      // Pages are separated by a blank line rather than pdf-parse's '-- n of m --' markers.
      return (await parser.getText({ pageJoiner: '' })).text.trim();
    } finally {
      await parser.destroy();
    }
  },
};

/** Word documents (.docx) as raw text (on `mammoth`). */
export const docxReader: FileReader = {
  name: 'docx',
  extensions: ['docx'],
  mimeTypes: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  read: async (file) => {
    const mammoth = optional<typeof import('mammoth')>('mammoth', 'DOCX');
    const result = await mammoth.extractRawText({ buffer: Buffer.from(file.data) });
    return result.value.trim();
  },
};

/** Every built-in reader. */
export const BUILTIN_READERS: readonly FileReader[] = Object.freeze([textReader, htmlReader, pdfReader, docxReader]);
