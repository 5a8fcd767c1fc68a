import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { z } from 'zod';
import { Agent, ApiKeyAuth, DefinableModule, defineTool, ModelError } from '../../lib';
import type { ModelChunk, ModelRequest } from '../../lib';
import { createPlaygroundController } from '../../lib';
import { TestModel } from '../../lib/testing';
import { deferred } from '../support/fixtures';
import { startApp, TestApp } from '../support/nest';

const KEY = 'playground-test-key-0001';
const OUTPUT_DIR = join(__dirname, '..', '..', 'test-output');

/** The system Chromium (scripts/setup-chromium.sh installs it): playwright-core never downloads a browser here. */
function chromiumPath(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'chromium');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not in this directory */
    }
  }
  throw new Error('No `chromium` on PATH: run scripts/setup-chromium.sh (as root) to install it.');
}

function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A TestModel whose second call stops after its first content delta until `gate` opens: the test sees the answer arrive piece by piece. */
class GatedTestModel extends TestModel {
  readonly gate = deferred();

  override async *invoke(request: ModelRequest): AsyncIterable<ModelChunk> {
    const gated = this.calls.length === 1;
    let deltas = 0;
    for await (const chunk of super.invoke(request)) {
      yield chunk;
      if (gated && chunk.type === 'content' && ++deltas === 1) await this.gate.promise;
    }
  }
}

const getWeather = defineTool({
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: z.object({ city: z.string() }),
  execute: ({ city }) => `Sunny, 21 °C in ${city}`,
});

const FIRST_ANSWER = 'It is sunny in Paris. <img src=x onerror="window.pwned=1"><b>bold</b>';

describe('Playground page', () => {
  it('on fastify: streams the answer and the tool call, keeps the session across a reload, shows auth errors', async () => {
    const model = new GatedTestModel({
      price: { input: 2, output: 8 },
      responses: [
        { toolCalls: [{ name: 'get_weather', args: { city: 'Paris' } }], usage: { inputTokens: 5, outputTokens: 2 } },
        { chunks: ['It is ', 'sunny ', 'in Paris.', ' <img src=x onerror="window.pwned=1"><b>bold</b>'], usage: { inputTokens: 7, outputTokens: 4 } },
        { chunks: ['Still ', 'sunny.'], usage: { inputTokens: 9, outputTokens: 2 } },
      ],
    });
    let server: TestApp | undefined;
    let browser: Browser | undefined;
    try {
      server = await startApp('fastify', {
        imports: [
          DefinableModule.forRoot({
            agent: new Agent({ name: 'helper', model, tools: [getWeather] }),
            auth: new ApiKeyAuth({ keys: [KEY] }),
          }),
        ],
        controllers: [createPlaygroundController('/playground')],
      });
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
      });

      const response = await page.goto(`${server.url}/playground`);
      assert.equal(response?.status(), 200);
      assert.equal(response?.headers()['content-type'], 'text/html; charset=utf-8');
      await page.waitForSelector('body[data-state="ready"]');
      assert.deepEqual(await page.getByTestId('agent-select').locator('option').allTextContents(), ['helper']);
      assert.equal(await page.getByTestId('agent-select').inputValue(), 'helper');

      // First message: the answer streams in, the tool call and the metrics show.
      await page.getByTestId('api-key').fill(KEY);
      await page.getByTestId('input').fill('What is the weather in Paris?');
      await page.getByTestId('send').click();
      const answer = page.getByTestId('assistant-text').last();
      // Held after its first delta: what shows is what has arrived so far.
      await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-testid="assistant-text"]')?.textContent === 'It is ');
      assert.equal(await page.locator('body').getAttribute('data-state'), 'running');
      model.gate.resolve();
      await page.getByTestId('metrics').waitFor();
      await page.waitForSelector('body[data-state="ready"]');
      assert.equal(await answer.textContent(), FIRST_ANSWER);
      // The model's markup is text, not elements.
      assert.equal(await page.getByTestId('messages').locator('img, b').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as any).pwned), undefined);

      const tool = page.getByTestId('tool-call');
      assert.equal(await tool.count(), 1);
      assert.equal(await tool.getByTestId('tool-name').textContent(), 'get_weather');
      assert.deepEqual(JSON.parse((await tool.getByTestId('tool-args').textContent()) ?? ''), { city: 'Paris' });
      assert.equal(await tool.getByTestId('tool-result').textContent(), 'Sunny, 21 °C in Paris');
      const metrics = (await page.getByTestId('metrics').textContent()) ?? '';
      assert.match(metrics, /tokens 12 in \/ 6 out \/ 18 total/);
      assert.match(metrics, /cost \$\d/);
      assert.match(metrics, /duration \d+(\.\d+)? m?s/);
      assert.match(metrics, /time to first token \d+(\.\d+)? m?s/);
      assert.equal(await page.locator('[data-testid="event"][data-event="RunStarted"]').count(), 1);
      assert.equal(await page.locator('[data-testid="event"][data-event="RunCompleted"]').count(), 1);
      const sessionId = (await page.getByTestId('session-id').textContent()) ?? '';
      assert.ok(sessionId && !sessionId.startsWith('new'), `a session id is shown (got "${sessionId}")`);

      mkdirSync(OUTPUT_DIR, { recursive: true });
      const screenshot = join(OUTPUT_DIR, 'playground.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`playground screenshot: ${screenshot}`);

      // Reload: the key (this tab), the session and its messages are still there; the next message continues it.
      await page.reload();
      await page.waitForSelector('body[data-state="ready"]');
      assert.equal(await page.getByTestId('api-key').inputValue(), KEY);
      assert.equal(await page.getByTestId('session-id').textContent(), sessionId);
      assert.deepEqual(await page.getByTestId('message-user').allTextContents(), ['What is the weather in Paris?']);
      assert.equal(await page.getByTestId('assistant-text').last().textContent(), FIRST_ANSWER);
      await page.getByTestId('input').fill('And tomorrow?');
      await page.getByTestId('input').press('Enter');
      await page.getByTestId('metrics').nth(1).waitFor();
      await page.waitForSelector('body[data-state="ready"]');
      assert.equal(await page.getByTestId('assistant-text').last().textContent(), 'Still sunny.');
      assert.equal(await page.getByTestId('session-id').textContent(), sessionId);
      assert.equal(model.calls.length, 3);
      const history = model.calls[2].messages;
      assert.ok(history.some((m) => m.role === 'user' && m.content === 'What is the weather in Paris?'), 'the first question is in the history');
      assert.ok(history.some((m) => m.role === 'assistant' && m.content === FIRST_ANSWER), 'the first answer is in the history');
      assert.deepEqual(history.at(-1), { role: 'user', content: 'And tomorrow?' });

      // A wrong key: the 401 is shown, the model is not called.
      await page.getByTestId('api-key').fill('not-the-right-key');
      await page.getByTestId('input').fill('Hello?');
      await page.getByTestId('send').click();
      await page.getByTestId('error').waitFor({ state: 'visible' });
      await page.waitForSelector('body[data-state="ready"]');
      const error = (await page.getByTestId('error').textContent()) ?? '';
      assert.match(error, /HTTP 401/);
      assert.match(error, /unauthorized/);
      assert.match((await page.getByTestId('message-error').last().textContent()) ?? '', /HTTP 401/);
      assert.equal(model.calls.length, 3);

      // New session: the id and the conversation are cleared.
      await page.getByTestId('new-session').click();
      assert.match((await page.getByTestId('session-id').textContent()) ?? '', /^new/);
      assert.equal(await page.getByTestId('message-user').count(), 0);

      assert.deepEqual(problems, []);
    } finally {
      model.gate.resolve();
      await browser?.close();
      await server?.close();
    }
  });

  it('on express: GET /playground serves the page, which calls the routes under the module prefix', async () => {
    const model = new TestModel({ responses: ['Hello from under /agent.', { error: new ModelError('model_unavailable', 'Upstream said no.') }] });
    let server: TestApp | undefined;
    let browser: Browser | undefined;
    try {
      server = await startApp('express', {
        imports: [
          DefinableModule.forRoot({
            agent: new Agent({ name: 'helper', model }),
            agents: { second: new Agent({ name: 'second', model: new TestModel() }) },
            server: { prefix: 'agent' },
          }),
        ],
        controllers: [createPlaygroundController('/playground', 'agent')],
      });
      const response = await fetch(`${server.url}/playground`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
      assert.match(csp, /connect-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      const html = await response.text();
      assert.match(html, /^<!doctype html>/);
      assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//);

      // No auth on this app: the page runs without a key, against /agent/health and /agent/run.
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(`${server.url}/playground`);
      await page.waitForSelector('body[data-state="ready"]');
      assert.deepEqual(await page.getByTestId('agent-select').locator('option').allTextContents(), ['helper', 'second']);
      await page.getByTestId('input').fill('Hi');
      await page.getByTestId('send').click();
      await page.getByTestId('metrics').waitFor();
      assert.equal(await page.getByTestId('assistant-text').textContent(), 'Hello from under /agent.');
      assert.equal(await page.getByTestId('error').isHidden(), true);
      assert.equal(model.calls.length, 1);

      // A run that fails mid-stream: its RunError is shown.
      await page.getByTestId('input').fill('Again');
      await page.getByTestId('send').click();
      await page.getByTestId('run-error').waitFor();
      await page.waitForSelector('body[data-state="ready"]');
      const failure = (await page.getByTestId('run-error').textContent()) ?? '';
      assert.match(failure, /^The run failed \(model_unavailable\): /);
      assert.equal(await page.getByTestId('error').textContent(), failure);
      assert.equal(await page.locator('[data-testid="event"][data-event="RunError"]').count(), 1);
    } finally {
      await browser?.close();
      await server?.close();
    }
  });
});

describe('Playground approvals', () => {
  it('shows a tool call waiting for approval with Approve and Reject, and follows the run once approved', async () => {
    const refunds: number[] = [];
    const refund = defineTool({
      name: 'refund',
      description: 'Refunds an order.',
      parameters: z.object({ order: z.string(), amount: z.number() }),
      approval: true,
      execute: ({ amount }) => {
        refunds.push(amount);
        return `refunded ${amount}`;
      },
    });
    const model = new TestModel({
      responses: [
        { content: 'Let me refund that.', toolCalls: [{ name: 'refund', args: { order: '42', amount: 250 } }] },
        { chunks: [' Done:', ' 250 refunded.'] },
      ],
    });
    let server: TestApp | undefined;
    let browser: Browser | undefined;
    try {
      server = await startApp('fastify', {
        imports: [DefinableModule.forRoot({ agent: new Agent({ name: 'shop', model, tools: [refund] }), auth: new ApiKeyAuth({ keys: [KEY] }), playground: true })],
      });
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      await page.goto(`${server.url}/playground`);
      await page.waitForSelector('body[data-state="ready"]');
      await page.getByTestId('api-key').fill(KEY);
      await page.getByTestId('input').fill('Refund order 42');
      await page.getByTestId('send').click();
      await page.getByTestId('approve').waitFor();
      await page.waitForSelector('body[data-state="ready"]');
      assert.equal(await page.getByTestId('paused').count(), 1);
      assert.match((await page.getByTestId('approval-note').textContent()) ?? '', /^Waiting for your approval \([0-9A-Z]{8}\)$/);
      assert.deepEqual(refunds, [], 'nothing runs before the decision');

      await page.getByTestId('approve').click();
      await page.locator('[data-testid="approval-note"][data-decision="approved"]').waitFor();
      await page.locator('[data-testid="event"][data-event="RunCompleted"]').waitFor();
      await page.waitForSelector('body[data-state="ready"]');
      assert.deepEqual(refunds, [250]);
      assert.equal(await page.getByTestId('assistant-text').last().textContent(), 'Let me refund that. Done: 250 refunded.');
      assert.equal(await page.getByTestId('tool-result').last().textContent(), 'refunded 250');
      assert.equal(await page.getByTestId('paused').count(), 0);
      mkdirSync(OUTPUT_DIR, { recursive: true });
      await page.screenshot({ path: join(OUTPUT_DIR, 'playground-approval.png'), fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await server?.close();
    }
  });
});

describe('playground wiring', () => {
  it('is on in dev mode, off by default, at its own path when asked for', async () => {
    const agent = () => ({ model: new TestModel({ responses: () => 'ok' }) });
    const status = async (options: Parameters<typeof DefinableModule.forRoot>[0], path = '/playground') => {
      const app = await startApp('fastify', { imports: [DefinableModule.forRoot(options)] });
      try {
        return (await fetch(`${app.url}${path}`)).status;
      } finally {
        await app.close();
      }
    };
    assert.equal(await status({ agent: agent() }), 404, 'never on by default');
    assert.equal(await status({ agent: agent(), dev: true }), 200);
    assert.equal(await status({ agent: agent(), playground: { path: '/play' } }, '/play'), 200);
    assert.equal(await status({ agent: agent(), dev: true, playground: false }), 404, 'turned off in dev mode');
    assert.equal(await status({ agent: agent(), playground: true, server: { enabled: false } }), 404, 'no page without the routes it calls');
    const app = await startApp('express', { imports: [DefinableModule.forRootAsync({ useFactory: () => ({ agent: agent() }), server: { playground: true } })] });
    try {
      assert.equal((await fetch(`${app.url}/playground`)).status, 200);
    } finally {
      await app.close();
    }
  });
});
