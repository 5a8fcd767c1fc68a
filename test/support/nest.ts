import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { INestApplication, ModuleMetadata, NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test, TestingModule } from '@nestjs/testing';
import { DefinableModule, DefinableModuleOptions } from '../../lib';

/** The major version of the Nest line this run resolves (the suite runs on 11 and on 12). */
export const NEST_MAJOR = Number(
  JSON.parse(readFileSync(join(dirname(require.resolve('@nestjs/core')), 'package.json'), 'utf8')).version.split('.')[0],
);

/** Test options for tests of necord / nestjs-telegraf, whose peer ranges stop at Nest 11: skipped on the Nest 12 pass. */
export const withNest11Integrations = NEST_MAJOR <= 11 ? {} : { skip: 'necord and nestjs-telegraf support Nest 10 and 11 only (their peer ranges)' };

/** The two HTTP platforms every e2e test runs on. */
export const PLATFORMS = ['fastify', 'express'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A started app on a random loopback port. */
export interface TestApp {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

/** Builds a module with Nest's testing module, starts it on 127.0.0.1 on the given platform (`configure` runs before listen). */
export async function startApp(
  platform: Platform,
  metadata: ModuleMetadata,
  configure?: (app: INestApplication) => void,
  appOptions: NestApplicationOptions = {},
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const app = moduleRef.createNestApplication(platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: false, ...appOptions });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  return { app, url, close: () => app.close() };
}

/** POSTs JSON (or a raw string body) and returns status, headers and parsed body. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** One parsed Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: any;
  /** The frame's `id:` (the event's sequence number in its run), when it has one. */
  id?: number;
}

/** Reads SSE frames from a fetch response as they arrive. */
export async function* readSse(response: Response): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      // A field's colon may be followed by one space, or none (the /run wire sends none).
      const event = /^event: ?(.*)$/m.exec(frame)?.[1] ?? 'message';
      const data = /^data: ?(.*)$/m.exec(frame)?.[1];
      const id = /^id: ?(.*)$/m.exec(frame)?.[1];
      yield { event, data: data === undefined ? undefined : JSON.parse(data), ...(id === undefined ? {} : { id: Number(id) }) };
    }
  }
}

/** Lets queued promise jobs and I/O callbacks run (not a sleep: it waits for nothing in particular). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A DefinableModule app without HTTP (Nest's testing module, `init()`ed),
 * with extra modules imported before it, logging off.
 */
export async function bootModule(options: DefinableModuleOptions, imports: any[] = []): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({ imports: [...imports, DefinableModule.forRoot({ ...options, server: { enabled: false } })] }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  return moduleRef;
}
