// Marks the type imports of optional peer dependencies in the built declarations with
// `@ts-ignore`, so an app that has not installed them (telegraf, discord.js) still compiles
// our .d.ts with `skipLibCheck: false`; where the package is installed its real types apply.
// Usage: node scripts/optional-peer-types.mjs <declarations folder>
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OPTIONAL = ['telegraf', 'discord.js', 'ws', 'necord', 'nestjs-telegraf', 'better-sqlite3', 'prom-client', '@modelcontextprotocol/sdk'];
// A package's subpaths too (`@modelcontextprotocol/sdk/client/index.js`).
const IMPORT = new RegExp(`^import .* from '(${OPTIONAL.map((name) => name.replace('.', '\\.')).join('|')})(/[^']*)?';$`);
const MARK = '// @ts-ignore -- optional peer dependency: its types apply where it is installed';

function walk(folder) {
  for (const entry of readdirSync(folder)) {
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.d.ts')) mark(path);
  }
}

function mark(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out = [];
  for (const [index, line] of lines.entries()) {
    if (IMPORT.test(line) && lines[index - 1] !== MARK) out.push(MARK);
    out.push(line);
  }
  if (out.length !== lines.length) writeFileSync(path, out.join('\n'));
}

const folder = process.argv[2];
if (!folder) {
  console.error('usage: node scripts/optional-peer-types.mjs <declarations folder>');
  process.exit(2);
}
walk(folder);
