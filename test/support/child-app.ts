// What every app a crash or replica test runs as its own process shares: its settings from the
// environment, and starting on a free loopback port, printing its URL for the parent to read.
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { LogLevel } from '@nestjs/common';

/** A required setting of the child app `app` from the environment. */
export function requiredEnv(app: string): (name: string) => string {
  return (name) => {
    const value = process.env[name];
    if (!value) throw new Error(`${app} needs ${name}`);
    return value;
  };
}

/**
 * Starts `module` on Fastify on 127.0.0.1 (a free port) and prints its URL
 * (after `prefix`, when given) once it listens; on failure prints the error
 * and exits 1.
 */
export function serveChild(module: unknown, options: { logger?: LogLevel[]; shutdownHooks?: boolean; prefix?: string } = {}): void {
  void (async () => {
    const app = await NestFactory.create(module as never, new FastifyAdapter(), { logger: options.logger ?? ['error'] });
    if (options.shutdownHooks) app.enableShutdownHooks();
    await app.listen(0, '127.0.0.1');
    process.stdout.write(`${options.prefix ?? ''}${(await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1')}\n`);
  })().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
