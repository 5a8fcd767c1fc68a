import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { packageRoot } from '../support/package-root';

// An app that installed nestjs-definable and only what it requires (its dependencies and required
// peers) — none of the optional packages — compiles our public declarations with skipLibCheck: false.
// The app lives in a temporary folder whose node_modules links just those packages, resolved from
// this run's Nest line (so the Nest 12 pass checks against Nest 12's types).

const LIB = resolve(__dirname, '..', '..', 'lib');
const REQUIRED = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/event-emitter',
  '@nestjs/schedule',
  'cron',
  'croner',
  '@types/luxon',
  'openai',
  'reflect-metadata',
  'rxjs',
  'zod',
  '@types/node',
  'undici-types',
  '@opentelemetry/api',
  'rate-limiter-flexible',
];
const OPTIONAL = ['prom-client', 'telegraf', 'discord.js', 'better-sqlite3', 'necord', 'nestjs-telegraf', 'ws', '@nestjs/swagger', '@nestjs/platform-fastify', 'jsonwebtoken', 'passport-jwt'];

/** The folder of an installed package, as Node resolves it from `from` (exports maps allowed). */
function packageDir(name: string, from = __dirname): string {
  for (const request of [`${name}/package.json`, name]) {
    let found: string;
    try {
      found = require.resolve(request, { paths: [from] });
    } catch {
      continue;
    }
    for (let folder = dirname(found); folder !== dirname(folder); folder = dirname(folder)) {
      const manifest = join(folder, 'package.json');
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === name) return folder;
    }
  }
  throw new Error(`cannot find the installed package ${name}`);
}

describe('public declarations', () => {
  const app = mkdtempSync(join(tmpdir(), 'definable-consumer-'));
  after(() => rmSync(app, { recursive: true, force: true }));

  it('compile with skipLibCheck: false in an app without any optional package', () => {
    const modules = join(app, 'node_modules');
    // Each required package with its own dependencies, as npm would install them (flattened).
    const link = (name: string, from: string) => {
      if (existsSync(join(modules, name))) return;
      let folder: string;
      try {
        folder = packageDir(name, from);
      } catch {
        return; // a dependency npm left out on this platform (optional, or types-only elsewhere)
      }
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(folder, join(modules, name), 'dir');
      const dependencies = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')).dependencies ?? {};
      for (const dependency of Object.keys(dependencies)) link(dependency, folder);
    };
    for (const name of REQUIRED) link(name, __dirname);
    const installed = join(modules, 'nestjs-definable');
    mkdirSync(join(installed, 'dist'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: manifest.name, version: manifest.version, types: manifest.types, exports: manifest.exports }));
    symlinkSync(LIB, join(installed, 'dist', 'lib'), 'dir');
    for (const name of OPTIONAL) assert.equal(existsSync(join(modules, name)), false);

    writeFileSync(
      join(app, 'main.ts'),
      [
        "import 'reflect-metadata';",
        "import { Controller, Injectable, Module } from '@nestjs/common';",
        "import * as definable from 'nestjs-definable';",
        "import * as testing from 'nestjs-definable/testing';",
        "import { Agent, ApiKeyAuth, Cron, DefinableModule, DiscordInterface, SqliteSessionStore, TelegramInterface, Webhook } from 'nestjs-definable';",
        "import type { RunEvent, TriggerEvent } from 'nestjs-definable';",
        '',
        '@Controller()',
        'export class Hooks {',
        "  @Webhook('/push') onPush(event: TriggerEvent<{ repo: string }>) { return `push to ${event.body.repo}`; }",
        '}',
        '@Injectable()',
        'export class Jobs {',
        "  @Cron('0 9 * * *') morning() { return 'digest'; }",
        '}',
        '@Module({',
        '  imports: [DefinableModule.forRoot({ agent: new Agent({ model: new testing.TestModel({ responses: [\'hi\'] }) }), auth: new ApiKeyAuth({ keys: [\'k-12345678\'] }),',
        "    interfaces: [new TelegramInterface({ botToken: 't' }), new DiscordInterface({ botToken: 'd' })] })],",
        '  controllers: [Hooks],',
        '  providers: [Jobs],',
        '})',
        'export class AppModule {}',
        "export const store = new SqliteSessionStore({ path: ':memory:' });",
        'export const names: string[] = [...Object.keys(definable), ...Object.keys(testing)];',
        'export type Events = RunEvent<string>;',
      ].join('\n'),
    );
    const ts = require(packageDir('typescript')) as typeof import('typescript');
    const program = ts.createProgram([join(app, 'main.ts')], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      isolatedModules: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      esModuleInterop: true,
      skipLibCheck: false,
      preserveSymlinks: true,
      types: ['node'],
      noEmit: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file ? `${diagnostic.file.fileName}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1} ` : '';
      return `${where}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
    assert.deepEqual(diagnostics, []);
  });
});
