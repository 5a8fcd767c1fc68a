import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryDedupStore, InMemoryMemoryStore, InMemorySessionStore } from '../../lib';
import { ChatScheduler } from '../../lib/interfaces';
import type { Message } from '../../lib';

const text = (characters: number): Message => ({ role: 'user', content: 'x'.repeat(characters) });

describe('InMemorySessionStore: bounded by bytes', () => {
  it('evicts the least recently used sessions once the stored messages weigh more than maxBytes', async () => {
    const store = new InMemorySessionStore({ maxBytes: 10_000 });
    await store.append('a', null, [text(2_000)]); // about 4 KB (UTF-16)
    await store.append('b', null, [text(2_000)]);
    await store.getMessages('a'); // a is now more recently used than b
    await store.append('c', null, [text(2_000)]);
    assert.ok(store.size <= 10_000, `size ${store.size}`);
    assert.equal(await store.getSession('b'), null, 'the least recently used went first');
    assert.ok(await store.getSession('a'));
    assert.ok(await store.getSession('c'));
  });

  it('a session that alone is over the budget loses its oldest messages, keeping the newest', async () => {
    const store = new InMemorySessionStore({ maxBytes: 10_000 });
    for (let turn = 0; turn < 10; turn++) await store.append('long', null, [{ role: 'user', content: `${turn}:${'y'.repeat(1_500)}` }]);
    const kept = await store.getMessages('long');
    assert.ok(store.size <= 10_000, `size ${store.size}`);
    assert.ok(kept.length >= 1 && kept.length < 10);
    assert.match(String(kept.at(-1)!.content), /^9:/, 'the newest message stays');
  });

  it('counts image URLs and tool arguments too, and gives the bytes back on delete and close', async () => {
    const store = new InMemorySessionStore();
    await store.append('media', null, [
      { role: 'user', content: [{ type: 'image', url: `data:image/png;base64,${'A'.repeat(5_000)}` }] },
      { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'lookup', arguments: JSON.stringify({ q: 'z'.repeat(1_000) }) }] },
    ]);
    assert.ok(store.size > 12_000, `size ${store.size}`);
    await store.deleteSession('media');
    assert.equal(store.size, 0);
    await store.append('again', null, [text(10)]);
    await store.close();
    assert.equal(store.size, 0);
  });

  it('refuses a maxBytes that is not a positive whole number', () => {
    assert.throws(() => new InMemorySessionStore({ maxBytes: 0 }), /maxBytes must be a whole number of at least 1/);
  });
});

describe('InMemoryMemoryStore: bounded', () => {
  it('keeps at most maxUsers users (least recently used out) and maxMemoriesPerUser memories (oldest out)', async () => {
    const store = new InMemoryMemoryStore({ maxUsers: 2, maxMemoriesPerUser: 2 });
    await store.add('a', 'a1');
    await store.add('b', 'b1');
    await store.list('a'); // a is now more recently used than b
    await store.add('c', 'c1');
    assert.deepEqual(await store.list('b'), [], 'the least recently used user went');
    assert.equal((await store.list('a')).length, 1);
    await store.add('a', 'a2');
    await store.add('a', 'a3');
    assert.deepEqual((await store.list('a')).map((record) => record.text), ['a2', 'a3'], 'the oldest memory went');
    assert.throws(() => new InMemoryMemoryStore({ maxUsers: 0 }), /maxUsers must be a whole number of at least 1/);
  });
});

describe('the other in-memory structures that grow with callers', () => {
  it('InMemoryMemoryStore: the least recently used users go once the texts weigh more than maxBytes; a user alone over it keeps the newest', async () => {
    const store = new InMemoryMemoryStore({ maxBytes: 10_000 });
    await store.add('a', 'x'.repeat(2_000)); // about 4 KB as UTF-16
    await store.add('b', 'y'.repeat(2_000));
    await store.list('a'); // a is now more recently used than b
    await store.add('c', 'z'.repeat(2_000));
    assert.ok(store.size <= 10_000, `size ${store.size}`);
    assert.deepEqual(await store.list('b'), [], 'the least recently used user went');
    assert.equal((await store.list('a')).length, 1);
    for (let index = 0; index < 10; index++) await store.add('big', `${index}:${'w'.repeat(1_500)}`);
    const kept = await store.list('big');
    assert.ok(store.size <= 10_000, `size ${store.size}`);
    assert.ok(kept.length >= 1 && kept.length < 10);
    assert.match(kept.at(-1)!.text, /^9:/, 'the newest memory stays');
    // update and delete keep the count right
    const [first] = kept;
    await store.update('big', first.id, 'short');
    await store.delete('big', kept.at(-1)!.id);
    for (const user of ['a', 'b', 'c', 'big']) await store.clear(user);
    assert.equal(store.size, 0);
    assert.throws(() => new InMemoryMemoryStore({ maxBytes: 0 }), /maxBytes must be a whole number of at least 1/);
  });

  it('ChatScheduler: refuses jobs beyond maxQueued and maxQueuedPerChat, and takes them again once done', async () => {
    const scheduler = new ChatScheduler(1, { maxQueued: 3, maxQueuedPerChat: 2 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    const job = (name: string) => async () => {
      await gate;
      ran.push(name);
    };
    assert.equal(scheduler.enqueue('chat-1', job('1a')), true);
    assert.equal(scheduler.enqueue('chat-1', job('1b')), true);
    assert.equal(scheduler.enqueue('chat-1', job('1c')), false, 'per chat');
    assert.equal(scheduler.enqueue('chat-2', job('2a')), true);
    assert.equal(scheduler.enqueue('chat-3', job('3a')), false, 'in all');
    assert.equal(scheduler.size, 3);
    release();
    await scheduler.drain();
    assert.deepEqual(ran.sort(), ['1a', '1b', '2a']);
    assert.equal(scheduler.enqueue('chat-1', job('1d')), true, 'room again');
    await scheduler.drain();
    assert.throws(() => new ChatScheduler(1, { maxQueued: 0 }), /maxQueued must be a whole number of at least 1/);
  });

  it('InMemoryDedupStore keeps at most its capacity of keys, the newest', async () => {
    const store = new InMemoryDedupStore(100);
    for (let index = 0; index < 1_000; index++) await store.add(`k${index}`);
    assert.equal(await store.has('k999'), true);
    assert.equal(await store.has('k0'), false);
    let kept = 0;
    for (let index = 0; index < 1_000; index++) if (await store.has(`k${index}`)) kept++;
    assert.ok(kept <= 100, `${kept} keys kept`);
  });
});
