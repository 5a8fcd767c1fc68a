import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { AgentError } from '../errors';

/**
 * A file handed to a run: a path on disk, `{ path }`, or `{ name, content }`
 * (a Buffer or a string) with an optional `mimeType`.
 */
export type FileInput = string | { path: string; name?: string; mimeType?: string } | { name: string; content: string | Uint8Array; mimeType?: string };

/** A file's bytes with the name and type used to pick its reader. */
export interface LoadedFile {
  name: string;
  /** The lower-cased extension without the dot (`'pdf'`). */
  extension: string;
  mimeType?: string;
  data: Uint8Array;
}

/** Turns a file into text for the prompt. */
export interface FileReader {
  /** A short name for errors and events, e.g. `'pdf'`. */
  readonly name: string;
  /** Extensions it reads (without the dot). */
  readonly extensions: readonly string[];
  /** Mime types it reads. */
  readonly mimeTypes: readonly string[];
  /** The file's text. Throw with a message that says what is wrong with the file. */
  read(file: LoadedFile): Promise<string>;
}

/** Limits and readers of an agent's file reading. */
export interface ReadersOptions {
  /** The readers, tried by extension then mime type. Default: every built-in reader. */
  readers?: FileReader[];
  /** Largest file read, in bytes. Default 20 MiB. */
  maxFileBytes?: number;
  /** Most characters taken from one file. Default 200,000. */
  maxChars?: number;
}

function fileError(message: string): AgentError {
  return new AgentError('file_read', message);
}

/** Loads a {@link FileInput}'s bytes (reading a path), enforcing the size limit. */
export async function loadFile(input: FileInput, index: number, maxBytes: number): Promise<LoadedFile> {
  if (typeof input === 'string' || (input && typeof input === 'object' && 'path' in input && typeof input.path === 'string')) {
    const path = typeof input === 'string' ? input : input.path;
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw fileError(`files[${index}]: "${path}" is not a readable file.`);
    if (info.size > maxBytes) throw fileError(`File "${basename(path)}" is ${info.size} bytes; the limit is ${maxBytes} (readers.maxFileBytes).`);
    const name = (typeof input === 'string' ? undefined : input.name) ?? basename(path);
    return { name, extension: extension(name), mimeType: typeof input === 'string' ? undefined : input.mimeType, data: await readFile(path) };
  }
  if (!input || typeof input !== 'object' || typeof (input as { name?: unknown }).name !== 'string' || (input as { name: string }).name === '') {
    throw fileError(`files[${index}] must be a path, { path }, or { name, content } (e.g. { name: 'report.pdf', content: buffer }).`);
  }
  const { name, content, mimeType } = input as { name: string; content: string | Uint8Array; mimeType?: string };
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content instanceof Uint8Array ? content : undefined;
  if (!data) throw fileError(`files[${index}] ("${name}"): content must be a string or a Buffer.`);
  if (data.length > maxBytes) throw fileError(`File "${name}" is ${data.length} bytes; the limit is ${maxBytes} (readers.maxFileBytes).`);
  return { name, extension: extension(name), mimeType: mimeType?.toLowerCase().split(';')[0], data };
}

function extension(name: string): string {
  return extname(name).slice(1).toLowerCase();
}

/** Picks the reader of a file, or throws naming the supported types. */
export function pickReader(file: LoadedFile, readers: FileReader[]): FileReader {
  const byExtension = readers.find((reader) => reader.extensions.includes(file.extension));
  const byMime = file.mimeType ? readers.find((reader) => reader.mimeTypes.includes(file.mimeType!)) : undefined;
  const reader = byExtension ?? byMime;
  if (!reader) {
    const supported = [...new Set(readers.flatMap((candidate) => candidate.extensions))].join(', ');
    throw fileError(`File "${file.name}" has a type no reader handles; supported: ${supported}.`);
  }
  return reader;
}

/** Reads a file into a named block for the prompt, enforcing the extracted-length limit. */
export async function readToBlock(file: LoadedFile, reader: FileReader, maxChars: number): Promise<string> {
  let text: string;
  try {
    text = await reader.read(file);
  } catch (error) {
    if (error instanceof AgentError) throw error;
    throw fileError(`Could not read "${file.name}" as ${reader.name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (text.length > maxChars) {
    throw fileError(`"${file.name}" holds ${text.length} characters of text; the limit is ${maxChars} (readers.maxChars). Send a smaller file or an excerpt.`);
  }
  return `<file name="${file.name.replace(/"/g, "'")}">\n${text}\n</file>`;
}
