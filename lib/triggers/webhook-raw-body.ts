import { Readable } from 'node:stream';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DefinableHttpError } from '../module/http-errors';

/** The Fastify route config key `@Webhook` sets on routes whose signature is verified (Nest copies `__fastify_route_config__` into the route's options). */
export const RAW_BODY_ROUTE_CONFIG = 'definableRawBody';

/** How many `@Webhook`s with `verify` the process has declared (set by the decorator, read at bootstrap). */
let verifiedWebhooks = 0;

/** @internal Called by `@Webhook` for a route with `verify`. */
export function noteVerifiedWebhook(): void {
  verifiedWebhooks++;
}

/** What to add so an Express app keeps request bodies' bytes. */
export const EXPRESS_RAW_BODY_FIX =
  'create the app with the raw body kept: NestFactory.create(AppModule, { rawBody: true }) ' +
  '(or, in a test, moduleRef.createNestApplication(new ExpressAdapter(), { rawBody: true }))';

/**
 * Makes the exact bytes of a webhook's body available for signature checks
 * (`@Webhook(path, { verify })`), as `request.rawBody`: on Fastify without any
 * change to the app (a `preParsing` hook copies the body of the routes with
 * `verify`, counted against Fastify's `bodyLimit`); on Express the app must be
 * created with `{ rawBody: true }` — bootstrap fails with that line otherwise.
 */
@Injectable()
export class WebhookRawBody implements OnModuleInit {
  private readonly logger = new Logger('Definable:Webhooks');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  async onModuleInit(): Promise<void> {
    const adapter = this.adapterHost?.httpAdapter;
    if (verifiedWebhooks === 0 || !adapter) return;
    const instance = adapter.getInstance?.();
    if (adapter.getType?.() === 'fastify') return this.teeOnFastify(instance);
    if (adapter.getType?.() === 'express' && (await expressKeepsRawBody(instance)) === false) {
      throw new Error(`DefinableModule: a @Webhook with verify checks signatures over the raw body, which Express has already parsed: ${EXPRESS_RAW_BODY_FIX}.`);
    }
  }

  /** Copies the bodies of routes marked by `@Webhook({ verify })` before Fastify parses them. */
  private teeOnFastify(fastify: any): void {
    const limit: number = fastify.initialConfig?.bodyLimit ?? 1024 * 1024;
    fastify.addHook('preParsing', async (request: any, _reply: unknown, payload: Readable) => {
      if (!request.routeOptions?.config?.[RAW_BODY_ROUTE_CONFIG] || Buffer.isBuffer(request.rawBody)) return payload;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of payload) {
        size += chunk.length;
        if (size > limit) throw new DefinableHttpError(413, 'payload_too_large', `The request body is over ${limit} bytes: send a smaller body.`);
        chunks.push(chunk);
      }
      const body = Buffer.concat(chunks);
      request.rawBody = body;
      const copy = Readable.from([body]) as Readable & { receivedEncodedLength?: number };
      copy.receivedEncodedLength = body.length;
      return copy;
    });
    this.logger.debug?.('keeping the raw body of webhooks with verify');
  }
}

/**
 * Whether Express's registered JSON parser keeps the raw body (the app was
 * created with `rawBody: true`): runs it on a small request and looks.
 * `undefined` when there is no parser to ask (`bodyParser: false`).
 */
function expressKeepsRawBody(app: any): Promise<boolean | undefined> {
  const layer = (app?.router ?? app?._router)?.stack?.find((entry: any) => entry?.handle?.name === 'jsonParser');
  if (!layer) return Promise.resolve(undefined);
  const body = Buffer.from('{}');
  const request: any = Readable.from([body]);
  request.headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
  return new Promise((resolve) => layer.handle(request, {}, (error: unknown) => resolve(error ? undefined : Buffer.isBuffer(request.rawBody))));
}
