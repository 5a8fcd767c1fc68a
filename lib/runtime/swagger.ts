import type { INestApplication } from '@nestjs/common';
import { addDefinableSecurity } from '../http/openapi';

/**
 * Dev mode: Swagger UI at `/docs` (JSON at `/docs-json`) with the document an
 * app of your own would build: `/run` (body, 200 JSON or SSE, errors),
 * `/health`, every webhook, and the security of the auth configured, its
 * schemes defined (`DefinableOpenApi` writes the metadata, `addDefinableSecurity`
 * adds the schemes). `@nestjs/swagger` is an optional peer dependency (with
 * `@fastify/static` on Fastify).
 *
 * The second parameter is unused (the webhooks come from Nest routing); it
 * stays until `serve()` stops passing it.
 */
export async function setUpSwagger(app: INestApplication, _unused?: unknown): Promise<void> {
  let swagger: typeof import('@nestjs/swagger');
  try {
    swagger = require('@nestjs/swagger');
  } catch {
    throw new Error('dev mode needs @nestjs/swagger for /docs: run `npm install @nestjs/swagger @fastify/static`, or leave dev off.');
  }
  const builder = new swagger.DocumentBuilder()
    .setTitle('nestjs-definable agent')
    .setDescription('POST /run runs the agent (JSON, or Server-Sent Events with "stream": true); GET /health; webhooks declared with @Webhook.');
  const document = swagger.SwaggerModule.createDocument(app, addDefinableSecurity(builder, app).build());
  swagger.SwaggerModule.setup('docs', app, document);
}
