// Checks a packed nestjs-definable tarball: it holds the built library (both entry points, their
// declarations), nothing of the sources, tests or examples, and every source map carries its
// sources (the .ts files are not shipped). Usage: node scripts/check-package.mjs <package.tgz>
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tarball = process.argv[2];
if (!tarball) {
  console.error('usage: node scripts/check-package.mjs <package.tgz>');
  process.exit(2);
}
const folder = mkdtempSync(join(tmpdir(), 'definable-package-'));
const problems = [];
try {
  execFileSync('tar', ['xzf', tarball, '-C', folder]);
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((path) => path.replace(/^package\//, ''));
  for (const required of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/testing/index.js', 'dist/lib/testing/index.d.ts', 'package.json', 'README.md', 'LICENSE']) {
    if (!files.includes(required)) problems.push(`missing ${required}`);
  }
  for (const path of files) {
    if (!path.startsWith('dist/lib/') && !['package.json', 'README.md', 'LICENSE'].includes(path)) problems.push(`unexpected file ${path}`);
    if (path.endsWith('.ts') && !path.endsWith('.d.ts')) problems.push(`source file shipped: ${path}`);
  }
  const maps = files.filter((path) => path.endsWith('.map'));
  for (const path of maps) {
    const map = JSON.parse(readFileSync(join(folder, 'package', path), 'utf8'));
    if (!Array.isArray(map.sourcesContent) || map.sourcesContent.length !== map.sources.length || map.sourcesContent.some((text) => typeof text !== 'string')) {
      problems.push(`${path} does not carry its sources`);
    }
  }
  const manifest = JSON.parse(readFileSync(join(folder, 'package', 'package.json'), 'utf8'));
  if (!manifest.peerDependencies?.['@nestjs/common']?.includes('^12')) problems.push('peer @nestjs/common does not admit Nest 12');
  if (problems.length === 0) console.log(`   package: ${files.length} files, ${maps.length} source maps with their sources`);
} finally {
  rmSync(folder, { recursive: true, force: true });
}
if (problems.length) {
  console.error(`FAILED: the packed library\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
