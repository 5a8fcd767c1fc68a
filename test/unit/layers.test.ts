import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../support/package-root';

// The layer table of DESIGN.md, for value imports between lib/ folders (type-only imports are free).
// `agent/` imports nothing else; `auth/` only agent types; the kernel (module/) only agent/ and
// auth/; http/, triggers/ and interfaces/ are siblings that meet in the kernel, never in each
// other. DefinableModule (lib/definable.module.ts) and runtime/ (serve(), which builds a whole app
// around it) sit on top and may import any layer.
const FORBIDDEN: Record<string, string[]> = {
  agent: ['module', 'auth', 'http', 'triggers', 'interfaces', 'runtime', 'testing', 'definable.module'],
  auth: ['module', 'http', 'triggers', 'interfaces', 'runtime', 'testing', 'definable.module'],
  module: ['http', 'triggers', 'interfaces', 'runtime', 'testing', 'definable.module'],
  http: ['triggers', 'interfaces', 'runtime', 'testing', 'definable.module'],
  triggers: ['http', 'interfaces', 'runtime', 'testing', 'definable.module'],
  interfaces: ['http', 'triggers', 'runtime', 'testing', 'definable.module'],
  runtime: ['testing'],
  testing: ['module', 'auth', 'http', 'triggers', 'interfaces', 'runtime', 'definable.module'],
};
const LIB = join(packageRoot(), 'lib');
const VALUE_IMPORT = /^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+'(\.[^']+)'/gm;
/** Every relative import or re-export, type-only included, and side-effect imports. */
const ANY_IMPORT = /^\s*(?:(?:import|export)\s+[^'";]*?from\s+|import\s+)'(\.[^']+)'/gm;

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((entry) => {
    const path = join(folder, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('the layer table', () => {
  it('holds: no value import crosses a forbidden arrow in lib/', () => {
    const arrows: string[] = [];
    for (const file of sources(LIB)) {
      const from = relative(LIB, file).split('/')[0];
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(VALUE_IMPORT)) {
        const to = relative(LIB, resolve(dirname(file), specifier)).split('/')[0];
        if (FORBIDDEN[from]?.includes(to)) arrows.push(`${relative(LIB, file)} -> ${specifier}`);
      }
    }
    assert.deepEqual(arrows, []);
  });

  it('has no import circle in lib/ (type-only imports included; barrels are followed like any file)', () => {
    const files = sources(LIB);
    const resolveImport = (from: string, specifier: string): string | undefined => {
      const base = resolve(dirname(from), specifier);
      return [`${base}.ts`, join(base, 'index.ts')].find((candidate) => files.includes(candidate));
    };
    const edges = new Map(
      files.map((file) => [
        file,
        [...readFileSync(file, 'utf8').matchAll(ANY_IMPORT)].map(([, specifier]) => resolveImport(file, specifier)).filter((to): to is string => !!to),
      ]),
    );
    // Depth-first search; a back edge to a file on the current path closes a circle.
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const path: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      path.push(file);
      for (const next of edges.get(file) ?? []) {
        if (state.get(next) === 'open') circles.push([...path.slice(path.indexOf(next)), next].map((entry) => relative(LIB, entry)).join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    assert.deepEqual(circles, []);
  });
});
