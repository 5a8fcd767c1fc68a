import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LongPoll } from './long-poll';

/** A request the fake signal-cli-rest-api received. */
export interface SignalCall {
  method: string;
  path: string;
  body: any;
  at: number;
}

/** A running fake signal-cli-rest-api (see {@link startFakeSignal}). */
export interface FakeSignalServer {
  /** The `baseUrl` for `SignalInterface`. */
  readonly baseUrl: string;
  readonly calls: SignalCall[];
  /** Queues an incoming message for `number` from `from` (a group message with `groupId`); returns its timestamp. */
  receiveMessage(message: { number: string; from: string; text: string; groupId?: string; name?: string; timestamp?: number }): number;
  /** Makes the next call(s) to a path prefix (e.g. `'/v2/send'`) answer with this status. */
  fail(pathPrefix: string, status: number, times?: number): void;
  /** Resolves with the first call (past or future) matching the predicate. */
  waitForCall(predicate: (call: SignalCall) => boolean): Promise<SignalCall>;
  /** Messages sent with /v2/send to a recipient. */
  sentTo(recipient: string): string[];
  close(): Promise<void>;
}

/**
 * Starts a fake signal-cli-rest-api (normal mode) on 127.0.0.1: `GET /v1/about`,
 * `GET /v1/health`, long-polling `GET /v1/receive/{number}?timeout=` (which
 * drains the queue, as the real one does), `POST /v2/send` (201 with a
 * timestamp), `PUT`/`DELETE /v1/typing-indicator/{number}`; injectable failures.
 */
export async function startFakeSignal(options: { maxHoldMs?: number } = {}): Promise<FakeSignalServer> {
  const calls: SignalCall[] = [];
  const queues = new Map<string, any[]>();
  const failures: { prefix: string; status: number; times: number }[] = [];
  const longPoll = new LongPoll();
  const waiters: { predicate: (call: SignalCall) => boolean; resolve: (call: SignalCall) => void }[] = [];
  let clock = Date.now();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });

  function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return json(res, 400, { error: 'invalid JSON' });
    }
    const call = { method: req.method ?? 'GET', path: url.pathname, body, at: Date.now() };
    calls.push(call);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(call)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(call);
      }
    }
    const failure = failures.find((entry) => url.pathname.startsWith(entry.prefix) && entry.times > 0);
    if (failure) {
      failure.times--;
      return json(res, failure.status, { error: `injected failure ${failure.status}` });
    }
    if (url.pathname === '/v1/about') return json(res, 200, { versions: ['v1', 'v2'], build: 2, mode: 'normal', version: '0.0.0-fake', capabilities: {} });
    if (url.pathname === '/v1/health') return void res.writeHead(204).end();
    const receive = /^\/v1\/receive\/(.+)$/.exec(url.pathname);
    if (receive && req.method === 'GET') {
      const number = decodeURIComponent(receive[1]);
      const queue = queues.get(number) ?? [];
      const drain = () => {
        const items = queue.splice(0);
        json(res, 200, items);
      };
      if (queue.length || !Number(url.searchParams.get('timeout'))) return drain();
      longPoll.hold(res, Math.min(Number(url.searchParams.get('timeout')) * 1000, options.maxHoldMs ?? 10_000), drain);
      return;
    }
    if (url.pathname === '/v2/send' && req.method === 'POST') {
      if (!body?.number || !Array.isArray(body?.recipients) || typeof body?.message !== 'string') {
        return json(res, 400, { error: 'number, recipients and message are required' });
      }
      return json(res, 201, { timestamp: String(++clock) });
    }
    if (/^\/v1\/typing-indicator\//.test(url.pathname)) return void res.writeHead(204).end();
    return json(res, 404, { error: 'not found' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    calls,
    receiveMessage: ({ number, from, text, groupId, name = 'Sender', timestamp }) => {
      const ts = timestamp ?? ++clock;
      const queue = queues.get(number) ?? [];
      queue.push({
        account: number,
        envelope: {
          source: from,
          sourceNumber: from,
          sourceUuid: `uuid-${from}`,
          sourceName: name,
          timestamp: ts,
          dataMessage: { timestamp: ts, message: text, ...(groupId ? { groupInfo: { groupId } } : {}) },
        },
      });
      queues.set(number, queue);
      longPoll.wake();
      return ts;
    },
    fail: (prefix, status, times = 1) => void failures.push({ prefix, status, times }),
    waitForCall: (predicate) =>
      new Promise((resolve) => {
        const found = calls.find(predicate);
        if (found) return resolve(found);
        waiters.push({ predicate, resolve });
      }),
    sentTo: (recipient) =>
      calls.filter((call) => call.path === '/v2/send' && call.body?.recipients?.includes(recipient)).map((call) => String(call.body.message)),
    close: () =>
      new Promise<void>((resolve) => {
        longPoll.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}
