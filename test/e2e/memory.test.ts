import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { Agent, Memory, PostgresMemoryStore, SqliteMemoryStore } from '../../lib';
import { collect, MemoryLogger, modelFor, tempDir, useFakeOpenAI } from '../support/fixtures';

const fake = useFakeOpenAI();
const dir = tempDir();
after(() => dir.cleanup());

// The machine's PostgreSQL: a schema of the test's own, dropped after.
const PG_URL = process.env.DEFINABLE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const freshSchema = () => {
  const schema = `definable_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
};
after(async () => {
  const admin = new Pool({ connectionString: PG_URL, max: 1 });
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

const ops = (...operations: { op: string; id?: string; text?: string }[]) => ({
  content: JSON.stringify({ operations: operations.map((operation) => ({ id: '', text: '', ...operation })) }),
});

describe('Memory through the real openai client', () => {
  it('recalls before the model call and updates after the reply, with events in order', async () => {
    const memory = new Memory();
    const agent = new Agent({ model: modelFor(fake), instructions: 'Be brief.', memory });
    fake.enqueue({ content: 'Noted, tea it is.' }, ops({ op: 'add', text: 'Likes green tea' }));
    const events = await collect(agent.stream('I love green tea.', { userId: 'alice' }));
    assert.deepEqual(
      events.map((event) => event.event),
      ['RunStarted', 'MemoryRecallStarted', 'MemoryRecallCompleted', 'RunContent', 'RunContent', 'RunContent', 'RunContent', 'RunContentCompleted', 'MemoryUpdateStarted', 'MemoryUpdateCompleted', 'RunCompleted'],
    );
    const update = events.find((event) => event.event === 'MemoryUpdateCompleted');
    assert.ok(update?.event === 'MemoryUpdateCompleted');
    assert.deepEqual(update.changes.map(({ op, text }) => ({ op, text })), [{ op: 'add', text: 'Likes green tea' }]);
    const extraction = fake.requests[1].body;
    assert.equal(extraction.response_format.type, 'json_schema');
    assert.match(extraction.messages[1].content, /user: I love green tea\.\nassistant: Noted, tea it is\./);

    fake.enqueue({ content: 'Green tea.' }, ops());
    const second = await collect(agent.stream('What do I like to drink?', { userId: 'alice' }));
    const recall = second.find((event) => event.event === 'MemoryRecallCompleted');
    assert.ok(recall?.event === 'MemoryRecallCompleted');
    assert.deepEqual(recall.memories.map((memory) => memory.text), ['Likes green tea']);
    assert.match(fake.requests[2].body.messages[0].content, /^Be brief\.\n\nWhat you know about this user[^]*- Likes green tea/);
  });

  it('scopes memories to their user', async () => {
    const memory = new Memory();
    await memory.add('alice', 'Is allergic to peanuts');
    const agent = new Agent({ model: modelFor(fake), memory });
    fake.enqueue({ content: 'Hi Bob.' }, ops({ op: 'delete', id: (await memory.list('alice'))[0].id }));
    await collect(agent.stream('Hello, I am Bob.', { userId: 'bob' }));
    assert.doesNotMatch(JSON.stringify(fake.requests[0].body.messages), /peanuts/);
    assert.equal((await memory.list('alice')).length, 1, "bob's run cannot delete alice's memory");
    assert.deepEqual(await memory.list('bob'), []);
  });

  for (const [name, open] of [
    ['SqliteMemoryStore', () => new SqliteMemoryStore({ path: join(dir.path, 'memory.db') })],
    ['PostgresMemoryStore', () => new PostgresMemoryStore({ connectionString: PG_URL, schema: freshSchema() })],
  ] as const) {
    it(`replaces a changed preference instead of adding a contradiction (${name})`, async () => {
      const store = open();
      const memory = new Memory({ store });
      const old = await memory.add('carol', 'Prefers tea');
      const agent = new Agent({ model: modelFor(fake), memory });
      fake.enqueue({ content: 'Coffee, noted.' }, ops({ op: 'update', id: old.id, text: 'Prefers coffee' }));
      await collect(agent.stream('Actually I switched to coffee.', { userId: 'carol' }));
      assert.match(fake.requests.at(-1)!.body.messages[1].content, new RegExp(`${old.id}: Prefers tea`));
      assert.deepEqual((await memory.list('carol')).map((record) => [record.id, record.text]), [[old.id, 'Prefers coffee']]);
      await store.close();
    });
  }

  it('never fails the run when the memory update fails', async () => {
    const logger = new MemoryLogger();
    const agent = new Agent({ model: modelFor(fake), memory: new Memory(), logger });
    fake.enqueue({ content: 'Fine.' }, { content: 'not json' });
    const events = await collect(agent.stream('Remember this.', { userId: 'dave' }));
    const update = events.find((event) => event.event === 'MemoryUpdateCompleted');
    assert.ok(update?.event === 'MemoryUpdateCompleted');
    assert.match(update.error ?? '', /not the expected JSON/);
    assert.equal(events.at(-1)?.event, 'RunCompleted');
    assert.ok(logger.lines.some((line) => /Memory update after run .* failed/.test(line)));
  });

  it('leaves memory alone for runs without a user', async () => {
    const agent = new Agent({ model: modelFor(fake), memory: new Memory() });
    fake.enqueue({ content: 'Anonymous answer.' });
    const events = await collect(agent.stream('Who am I?'));
    assert.ok(!events.some((event) => event.event.startsWith('Memory')));
    assert.equal(fake.requests.length, 1);
  });

  it('run() returns without waiting for the update; idle() waits for it', async () => {
    const memory = new Memory();
    const agent = new Agent({ model: modelFor(fake), memory });
    fake.enqueue({ content: 'Ok.' }, ops({ op: 'add', text: 'Lives in Lyon' }));
    const out = await agent.run('I live in Lyon.', { userId: 'erin' });
    assert.equal(out.content, 'Ok.');
    await agent.idle();
    assert.deepEqual((await memory.list('erin')).map((record) => record.text), ['Lives in Lyon']);
  });
});
