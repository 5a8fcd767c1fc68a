import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, chunkText, InMemoryVectorStore, Knowledge, Memory, OpenAIEmbedder, SqliteVectorStore } from '../../lib';
import { fakeEmbedding } from '../../lib/testing';
import { collect, modelFor, tempDir, useFakeOpenAI } from '../support/fixtures';

const fake = useFakeOpenAI();
const dir = tempDir();
after(() => dir.cleanup());
const embedder = () => new OpenAIEmbedder({ id: 'text-embedding-3-small', apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0, batchSize: 2 });

const HANDBOOK = [
  'Vacation policy: employees get twenty five days of paid vacation each year.',
  'Expense policy: hotel stays are reimbursed up to one hundred fifty euros per night.',
  'Security policy: laptops must use full disk encryption and a screen lock.',
];

describe('chunkText', () => {
  it('cuts on words within the size, repeating about `overlap` characters', () => {
    const text = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    const chunks = chunkText(text, { size: 60, overlap: 20 });
    assert.ok(chunks.every((chunk) => chunk.length <= 60));
    assert.ok(chunks.length > 10);
    for (let i = 1; i < chunks.length; i++) {
      const first = chunks[i].split(' ')[0];
      const tail = chunks[i - 1].slice(-(20 + first.length + 1));
      assert.ok(tail.split(' ').includes(first), `chunk ${i} starts inside the last ~20 characters of chunk ${i - 1}`);
    }
    assert.equal([...new Set(chunks.join(' ').split(' '))].length, 100, 'no word is lost');
    assert.throws(() => chunkText('x', { size: 100, overlap: 100 }), /overlap/);
  });
});

describe('Knowledge through the real openai client', () => {
  it('adds documents in embedding batches and retrieves the relevant chunk before the model call', async () => {
    const knowledge = new Knowledge({ embedder: embedder(), chunker: { size: 120, overlap: 0 }, topK: 1 });
    for (const [index, text] of HANDBOOK.entries()) await knowledge.add({ text, source: `handbook#${index}` });
    const path = join(dir.path, 'faq.md');
    writeFileSync(path, '# FAQ\n\nThe office coffee machine is on the third floor.');
    assert.equal(await knowledge.add({ path, metadata: { kind: 'faq' } }), 1);
    assert.equal(await knowledge.store.count(), 4);
    const embeddingCalls = fake.requests.filter((request) => request.path === '/v1/embeddings');
    assert.equal(embeddingCalls.length, 4);

    fake.reset();
    const agent = new Agent({ model: modelFor(fake), instructions: 'Answer from the handbook.', knowledge });
    fake.enqueue({ content: 'Up to 150 euros per night.' });
    const events = await collect(agent.stream('How much is reimbursed for a hotel night?'));
    const names = events.map((event) => event.event);
    assert.deepEqual(names.slice(0, 3), ['RunStarted', 'KnowledgeRetrievalStarted', 'KnowledgeRetrievalCompleted']);
    const retrieved = events[2];
    assert.ok(retrieved.event === 'KnowledgeRetrievalCompleted');
    assert.equal(retrieved.references[0].source, 'handbook#1');
    const system = fake.requests.find((request) => request.path === '/v1/chat/completions')!.body.messages[0].content;
    assert.match(system, /Relevant knowledge[^]*\[1\] \(handbook#1\) Expense policy/);
    const last = events.at(-1);
    assert.ok(last?.event === 'RunCompleted');
    assert.deepEqual(last.output.references.map((reference) => reference.source), ['handbook#1']);
    assert.equal((await knowledge.search('coffee machine floor', { filter: { kind: 'faq' } }))[0].source, 'faq.md');
  });

  it("gives the model a search_knowledge tool in 'tool' mode", async () => {
    const knowledge = new Knowledge({ embedder: embedder(), topK: 1 });
    for (const text of HANDBOOK) await knowledge.add({ text, source: 'handbook' });
    fake.reset();
    const agent = new Agent({ model: modelFor(fake), knowledge, knowledgeMode: 'tool' });
    fake.enqueue({ toolCalls: [{ name: 'search_knowledge', arguments: { query: 'laptop disk encryption' } }] }, { content: 'Encrypt the disk.' });
    const out = await agent.run('What must I do with my laptop?');
    const first = fake.requests.find((request) => request.path === '/v1/chat/completions')!.body;
    assert.deepEqual(first.tools.map((tool: any) => tool.function.name), ['search_knowledge']);
    assert.match(out.toolCalls[0].result ?? '', /Security policy/);
    assert.deepEqual(out.references.map((reference) => reference.text.slice(0, 15)), ['Security policy']);
  });

  it('keeps vectors in SQLite across a reopen and searches them exactly', async () => {
    const path = join(dir.path, 'vectors.db');
    const first = new SqliteVectorStore({ path });
    await first.add(HANDBOOK.map((text, i) => ({ id: `c${i}`, text, vector: fakeEmbedding(text), metadata: { i } })));
    await first.close();
    const second = new SqliteVectorStore({ path });
    const [best] = await second.search(fakeEmbedding('paid vacation days'), { topK: 1 });
    assert.equal(best.id, 'c0');
    assert.ok(best.score > 0.3);
    assert.equal(await second.delete({ i: 0 }), 1);
    assert.equal(await second.count(), 2);
    await second.close();
    const memoryStore = new InMemoryVectorStore();
    await memoryStore.add([{ id: 'a', text: 'a', vector: [1, 0], metadata: {} }]);
    await assert.rejects(memoryStore.add([{ id: 'b', text: 'b', vector: [1, 0, 0], metadata: {} }]), /one embedding model per store/);
  });

  it('streams events in order for a run with memory, knowledge and files', async () => {
    const knowledge = new Knowledge({ embedder: embedder(), topK: 1 });
    await knowledge.add({ text: HANDBOOK[0], source: 'handbook' });
    fake.reset();
    const agent = new Agent({ model: modelFor(fake), knowledge, memory: new Memory() });
    fake.enqueue({ content: 'You have 25 days.', reasoning: ['Check the policy.'] }, { content: '{"operations": []}' });
    const events = await collect(agent.stream('How many vacation days do I have?', { userId: 'u1', files: [{ name: 'note.txt', content: 'I started in May.' }] }));
    assert.deepEqual(
      [...new Set(events.map((event) => event.event))],
      [
        'RunStarted',
        'FileReadStarted',
        'FileReadCompleted',
        'MemoryRecallStarted',
        'MemoryRecallCompleted',
        'KnowledgeRetrievalStarted',
        'KnowledgeRetrievalCompleted',
        'ReasoningStep',
        'RunContent',
        'RunContentCompleted',
        'MemoryUpdateStarted',
        'MemoryUpdateCompleted',
        'RunCompleted',
      ],
    );
  });
});
