import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  Agent,
  messageText,
  type RunOutput,
  type WireRunOutput,
} from 'nestjs-definable';
import {
  startFakeOpenAI,
  TestModel,
  waitForRuns,
  type FakeOpenAIServer,
  type TestResponse,
} from 'nestjs-definable/testing';
import request from 'supertest';
import { App } from 'supertest/types.js';
import { AppModule } from './../src/app.module.js';

const API_KEY = process.env.API_KEY ?? 'dev-key-12345678';

/** One Server-Sent Event of POST /run (fields in snake_case). */
interface WireEvent {
  event: string;
  data: { content?: string; output?: WireRunOutput };
}

/** The events of a Server-Sent Events body, in order. */
function sseEvents(body: string): WireEvent[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => ({
      event: /^event: ?(.*)$/m.exec(frame)?.[1] ?? '',
      data: JSON.parse(
        /^data: ?(.*)$/m.exec(frame)?.[1] ?? '{}',
      ) as WireEvent['data'],
    }));
}

describe('AppModule (e2e)', () => {
  let app: INestApplication<App>;
  // The app's own model (OpenAIChat) reads OPENAI_BASE_URL: point it at a local fake.
  let fakeOpenAI: FakeOpenAIServer;

  beforeAll(async () => {
    fakeOpenAI = await startFakeOpenAI();
    process.env.OPENAI_BASE_URL = fakeOpenAI.baseURL;
  });

  afterAll(async () => {
    delete process.env.OPENAI_BASE_URL;
    await fakeOpenAI.close();
  });

  afterEach(async () => {
    await app?.close();
    vi.useRealTimers();
    fakeOpenAI.reset();
  });

  describe('with a test agent (overrideProvider)', () => {
    let model: TestModel;
    let outputs: RunOutput[];

    async function createApp(responses: TestResponse[]) {
      model = new TestModel({ responses });
      const testAgent = new Agent({ name: 'assistant', model });
      outputs = [];
      testAgent.afterResponse((output) => {
        outputs.push(output);
      });
      const moduleFixture = await Test.createTestingModule({
        imports: [AppModule],
      })
        .overrideProvider(Agent)
        .useValue(testAgent)
        .compile();
      app = moduleFixture.createNestApplication();
      await app.init();
    }

    /** The text of the last user message the model received on call `index`. */
    const prompt = (index: number) =>
      messageText(
        model.calls[index].messages.filter((m) => m.role === 'user').at(-1)!,
      );

    it('GET /health is public', async () => {
      await createApp([]);
      const res = await request(app.getHttpServer()).get('/health').expect(200);
      expect((res.body as { status: string }).status).toBe('ok');
    });

    it('POST /run needs the API key and answers with the test agent', async () => {
      await createApp(['Hello from the test agent.']);
      await request(app.getHttpServer())
        .post('/run')
        .send({ input: 'hi' })
        .expect(401);

      const res = await request(app.getHttpServer())
        .post('/run')
        .set('X-API-Key', API_KEY)
        .send({ input: 'hi', session_id: 's1' })
        .expect(200);
      expect(res.body as WireRunOutput).toMatchObject({
        content: 'Hello from the test agent.',
        status: 'completed',
        session_id: 's1',
      });
      expect(model.calls).toHaveLength(1);
      expect(prompt(0)).toBe('hi');
      expect(fakeOpenAI.requests).toHaveLength(0);
    });

    it('POST /run with "stream": true answers Server-Sent Events in order', async () => {
      await createApp([{ chunks: ['Hello ', 'there.'] }]);
      const res = await request(app.getHttpServer())
        .post('/run')
        .set('X-API-Key', API_KEY)
        .send({ input: 'hi', stream: true })
        .buffer(true)
        .parse((response, callback) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => callback(null, text));
        })
        .expect(200)
        .expect('content-type', /text\/event-stream/);

      const events = sseEvents(res.body as string);
      const names = events.map((e) => e.event);
      expect(names[0]).toBe('RunStarted');
      expect(names.at(-1)).toBe('RunCompleted');
      expect(names.filter((n) => n === 'RunCompleted')).toHaveLength(1);
      expect(names.indexOf('RunContent')).toBeGreaterThan(0);
      expect(names.lastIndexOf('RunContent')).toBeLessThan(
        names.indexOf('RunContentCompleted'),
      );
      const deltas = events.filter((e) => e.event === 'RunContent');
      expect(deltas.map((e) => e.data.content).join('')).toBe('Hello there.');
      // The lean wire sends streamed text once: the terminal output names the run, GET /runs/:id has the text.
      const output = events.at(-1)!.data.output!;
      expect(output.content_type).toBe('text');
      expect(output.content).toBeUndefined();
      const run = await request(app.getHttpServer())
        .get(`/runs/${output.run_id}`)
        .set('X-API-Key', API_KEY)
        .expect(200);
      expect(run.body.output.content).toBe('Hello there.');
      expect(fakeOpenAI.requests).toHaveLength(0);
    });

    it('@Webhook POST /hooks/github runs the agent with the handler prompt', async () => {
      await createApp(['One fix: login.']);
      const push = {
        repository: { full_name: 'acme/api' },
        commits: [{ message: 'Fix login' }],
      };
      await request(app.getHttpServer())
        .post('/hooks/github')
        .send(push)
        .expect(401);

      const res = await request(app.getHttpServer())
        .post('/hooks/github')
        .set('X-API-Key', API_KEY)
        .send(push)
        .expect(200);
      const body = res.body as WireRunOutput;
      expect(body.content).toBe('One fix: login.');
      expect(body.run_id).toEqual(expect.any(String));
      expect(prompt(0)).toBe('Summarize this push to acme/api:\n- Fix login');
      expect(model.calls).toHaveLength(1);
      expect(outputs[0].metadata).toMatchObject({
        trigger: 'POST /hooks/github',
      });
      expect(fakeOpenAI.requests).toHaveLength(0);

      // Not a push: the handler's BadRequestException, and no run.
      const bad = await request(app.getHttpServer())
        .post('/hooks/github')
        .set('X-API-Key', API_KEY)
        .send({ zen: 'Keep it logically awesome.' })
        .expect(400);
      expect(JSON.stringify(bad.body)).toContain(
        'Expected a GitHub push payload.',
      );
      expect(model.calls).toHaveLength(1);
    });

    it('@Cron runs the agent at 09:00 Paris time', async () => {
      // Monday 2026-01-05, 08:59 in Paris (UTC+1).
      vi.useFakeTimers({ now: new Date('2026-01-05T07:59:00Z') });
      await createApp(['Stand-up at 09:30.']);

      vi.advanceTimersByTime(59_000);
      await waitForRuns(app);
      expect(model.calls).toHaveLength(0);

      vi.advanceTimersByTime(1_000);
      await waitForRuns(app);
      expect(model.calls).toHaveLength(1);
      expect(prompt(0)).toBe("Write today's stand-up reminder for the team.");
      expect(outputs[0]).toMatchObject({
        status: 'completed',
        content: 'Stand-up at 09:30.',
        metadata: { trigger: 'cron(0 9 * * 1-5)' },
      });
      expect(fakeOpenAI.requests).toHaveLength(0);
    });

    it('@OnEvent runs the agent for the emitted user', async () => {
      await createApp(['Welcome, Alice!']);
      app.get(Agent).emit('user_signup', { id: 'u1', name: 'Alice' });
      await waitForRuns(app);
      expect(prompt(0)).toBe('Write a one-line welcome message for Alice.');
      expect(outputs[0]).toMatchObject({
        content: 'Welcome, Alice!',
        userId: 'u1',
      });
    });
  });

  describe("with the app's own OpenAIChat (fake OpenAI server)", () => {
    beforeEach(async () => {
      const moduleFixture = await Test.createTestingModule({
        imports: [AppModule],
      }).compile();
      app = moduleFixture.createNestApplication();
      await app.init();
    });

    it('POST /run goes through the openai client to OPENAI_BASE_URL', async () => {
      fakeOpenAI.enqueue({ content: 'Paris.' });
      const res = await request(app.getHttpServer())
        .post('/run')
        .set('X-API-Key', API_KEY)
        .send({ input: 'Capital of France?' })
        .expect(200);
      expect(res.body as WireRunOutput).toMatchObject({
        content: 'Paris.',
        model: 'gpt-4o-mini',
      });
      expect(fakeOpenAI.requests).toHaveLength(1);
      const sent = fakeOpenAI.requests[0].body as { messages: unknown[] };
      expect(sent.messages.at(-1)).toMatchObject({
        role: 'user',
        content: 'Capital of France?',
      });
    });
  });
});
