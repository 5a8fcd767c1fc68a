import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../support/package-root';

// The layer table of DESIGN.md, for value imports between lib/ folders (type-only imports are free).
// `agent/` imports nothing else; `auth/` only agent types; http/, triggers/ and interfaces/ are
// siblings that meet in the kernel (module/), never in each other.
const FORBIDDEN: Record<string, string[]> = {
  agent: ['module', 'auth', 'http', 'triggers', 'interfaces', 'runtime', 'testing'],
  auth: ['module', 'http', 'triggers', 'interfaces', 'runtime', 'testing'],
  http: ['triggers', 'interfaces', 'runtime', 'testing'],
  triggers: ['http', 'interfaces', 'runtime', 'testing'],
  interfaces: ['http', 'triggers', 'runtime', 'testing'],
};
const LIB = join(packageRoot(), 'lib');
const VALUE_IMPORT = /^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+'(\.[^']+)'/gm;

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
});
