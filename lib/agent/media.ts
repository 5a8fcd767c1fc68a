import { AgentError } from './errors';
import type { ContentPart, Message } from './messages';
import type { ModelCapabilities } from './models/model';
import type { FileInput } from './readers/file-reader';

/** Image formats vision models take. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/jpg', 'image/gif', 'image/webp']);
/** Audio formats Chat Completions takes as input. */
const AUDIO_FORMATS = new Set(['wav', 'mp3']);

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

/** The media of one run. */
export interface RunMedia {
  images?: ImageInput[];
  audio?: AudioInput[];
  videos?: VideoInput[];
  /** Files read into the prompt by the agent's readers (text, Markdown, JSON, CSV, HTML, PDF, DOCX). */
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

/**
 * Builds the run's user message from its input, the text blocks of its files
 * and its media. Fails with an `unsupported_media` {@link AgentError} (before
 * any model call) for media the model cannot take.
 */
export function buildUserMessage(input: string, fileBlocks: string[], media: RunMedia, capabilities: ModelCapabilities, modelId: string): Message {
  const text = fileBlocks.length ? [input, ...fileBlocks].join('\n\n') : input;
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
