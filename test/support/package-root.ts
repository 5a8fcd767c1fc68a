import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * This repository's root: the nearest folder above `from` whose package.json is
 * nestjs-definable's (the Nest 12 pass runs a copy of the build under compat/nest12).
 */
export function packageRoot(from: string = __dirname): string {
  for (let folder = from; folder !== dirname(folder); folder = dirname(folder)) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'nestjs-definable') return folder;
  }
  throw new Error(`no nestjs-definable package.json above ${from}`);
}
