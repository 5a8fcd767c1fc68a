import type { INestApplication } from '@nestjs/common';
import type { TriggerRegistry } from '../triggers/trigger.registry';

/**
 * Dev mode: Swagger UI at `/docs` with an OpenAPI document of `/run`,
 * `/health` and every webhook. `@nestjs/swagger` is an optional peer
 * dependency (with `@fastify/static` on Fastify).
 */
export async function setUpSwagger(app: INestApplication, triggers: TriggerRegistry): Promise<void> {
  let swagger: typeof import('@nestjs/swagger');
  try {
    swagger = require('@nestjs/swagger');
  } catch {
    throw new Error('dev mode needs @nestjs/swagger for /docs: run `npm install @nestjs/swagger @fastify/static`.');
  }
  const config = new swagger.DocumentBuilder()
    .setTitle('nestjs-definable agent')
    .setDescription('POST /run runs the agent (JSON, or Server-Sent Events with "stream": true); GET /health; webhooks declared with @Webhook.')
    .addApiKey({ type: 'apiKey', name: 'X-API-Key', in: 'header' }, 'api-key')
    .addBearerAuth()
    .build();
  const document = swagger.SwaggerModule.createDocument(app, config);
  const run = Object.entries(document.paths).find(([path]) => path.endsWith('/run'));
  if (run?.[1].post) {
    run[1].post.summary = 'Run the agent';
    run[1].post.requestBody = {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['input'],
            properties: {
              input: { type: 'string' },
              session_id: { type: 'string' },
              user_id: { type: 'string' },
              stream: { type: 'boolean' },
              agent: { type: 'string' },
              metadata: { type: 'object' },
            },
          },
        },
      },
    };
  }
  for (const webhook of triggers.list('webhook')) {
    for (const [path, item] of Object.entries(document.paths)) {
      const operation = (item as Record<string, { summary?: string } | undefined>)[webhook.source.split(' ')[0].toLowerCase()];
      if (operation && path.endsWith(webhook.source.split(' ')[1])) operation.summary ??= `Webhook → ${webhook.className}.${webhook.methodName}`;
    }
  }
  swagger.SwaggerModule.setup('docs', app, document);
}
