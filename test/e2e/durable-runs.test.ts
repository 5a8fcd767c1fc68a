import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, ApiKeyAuth, DefinableModule, JwtAuth, CompositeAuth, PostgresRunStore, SqliteRunStore } from '../../lib';
import { FakeOpenAIServer, startFakeOpenAI } from '../../lib/testing';
import { modelFor, tempDir } from '../support/fixtures';
import { PLATFORMS, post, readSse, SseEvent, startApp, TestApp } from '../support/nest';
import { dropSchemas, PG_URL, schemaName } from '../support/postgres';
import jwt from 'jsonwebtoken';

const API_KEY = 'durable-test-key-0001';
const SECRET = 'durable-jwt-secret-with-enough-length';
const TOKENS = 200;
const words = Array.from({ length: TOKENS }, (_, index) => `w${index} `);

const dir = tempDir();
after(() => dir.cleanup());

const token = (sub: string) => `Bearer ${jwt.sign({ sub }, SECRET, { algorithm: 'HS256' })}`;
const trusted = { 'x-api-key': API_KEY };

/** GETs a path and parses the JSON answer. */
async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() };
}

/** Reads a run's SSE events, optionally after `lastEventId`, stopping early after `stopAfter` events (the connection is then dropped). */
async function readEvents(url: string, headers: Record<string, string>, stopAfter = Infinity): Promise<SseEvent[]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  assert.equal(response.status, 200);
  const events: SseEvent[] = [];
  try {
    for await (const event of readSse(response)) {
      events.push(event);
      if (events.length >= stopAfter) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
  return events;
}

const contentOf = (events: SseEvent[]) => events.filter((event) => event.event === 'RunContent').map((event) => event.data.content).join('');

async function waitForStatus(url: string, headers: Record<string, string>, done: (status: string) => boolean): Promise<any> {
  for (;;) {
    const { body } = await getJson(url, headers);
    if (done(body.status)) return body;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const platform of PLATFORMS) {
  describe(`durable runs over HTTP on ${platform}`, () => {
    let fake: FakeOpenAIServer;
    let server: TestApp;
    const chatCalls = () => fake.requests.filter((request) => request.path.endsWith('/chat/completions')).length;

    before(async () => {
      fake = await startFakeOpenAI({ defaultReply: () => ({ chunks: words, chunkDelayMs: 1 }) });
      server = await startApp(platform, {
        imports: [
          DefinableModule.forRoot({
            agent: new Agent({ name: 'main', model: modelFor(fake) }),
            auth: new CompositeAuth(new ApiKeyAuth({ keys: [API_KEY] }), new JwtAuth({ secret: SECRET })),
            runStore: new SqliteRunStore({ path: join(dir.path, `${platform}-runs.db`) }),
          }),
        ],
      });
    });
    after(async () => {
      await server.close();
      await fake.close();
    });

    it('streams /run with an id on every frame: 1, 2, 3… in order', async () => {
      const response = await fetch(`${server.url}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...trusted },
        body: JSON.stringify({ input: 'hi' }),
      });
      const events: SseEvent[] = [];
      for await (const event of readSse(response)) events.push(event);
      assert.deepEqual(events.map((event) => event.id), events.map((_, index) => index + 1));
      assert.equal(events.at(-1)?.event, 'RunCompleted');
      assert.equal(contentOf(events), words.join(''));
    });

    it('starts a background run (202), which completes with nobody listening; GET /runs/:id has its output', async () => {
      const started = await post(`${server.url}/run`, { input: 'in the background', background: true }, trusted);
      assert.equal(started.status, 202);
      assert.equal(started.body.status, 'queued');
      assert.match(started.body.run_id, /^[0-9a-f-]{36}$/);
      const run = await waitForStatus(`${server.url}/runs/${started.body.run_id}`, trusted, (status) => status === 'completed');
      assert.equal(run.output.content, words.join(''));
      assert.equal(run.trigger, 'POST /run');
      assert.equal(run.background, true);
      assert.ok(run.last_event_id > TOKENS, `${run.last_event_id} events recorded`);
    });

    it('resumes GET /runs/:id/events with Last-Event-ID mid-stream: exactly the remainder, no gap, no repeat', async () => {
      const { body } = await post(`${server.url}/run`, { input: 'resume me', background: true }, trusted);
      const url = `${server.url}/runs/${body.run_id}/events`;
      const first = await readEvents(url, trusted, 50);
      assert.equal(first.at(-1)?.id, 50);
      const rest = await readEvents(url, { ...trusted, 'last-event-id': '50' });
      const all = [...first, ...rest];
      assert.deepEqual(all.map((event) => event.id), all.map((_, index) => index + 1));
      assert.equal(rest.at(-1)?.event, 'RunCompleted');
      assert.equal(contentOf(all), words.join(''));
      // After the end, the stored log replays the same events.
      const replayed = await readEvents(url, { ...trusted, 'last-event-id': '20' });
      assert.deepEqual(replayed.map((event) => [event.id, event.event, event.data.content]), all.slice(20).map((event) => [event.id, event.event, event.data.content]));
      assert.deepEqual(await readEvents(url, { ...trusted, 'last-event-id': String(all.length) }), [], 'nothing after the last event');
      const bad = await fetch(url, { headers: { ...trusted, 'last-event-id': 'abc' } });
      assert.equal(bad.status, 400);
    });

    it('a background run goes on when the caller disconnects; a plain streaming run is cancelled', async () => {
      const before = chatCalls();
      const controller = new AbortController();
      const response = await fetch(`${server.url}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...trusted },
        body: JSON.stringify({ input: 'keep going', background: true }),
        signal: controller.signal,
      });
      const { run_id } = (await response.json()) as { run_id: string };
      controller.abort();
      const run = await waitForStatus(`${server.url}/runs/${run_id}`, trusted, (status) => status !== 'queued' && status !== 'running');
      assert.equal(run.status, 'completed');
      assert.equal(chatCalls(), before + 1);

      const streamed = await fetch(`${server.url}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...trusted },
        body: JSON.stringify({ input: 'stop when I go' }),
      });
      let runId = '';
      for await (const event of readSse(streamed)) {
        if (event.event === 'RunStarted') runId = event.data.run_id;
        if (event.event === 'RunContent') break;
      }
      const cancelled = await waitForStatus(`${server.url}/runs/${runId}`, trusted, (status) => status !== 'running');
      assert.equal(cancelled.status, 'cancelled');
    });

    it('POST /runs/:id/cancel ends a running run with RunCancelled, and again answers the same', async () => {
      fake.enqueue({ chunks: words, chunkDelayMs: 20 });
      const { body } = await post(`${server.url}/run`, { input: 'cancel me', background: true }, trusted);
      const url = `${server.url}/runs/${body.run_id}`;
      await readEvents(`${url}/events`, trusted, 3);
      const cancelled = await post(`${url}/cancel`, {}, trusted);
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, 'cancelled');
      const again = await post(`${url}/cancel`, {}, trusted);
      assert.deepEqual(again.body, cancelled.body);
      const events = await readEvents(`${url}/events`, trusted);
      assert.equal(events.at(-1)?.event, 'RunCancelled');
      assert.ok(contentOf(events).length < words.join('').length);
    });

    it("shows a run to its own user and trusted principals only: another user's and an unknown id are both 404", async () => {
      const { body } = await post(`${server.url}/run`, { input: 'mine', background: true }, { authorization: token('alice') });
      const url = `${server.url}/runs/${body.run_id}`;
      const alice = await waitForStatus(url, { authorization: token('alice') }, (status) => status === 'completed');
      assert.equal(alice.user_id, 'alice');
      const mallory = await getJson(url, { authorization: token('mallory') });
      const unknown = await getJson(`${server.url}/runs/no-such-run`, { authorization: token('mallory') });
      assert.equal(mallory.status, 404);
      assert.equal(mallory.body.error.code, 'run_not_found');
      assert.equal(unknown.status, 404);
      assert.deepEqual(Object.keys(mallory.body.error), Object.keys(unknown.body.error));
      assert.equal((await fetch(`${url}/events`, { headers: { authorization: token('mallory') } })).status, 404);
      assert.equal((await post(`${url}/cancel`, {}, { authorization: token('mallory') })).status, 404);
      assert.equal((await getJson(url, trusted)).status, 200, 'a trusted key sees every run');
      assert.equal((await getJson(url)).status, 401);
    });

    it('answers a retried JSON /run with the same Idempotency-Key from the first run: one model call', async () => {
      const before = chatCalls();
      const headers = { ...trusted, 'idempotency-key': `json-${platform}` };
      const first = await post(`${server.url}/run`, { input: 'charge once', session_id: `idem-${platform}` }, headers);
      const retry = await post(`${server.url}/run`, { input: 'charge once', session_id: `idem-${platform}` }, headers);
      assert.equal(first.status, 200);
      assert.deepEqual(retry.body, first.body);
      assert.equal(chatCalls(), before + 1);
      const mismatch = await post(`${server.url}/run`, { input: 'charge twice', session_id: `idem-${platform}` }, headers);
      assert.equal(mismatch.status, 409);
      assert.equal(mismatch.body.error.code, 'idempotency_mismatch');
      const otherPrincipal = await post(`${server.url}/run`, { input: 'charge once', session_id: `idem-${platform}` }, { authorization: token('alice'), 'idempotency-key': `json-${platform}` });
      assert.equal(otherPrincipal.status, 200, "another principal's key of the same name is another key");
      assert.notEqual(otherPrincipal.body.run_id, first.body.run_id);
      assert.equal((await post(`${server.url}/run`, { input: 'x' }, { ...trusted, 'idempotency-key': '' })).status, 400);
    });

    it('concurrent duplicates race to one run, and an SSE retry of it replays its events: one model call', async () => {
      const before = chatCalls();
      const headers = { ...trusted, 'idempotency-key': `race-${platform}` };
      const answers = await Promise.all(Array.from({ length: 5 }, () => post(`${server.url}/run`, { input: 'once only' }, headers)));
      assert.deepEqual(new Set(answers.map((answer) => answer.body.run_id)).size, 1);
      assert.ok(answers.every((answer) => answer.status === 200 && answer.body.content === words.join('')));
      const streamed = await fetch(`${server.url}/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
        body: JSON.stringify({ input: 'once only' }),
      });
      const events: SseEvent[] = [];
      for await (const event of readSse(streamed)) events.push(event);
      assert.equal(events.at(-1)?.data.run_id, answers[0].body.run_id);
      assert.equal(chatCalls(), before + 1);
    });

    it('an SSE run under an Idempotency-Key goes on when its client leaves; the retry gets every event, one model call', async () => {
      const before = chatCalls();
      const headers = { 'content-type': 'application/json', accept: 'text/event-stream', ...trusted, 'idempotency-key': `sse-${platform}` };
      const controller = new AbortController();
      const first = await fetch(`${server.url}/run`, { method: 'POST', headers, body: JSON.stringify({ input: 'stream once' }), signal: controller.signal });
      const seen: SseEvent[] = [];
      try {
        for await (const event of readSse(first)) {
          seen.push(event);
          if (seen.length === 10) controller.abort();
        }
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
      }
      const retry = await fetch(`${server.url}/run`, { method: 'POST', headers, body: JSON.stringify({ input: 'stream once' }) });
      const events: SseEvent[] = [];
      for await (const event of readSse(retry)) events.push(event);
      assert.deepEqual(events.map((event) => event.id), events.map((_, index) => index + 1));
      assert.deepEqual(events.slice(0, seen.length).map((event) => event.data), seen.map((event) => event.data));
      assert.equal(events.at(-1)?.event, 'RunCompleted');
      assert.equal(contentOf(events), words.join(''));
      assert.equal(chatCalls(), before + 1);
    });
  });
}

// Two replicas of one app on the machine's PostgreSQL (a schema of their own, dropped after): what one
// records, the other answers from.
describe('durable runs shared by two replicas on PostgreSQL', () => {
  const schema = schemaName();
  let fake: FakeOpenAIServer;
  let replicas: TestApp[] = [];
  const chatCalls = () => fake.requests.filter((request) => request.path.endsWith('/chat/completions')).length;

  before(async () => {
    fake = await startFakeOpenAI({ defaultReply: () => ({ chunks: words, chunkDelayMs: 1 }) });
    // One after the other: a replica starting recovers the runs left unfinished, and none are yet.
    for (const platform of PLATFORMS) {
      replicas.push(
        await startApp(platform, {
          imports: [
            DefinableModule.forRoot({
              agent: new Agent({ name: 'main', model: modelFor(fake) }),
              auth: new ApiKeyAuth({ keys: [API_KEY] }),
              runStore: new PostgresRunStore({ connectionString: PG_URL, schema }),
            }),
          ],
        }),
      );
    }
  });
  after(async () => {
    for (const replica of replicas) await replica.close();
    replicas = [];
    await fake.close();
    await dropSchemas([schema]);
  });

  it("a background run started on one replica is followed on the other: its record, then its events replayed in order", async () => {
    const [a, b] = replicas;
    const started = await post(`${a.url}/run`, { input: 'across replicas', background: true }, trusted);
    assert.equal(started.status, 202);
    const run = await waitForStatus(`${b.url}/runs/${started.body.run_id}`, trusted, (status) => status === 'completed');
    assert.equal(run.output.content, words.join(''));
    const events = await readEvents(`${b.url}/runs/${started.body.run_id}/events`, trusted);
    assert.deepEqual(events.map((event) => event.id), events.map((_, index) => index + 1));
    assert.equal(events.at(-1)?.event, 'RunCompleted');
    assert.deepEqual([events.at(-1)?.data.output.status, events.at(-1)?.data.output.metrics.output_tokens], ['completed', TOKENS], "the terminal event carries the run's output");
    assert.equal(contentOf(events), words.join(''));
    const rest = await readEvents(`${a.url}/runs/${started.body.run_id}/events`, { ...trusted, 'last-event-id': String(events.length - 3) });
    assert.deepEqual(rest.map((event) => event.id), [events.length - 2, events.length - 1, events.length]);
  });

  it('duplicates sent to both replicas at once race to one run: one model call, one answer', async () => {
    const before = chatCalls();
    const headers = { ...trusted, 'idempotency-key': 'across-replicas' };
    const answers = await Promise.all(Array.from({ length: 6 }, (_, index) => post(`${replicas[index % 2].url}/run`, { input: 'once only' }, headers)));
    assert.deepEqual(answers.map((answer) => answer.status), Array(6).fill(200));
    assert.equal(new Set(answers.map((answer) => answer.body.run_id)).size, 1);
    assert.ok(answers.every((answer) => answer.body.content === words.join('')));
    assert.equal(chatCalls(), before + 1);
  });
});
