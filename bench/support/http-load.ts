import { Agent as HttpAgent, request } from 'node:http';

/** Sends one request over `agent`; resolves with what the caller measures of it. */
export type Send<T> = (url: URL, agent: HttpAgent) => Promise<T>;

/**
 * Sends `total` requests to `url` over `connections` keep-alive connections, each connection
 * sending its next request when its previous answer has ended. With several URLs (replicas behind
 * a balancer), connection i sends to `url[i % url.length]`. Resolves with the wall-clock seconds,
 * what `send` measured of each request, and how many requests each URL was sent.
 */
export async function runLoad<T>(url: URL | URL[], connections: number, total: number, send: Send<T>): Promise<{ seconds: number; results: T[]; sentTo: number[] }> {
  const urls = Array.isArray(url) ? url : [url];
  const agent = new HttpAgent({ keepAlive: true, maxSockets: connections });
  const results: T[] = [];
  const sentTo = urls.map(() => 0);
  let sent = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: connections }, async (_, i) => {
        const target = i % urls.length;
        while (sent < total) {
          sent++;
          sentTo[target]++;
          results.push(await send(urls[target], agent));
        }
      }),
    );
    return { seconds: (performance.now() - t0) / 1000, results, sentTo };
  } finally {
    agent.destroy();
  }
}

/** A {@link Send} of a JSON POST; resolves with its latency in ms, rejects unless the answer is 200. */
export function postJson(body: string): Send<number> {
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  return (url, agent) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode} from ${url}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** How {@link postStream} recognises an arm's SSE frames: the start of a content frame, and of the last frame. */
export interface StreamMarkers {
  content: string;
  end: string;
}

/** What {@link postStream} measured of one SSE answer. */
export interface StreamSample {
  /** Request sent to the stream's end, ms. */
  ms: number;
  /** Request sent to the arrival of the first content frame, ms. */
  ttftMs: number;
  /** Response body bytes received. */
  bytes: number;
  contentFrames: number;
}

/** Counts the occurrences of an ASCII marker in text that arrives in pieces (a marker may straddle two). */
class MarkerCounter {
  count = 0;
  private carry = '';

  constructor(private readonly marker: string) {}

  feed(text: string): void {
    const joined = this.carry + text;
    for (let at = joined.indexOf(this.marker); at !== -1; at = joined.indexOf(this.marker, at + this.marker.length)) this.count++;
    this.carry = joined.slice(Math.max(0, joined.length - (this.marker.length - 1)));
  }
}

/**
 * A {@link Send} of a JSON POST answered with Server-Sent Events: measures the time to the first
 * content frame, the stream's duration and size, and counts its content frames. Rejects unless
 * the answer is 200 and ends with the `end` frame.
 */
export function postStream(body: string, markers: StreamMarkers): Send<StreamSample> {
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(body) };
  return (url, agent) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode} from ${url}`));
        }
        const content = new MarkerCounter(markers.content);
        const end = new MarkerCounter(markers.end);
        let bytes = 0;
        let ttftMs = NaN;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          const text = chunk.toString('latin1'); // byte for byte, so a split UTF-8 character cannot hide a marker
          content.feed(text);
          end.feed(text);
          if (Number.isNaN(ttftMs) && content.count > 0) ttftMs = performance.now() - t0;
        });
        res.on('end', () => {
          if (end.count !== 1 || content.count === 0) return reject(new Error(`incomplete stream from ${url}: ${content.count} content frames, end frame ${end.count ? 'seen' : 'missing'}`));
          resolve({ ms: performance.now() - t0, ttftMs, bytes, contentFrames: content.count });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** The `p`th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
