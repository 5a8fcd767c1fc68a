import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../support/package-root';

const run = promisify(execFile);
// The package root: the nearest folder above whose package.json is ours (the Nest 12 pass runs a copy
// of the build from compat/nest12/dist). Node resolves the package's own name there.
const root = packageRoot();

async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: root });
  return stdout.trim();
}

describe('package entry points (built CommonJS)', () => {
  it('load from an ESM app through the exports map, named imports included', async () => {
    const out = await node([
      '--input-type=module',
      '-e',
      "import { Agent, OpenAIChat, defineTool, SqliteSessionStore } from 'nestjs-definable';" +
        "import { TestModel, startFakeOpenAI } from 'nestjs-definable/testing';" +
        "const agent = new Agent({ model: new TestModel({ responses: ['esm ok'] }) });" +
        "const out = await agent.run('hi');" +
        "console.log([typeof OpenAIChat, typeof defineTool, typeof SqliteSessionStore, typeof startFakeOpenAI, out.content].join(','));",
    ]);
    assert.equal(out, 'function,function,function,function,esm ok');
  });

  it('load from a CommonJS app', async () => {
    const out = await node([
      '-e',
      "const { Agent } = require('nestjs-definable'); const { TestModel } = require('nestjs-definable/testing');" +
        "new Agent({ model: new TestModel({ responses: ['cjs ok'] }) }).run('hi').then((o) => console.log(o.content));",
    ]);
    assert.equal(out, 'cjs ok');
  });

  it('keep the agent core free of Nest imports', async () => {
    const out = await node([
      '-e',
      "require('./dist/lib/agent'); console.log(Object.keys(require.cache).some((p) => p.includes('@nestjs')))",
    ]);
    assert.equal(out, 'false');
  });
});
