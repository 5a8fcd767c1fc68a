import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as TS from 'typescript';
import { JEST_GLOBALS, SUPERTEST } from '../support/readme-shims';

/*
 * The README's code samples compile, as a user's app compiles them.
 *
 * Marker: an HTML comment alone on the line right before a ```ts fence (GitHub and npm render it
 * as nothing):
 *
 *     <!-- compile -->                      the block becomes readme-samples/sample-<line>.ts
 *     <!-- compile: src/app.module.ts -->   the block becomes readme-samples/src/app.module.ts, so
 *                                           blocks import one another as an app's files do
 *                                           ('./app.module', '../src/app.module'); a `.mts` name
 *                                           makes it an ES module (top-level await allowed)
 *
 * Unmarked blocks are fragments and are not compiled. A marked block must be a complete module:
 * its imports included.
 *
 * The blocks are written under the build output, next to the compiled library
 * (<outDir>/readme-samples/), so they resolve packages from the repository's node_modules (on the
 * Nest 12 pass, Nest 12's first). `nestjs-definable` and `nestjs-definable/testing` are mapped with
 * `paths` to the built declarations (<outDir>/lib). The compiler options are those of a
 * `nest new` scaffold (CommonJS, Nest 11) — isolatedModules and emitDecoratorMetadata above all,
 * which make TS1272 of a type imported without `import type` into a decorated signature — made
 * stricter with `strict: true`.
 *
 * Jest: the scaffold's tests use Jest's globals from @types/jest, which this repository does not
 * install. The samples are compiled with `types: ["node"]` plus a generated jest-globals.d.ts that
 * declares the Jest API they may use (and supertest.d.ts for supertest's default export), so Jest
 * samples are checked too; a call outside those declarations fails and needs adding there
 * (test/support/readme-shims.ts).
 *
 * On failure the folder is kept: `npx tsc -p <outDir>/readme-samples` reproduces the errors.
 */

const BUILD = resolve(__dirname, '..', '..'); // <outDir>/test/unit → <outDir>
const SAMPLES = join(BUILD, 'readme-samples');
const SELF_CHECK = join(SAMPLES, '__self-check__');
const ENTRY = join(BUILD, 'lib', 'index.d.ts');
const TESTING_ENTRY = join(BUILD, 'lib', 'testing', 'index.d.ts');
const MARKER = /^\s*<!--\s*compile(?::\s*(\S+))?\s*-->\s*$/;
const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+-]*)/;

/** What a user reads in the README that must stay compiled (a block losing its marker fails). */
const MUST_COMPILE = [
  'DefinableModule.forRoot(',
  'NestFactory.create(',
  '@Webhook(',
  '@Cron(',
  '@OnEvent(',
  'agent.on<',
  'verify(request',
  'addDefinableSecurity(',
  'Test.createTestingModule(',
  '.overrideProvider(Agent)',
  'jest.advanceTimersByTime(',
  'waitForRuns(',
  '.serve(',
];

interface Block {
  /** Path under the samples folder. */
  file: string;
  /** README line (1-based) of the block's first code line. */
  line: number;
  code: string;
}

/** The package root: the nearest folder above this test whose package.json is ours (the Nest 12 pass runs a copy under compat/). */
function packageRoot(): string {
  for (let folder = __dirname; folder !== dirname(folder); folder = dirname(folder)) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'nestjs-definable') return folder;
  }
  throw new Error(`no nestjs-definable package.json above ${__dirname}`);
}

/** The marked ```ts blocks of a Markdown text, and what is wrong with the markers. */
function extractBlocks(markdown: string): { blocks: Block[]; problems: string[] } {
  const lines = markdown.split(/\r?\n/);
  const blocks: Block[] = [];
  const problems: string[] = [];
  const names = new Map<string, number>();
  let fence: string | undefined; // the open fence, when inside a block
  let current: { block: Block; body: string[] } | undefined;
  for (let index = 0; index < lines.length; index++) {
    const text = lines[index];
    const lineNo = index + 1;
    if (fence) {
      if (text.trim().startsWith(fence) && text.trim().replace(/[`~]/g, '') === '') {
        fence = undefined;
        if (current) {
          current.block.code = current.body.join('\n') + '\n';
          blocks.push(current.block);
          current = undefined;
        }
      } else current?.body.push(text);
      continue;
    }
    const opening = FENCE.exec(text);
    if (opening) {
      fence = opening[1];
      continue;
    }
    const marker = MARKER.exec(text);
    if (!marker) continue;
    const next = FENCE.exec(lines[index + 1] ?? '');
    if (!next || !['ts', 'typescript'].includes(next[2])) {
      problems.push(`README.md:${lineNo}: a compile marker must be followed at once by a \`\`\`ts fence`);
      continue;
    }
    const file = marker[1] ? normalize(marker[1]) : `sample-${lineNo + 2}.ts`;
    if (isAbsolute(file) || file.startsWith('..') || file.startsWith('__') || !/\.(ts|mts|cts)$/.test(file)) {
      problems.push(`README.md:${lineNo}: "${marker[1]}" must be a relative .ts, .mts or .cts path inside the samples folder`);
      continue;
    }
    if (names.has(file)) {
      problems.push(`README.md:${lineNo}: "${file}" is already the name of the block at line ${names.get(file)}`);
      continue;
    }
    names.set(file, lineNo + 2);
    fence = next[1];
    index++; // the fence line
    current = { block: { file, line: lineNo + 2, code: '' }, body: [] };
  }
  if (current) problems.push(`README.md:${current.block.line - 1}: the block is never closed`);
  return { blocks, problems };
}

/** The `nest new` scaffold's compiler options (CommonJS, Nest 11), strict, checking only. */
function tsconfig(): object {
  return {
    compilerOptions: {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      resolvePackageJsonExports: true,
      isolatedModules: true,
      emitDecoratorMetadata: true,
      experimentalDecorators: true,
      esModuleInterop: true,
      allowSyntheticDefaultImports: true,
      target: 'ES2023',
      strict: true,
      strictPropertyInitialization: false,
      skipLibCheck: true,
      forceConsistentCasingInFileNames: true,
      noEmit: true,
      types: ['node'],
      // Relative to this file, so the mapping follows the outDir.
      paths: {
        'nestjs-definable': ['../lib/index.d.ts'],
        'nestjs-definable/testing': ['../lib/testing/index.d.ts'],
      },
    },
    include: ['**/*.ts', '**/*.mts', '**/*.cts'],
    exclude: ['__self-check__'],
  };
}

/** A block that imports a type used in a decorated signature without `import type`: must fail with TS1272. */
const TS1272_SAMPLE = `import { Controller } from '@nestjs/common';
import { TriggerEvent, Webhook } from 'nestjs-definable';

@Controller('hooks')
export class GithubHooks {
  @Webhook('/github')
  onPush(event: TriggerEvent<{ ref: string }>) {
    return \`Summarize the push to \${event.body.ref}\`;
  }
}
`;

describe('README samples', () => {
  const ts = require('typescript') as typeof TS;
  const root = packageRoot();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const { blocks, problems } = extractBlocks(readme);
  let program: TS.Program;
  let diagnostics: readonly TS.Diagnostic[];
  let passed = true;

  before(() => {
    passed = false; // until the samples are written and compiled
    assert.ok(existsSync(ENTRY) && existsSync(TESTING_ENTRY), `build the library first: ${ENTRY} and ${TESTING_ENTRY} are missing`);
    rmSync(SAMPLES, { recursive: true, force: true });
    mkdirSync(SELF_CHECK, { recursive: true });
    for (const block of blocks) {
      mkdirSync(dirname(join(SAMPLES, block.file)), { recursive: true });
      writeFileSync(join(SAMPLES, block.file), block.code);
    }
    writeFileSync(join(SAMPLES, 'jest-globals.d.ts'), JEST_GLOBALS);
    writeFileSync(join(SAMPLES, 'supertest.d.ts'), SUPERTEST);
    writeFileSync(join(SAMPLES, 'tsconfig.json'), JSON.stringify(tsconfig(), null, 2));
    writeFileSync(join(SELF_CHECK, 'ts1272.ts'), TS1272_SAMPLE);

    const config = ts.readConfigFile(join(SAMPLES, 'tsconfig.json'), ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, SAMPLES);
    assert.deepEqual(parsed.errors.map((error) => ts.flattenDiagnosticMessageText(error.messageText, '\n')), []);
    // One program for the README's blocks, the self-check and the entry points whose exports the
    // API index must list: the compiler runs once.
    program = ts.createProgram([...parsed.fileNames, join(SELF_CHECK, 'ts1272.ts'), ENTRY, TESTING_ENTRY], parsed.options);
    diagnostics = ts.getPreEmitDiagnostics(program);
    passed = true;
  });

  after(() => {
    if (passed) rmSync(SAMPLES, { recursive: true, force: true });
    else console.log(`README samples kept in ${SAMPLES}: npx tsc -p ${SAMPLES}`);
  });

  /** Records a failure so the samples folder is kept for `tsc -p`. */
  const check = (fn: () => void) => () => {
    try {
      fn();
    } catch (error) {
      passed = false;
      throw error;
    }
  };

  const byFile = new Map(blocks.map((block) => [join(SAMPLES, block.file), block]));
  const describeDiagnostic = (diagnostic: TS.Diagnostic): string => {
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ')}`;
    if (!diagnostic.file) return message;
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const block = byFile.get(normalize(diagnostic.file.fileName));
    if (!block) return `${diagnostic.file.fileName}:${line + 1}:${character + 1} ${message}`;
    return `README.md:${block.line + line}:${character + 1} (block ${block.file}) ${message}`;
  };

  it(
    'marks its main samples, and only ```ts blocks',
    check(() => {
      assert.deepEqual(problems, []);
      const compiled = blocks.map((block) => block.code).join('\n');
      const missing = MUST_COMPILE.filter((snippet) => !compiled.includes(snippet));
      assert.deepEqual(missing, [], `no compiled README block contains these; did a main sample lose its <!-- compile --> marker?`);
    }),
  );

  it(
    'compile under a nest new scaffold\'s settings (isolatedModules, emitDecoratorMetadata, strict)',
    check(() => {
      const found = diagnostics.filter((diagnostic) => !diagnostic.file || !normalize(diagnostic.file.fileName).startsWith(SELF_CHECK));
      assert.ok(blocks.length > 0, 'no <!-- compile --> block in README.md');
      if (found.length > 0) assert.fail(`${found.length} error(s) in README samples:\n${found.map(describeDiagnostic).join('\n')}`);
    }),
  );

  it(
    'catches a type imported without `import type` into a decorated signature (TS1272)',
    check(() => {
      const codes = diagnostics
        .filter((diagnostic) => diagnostic.file && normalize(diagnostic.file.fileName).startsWith(SELF_CHECK))
        .map((diagnostic) => diagnostic.code);
      assert.deepEqual(codes, [1272]);
    }),
  );

  it(
    'lists every public export in the API index, and nothing else',
    check(() => {
      const checker = program.getTypeChecker();
      const exportsOf = (file: string) => {
        const source = program.getSourceFile(file);
        assert.ok(source, `${file} is not in the program`);
        const symbol = checker.getSymbolAtLocation(source);
        assert.ok(symbol, `${file} is not a module`);
        return checker.getExportsOfModule(symbol).map((entry) => entry.name).sort();
      };
      const start = readme.indexOf('\n## API index');
      assert.ok(start >= 0, 'README.md has no "## API index" section');
      const end = readme.indexOf('\n## ', start + 1);
      const index = readme.slice(start, end < 0 ? undefined : end);
      const split = index.indexOf('From `nestjs-definable/testing`');
      assert.ok(split >= 0, 'the API index has no "From `nestjs-definable/testing`" paragraph');
      const named = (text: string) => new Set([...text.matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((match) => match[1]));
      const main = named(index.slice(0, split));
      const testing = named(index.slice(split));
      main.delete('nestjs-definable');
      const entry = exportsOf(ENTRY);
      const testingEntry = exportsOf(TESTING_ENTRY);
      assert.deepEqual(
        { missing: entry.filter((name) => !main.has(name)), extra: [...main].filter((name) => !entry.includes(name)).sort() },
        { missing: [], extra: [] },
        'the API index vs the exports of nestjs-definable',
      );
      assert.deepEqual(
        { missing: testingEntry.filter((name) => !testing.has(name)), extra: [...testing].filter((name) => !testingEntry.includes(name)).sort() },
        { missing: [], extra: [] },
        'the API index vs the exports of nestjs-definable/testing',
      );
    }),
  );
});
