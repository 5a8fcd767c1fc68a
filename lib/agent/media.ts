import { AgentError } from './errors';
import type { ContentPart, Message } from './messages';
import type { ModelCapabilities } from './models/model';

/** Image formats vision models take. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp']);
/** Audio formats Chat Completions takes as input. */
const AUDIO_FORMATS = new Set(['wav', 'mp3']);
/** Text-like files appended to the user message. */
const TEXT_FILE_EXTENSIONS = new Set(['txt', 'md', 'markdown', 'json', 'csv']);
const TEXT_FILE_TYPES = new Set(['text/plain', 'text/markdown', 'application/json', 'text/csv']);

/**
 * An image input: an `http(s)` URL or `data:` URL string, `{ url }`, or raw
 * bytes with their mime type (png, jpeg, gif, webp).
 */
export type ImageInput =
  | string
  | { url: string; detail?: 'auto' | 'low' | 'high' }
  | { data: Uint8Array; mimeType: string; detail?: 'auto' | 'low' | 'high' };

/** An audio input: raw bytes (or base64 text) in `wav` or `mp3`. */
export interface AudioInput {
  data: Uint8Array | string;
  format: 'wav' | 'mp3';
}

/** A video input: passed to models that take video; a model that does not (OpenAIChat) fails the run before any call. */
export interface VideoInput {
  url?: string;
  data?: Uint8Array;
  mimeType?: string;
}

/**
 * A file input. Text-like files (`txt`, `md`, `json`, `csv`) are appended to
 * the user message as a named block; other types fail the run with
 * `unsupported_media` before any model call.
 */
export interface FileInput {
  name: string;
  content: string | Uint8Array;
  mimeType?: string;
}

/** The media of one run. */
export interface RunMedia {
  images?: ImageInput[];
  audio?: AudioInput[];
  videos?: VideoInput[];
  files?: FileInput[];
}

function unsupported(message: string): AgentError {
  return new AgentError('unsupported_media', message);
}

function toImagePart(image: ImageInput, index: number): ContentPart {
  if (typeof image === 'string') image = { url: image };
  if (image && 'url' in image && typeof image.url === 'string') {
    const url = image.url;
    if (/^https?:\/\//i.test(url)) return { type: 'image', url, ...(image.detail ? { detail: image.detail } : {}) };
    const dataUrl = /^data:([^;,]+);base64,/i.exec(url);
    if (dataUrl) {
      if (!IMAGE_TYPES.has(dataUrl[1].toLowerCase())) {
        throw unsupported(`images[${index}] is a data URL of type ${dataUrl[1]}; use png, jpeg, gif or webp.`);
      }
      return { type: 'image', url, ...(image.detail ? { detail: image.detail } : {}) };
    }
    throw unsupported(`images[${index}] must be an http(s) URL, a base64 data URL, or { data, mimeType }.`);
  }
  if (image && 'data' in image && image.data instanceof Uint8Array) {
    const mime = String(image.mimeType ?? '').toLowerCase();
    if (!IMAGE_TYPES.has(mime)) {
      throw unsupported(`images[${index}] has mime type "${image.mimeType}"; use image/png, image/jpeg, image/gif or image/webp.`);
    }
    const url = `data:${mime};base64,${Buffer.from(image.data).toString('base64')}`;
    return { type: 'image', url, ...(image.detail ? { detail: image.detail } : {}) };
  }
  throw unsupported(`images[${index}] must be a URL string, { url } or { data: Buffer, mimeType }.`);
}

function toAudioPart(audio: AudioInput, index: number): ContentPart {
  if (!audio || !AUDIO_FORMATS.has(audio.format)) {
    throw unsupported(`audio[${index}] has format "${audio?.format}"; use "wav" or "mp3".`);
  }
  if (typeof audio.data === 'string') return { type: 'audio', data: audio.data, format: audio.format };
  if (audio.data instanceof Uint8Array) {
    return { type: 'audio', data: Buffer.from(audio.data).toString('base64'), format: audio.format };
  }
  throw unsupported(`audio[${index}].data must be a Buffer or a base64 string.`);
}

function toVideoPart(video: VideoInput, index: number): ContentPart {
  if (video && typeof video.url === 'string' && /^https?:\/\//i.test(video.url)) return { type: 'video', url: video.url, ...(video.mimeType ? { mimeType: video.mimeType } : {}) };
  if (video && video.data instanceof Uint8Array && typeof video.mimeType === 'string' && video.mimeType.startsWith('video/')) {
    return { type: 'video', data: Buffer.from(video.data).toString('base64'), mimeType: video.mimeType };
  }
  throw unsupported(`videos[${index}] must be { url: 'https://...' } or { data: Buffer, mimeType: 'video/...' }.`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fileBlock(file: FileInput, index: number): string {
  if (!file || typeof file.name !== 'string' || file.name === '') {
    throw unsupported(`files[${index}] needs a name (e.g. "report.csv").`);
  }
  const extension = file.name.includes('.') ? file.name.split('.').pop()!.toLowerCase() : '';
  const mime = file.mimeType?.toLowerCase();
  if (!TEXT_FILE_EXTENSIONS.has(extension) && !(mime && TEXT_FILE_TYPES.has(mime))) {
    throw unsupported(
      `File "${file.name}" is not a text file this agent can read: pass txt, md, json or csv files, or extract the text yourself first.`,
    );
  }
  let text: string;
  if (typeof file.content === 'string') text = file.content;
  else if (file.content instanceof Uint8Array) {
    try {
      text = utf8.decode(file.content);
    } catch {
      throw unsupported(`File "${file.name}" is not valid UTF-8 text.`);
    }
  } else throw unsupported(`files[${index}].content must be a string or a Buffer.`);
  const name = file.name.replace(/"/g, "'");
  return `<file name="${name}">\n${text}\n</file>`;
}

/**
 * Builds the run's user message from its input and media. Fails with an
 * `unsupported_media` {@link AgentError} (before any model call) for media
 * the model cannot take.
 */
export function buildUserMessage(input: string, media: RunMedia, capabilities: ModelCapabilities, modelId: string): Message {
  const files = media.files ?? [];
  const text = files.length ? [input, ...files.map(fileBlock)].join('\n\n') : input;
  const images = media.images ?? [];
  const audio = media.audio ?? [];
  const videos = media.videos ?? [];
  if (videos.length && !capabilities.video) {
    throw unsupported(`Model ${modelId} does not take video input; remove videos or use a model that does.`);
  }
  if (images.length && !capabilities.images) {
    throw unsupported(`Model ${modelId} does not take image input; remove images or use a vision model.`);
  }
  if (audio.length && !capabilities.audio) {
    throw unsupported(`Model ${modelId} does not take audio input; remove audio or use an audio model.`);
  }
  if (!images.length && !audio.length && !videos.length) return { role: 'user', content: text };
  const parts: ContentPart[] = [{ type: 'text', text }];
  images.forEach((image, index) => parts.push(toImagePart(image, index)));
  audio.forEach((clip, index) => parts.push(toAudioPart(clip, index)));
  videos.forEach((video, index) => parts.push(toVideoPart(video, index)));
  return { role: 'user', content: parts };
}
