import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';

/** A REST call the fake Discord received. */
export interface DiscordCall {
  method: string;
  path: string;
  body: any;
  authorization?: string;
  at: number;
}

/** An attachment of a fake Discord message. */
export interface FakeDiscordAttachment {
  filename: string;
  url: string;
  contentType: string;
  size: number;
}

/** Options of {@link startFakeDiscord}. */
export interface FakeDiscordOptions {
  /** The only token accepted (others: REST 401, gateway close 4004). Default: any. */
  token?: string;
  /** The bot user. */
  bot?: { id: string; username: string };
  /** A guild with one text channel the bot can see. */
  guild?: { id: string; channelId: string };
  /** Heartbeat interval sent in HELLO, in ms. Default 2000. */
  heartbeatInterval?: number;
}

/** A running fake Discord (see {@link startFakeDiscord}). */
export interface FakeDiscordServer {
  /** For discord.js `rest.api`: `http://127.0.0.1:<port>/api`. */
  readonly api: string;
  readonly calls: DiscordCall[];
  readonly bot: { id: string; username: string };
  readonly guild: { id: string; channelId: string };
  /** Gateway connections identified so far. */
  readonly identifies: number;
  /** Dispatches a guild message (mention the bot with `<@botId>` in `content`); returns its id. */
  sendGuildMessage(message: { authorId: string; content: string; username?: string; attachments?: FakeDiscordAttachment[] }): string;
  /** Dispatches a direct message from a user; returns its id. */
  sendDirectMessage(message: { authorId: string; content: string; username?: string }): string;
  /** Closes every gateway connection with this close code (4000 resumable, 4004 authentication failed, 1000 normal). */
  closeGateway(code: number): void;
  /** Resolves with the first call (past or future) matching the predicate. */
  waitForCall(predicate: (call: DiscordCall) => boolean): Promise<DiscordCall>;
  /** Resolves after the next READY sent. */
  waitForReady(count?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a fake Discord (REST under `/api/v10` and a JSON gateway) on
 * 127.0.0.1 for the real `discord.js` client: `GET /gateway/bot`, HELLO,
 * heartbeat ACKs, IDENTIFY → READY + GUILD_CREATE, RESUME, MESSAGE_CREATE for
 * guild messages and DMs, `POST /channels/:id/messages`, `PATCH` edits,
 * `POST /channels/:id/typing`, `POST /users/@me/channels` (DM channels), and
 * close codes on demand. Needs the `ws` package.
 */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscordServer> {
  const { WebSocketServer: Wss } = loadWs();
  const bot = options.bot ?? { id: '100000000000000001', username: 'definable-bot' };
  const guild = options.guild ?? { id: '200000000000000001', channelId: '300000000000000001' };
  const calls: DiscordCall[] = [];
  const waiters: { predicate: (call: DiscordCall) => boolean; resolve: (call: DiscordCall) => void }[] = [];
  const readyWaiters: { count: number; resolve: () => void }[] = [];
  const sockets = new Set<WebSocket & { seq?: number; identified?: boolean }>();
  const dmChannels = new Map<string, string>();
  let nextId = 400000000000000000n;
  let identifies = 0;
  let readies = 0;
  const snowflake = () => String(++nextId);

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => rest(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const wss: WebSocketServer = new Wss({ server, path: '/gateway' });

  function rest(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/^\/api\/v\d+/, '');
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const call: DiscordCall = { method: req.method ?? 'GET', path, body, authorization: req.headers.authorization, at: Date.now() };
    calls.push(call);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(call)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(call);
      }
    }
    if (options.token && req.headers.authorization !== `Bot ${options.token}`) return json(res, 401, { message: '401: Unauthorized', code: 0 });
    if (path === '/gateway/bot') {
      const port = (server.address() as AddressInfo).port;
      return json(res, 200, { url: `ws://127.0.0.1:${port}/gateway`, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } });
    }
    if (path === '/users/@me/channels' && req.method === 'POST') {
      return json(res, 200, { id: dmChannel(String(body?.recipient_id)), type: 1, recipients: [{ id: String(body?.recipient_id), username: 'user', discriminator: '0' }] });
    }
    let match = /^\/channels\/(\d+)$/.exec(path);
    if (match && req.method === 'GET') {
      const dmUser = [...dmChannels.entries()].find(([, channel]) => channel === match![1])?.[0];
      if (dmUser) return json(res, 200, { id: match[1], type: 1, recipients: [{ id: dmUser, username: 'user', discriminator: '0' }] });
      return json(res, 200, { id: match[1], type: 0, guild_id: guild.id, name: 'general', position: 0, permission_overwrites: [] });
    }
    match = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (match && req.method === 'POST') {
      return json(res, 200, messageObject({ id: snowflake(), channelId: match[1], author: { id: bot.id, username: bot.username, bot: true }, content: body?.content ?? '' }));
    }
    match = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if (match && req.method === 'PATCH') {
      return json(res, 200, messageObject({ id: match[2], channelId: match[1], author: { id: bot.id, username: bot.username, bot: true }, content: body?.content ?? '' }));
    }
    if (/^\/channels\/\d+\/typing$/.test(path)) return void res.writeHead(204).end();
    if (path === '/users/@me') return json(res, 200, { id: bot.id, username: bot.username, discriminator: '0', bot: true });
    return json(res, 404, { message: `404: Not Found (${req.method} ${path})`, code: 0 });
  }

  function dmChannel(userId: string): string {
    let channel = dmChannels.get(userId);
    if (!channel) dmChannels.set(userId, (channel = snowflake()));
    return channel;
  }

  wss.on('connection', (socket: WebSocket & { seq?: number; identified?: boolean }) => {
    sockets.add(socket);
    socket.seq = 0;
    socket.on('close', () => sockets.delete(socket));
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: options.heartbeatInterval ?? 2000 } }));
    socket.on('message', (data) => {
      let payload: any;
      try {
        payload = JSON.parse(String(data));
      } catch {
        return;
      }
      if (payload.op === 1) return socket.send(JSON.stringify({ op: 11 }));
      if (payload.op === 2 || payload.op === 6) {
        const token = payload.d?.token;
        if (options.token && token !== options.token && token !== `Bot ${options.token}`) return socket.close(4004, 'Authentication failed.');
        socket.identified = true;
        if (payload.op === 2) {
          identifies++;
          dispatch(socket, 'READY', {
            v: 10,
            user: { id: bot.id, username: bot.username, discriminator: '0', bot: true, avatar: null, global_name: null },
            guilds: [{ id: guild.id, unavailable: true }],
            session_id: `session-${identifies}`,
            resume_gateway_url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/gateway`,
            application: { id: bot.id, flags: 0 },
          });
          dispatch(socket, 'GUILD_CREATE', guildObject());
        } else {
          dispatch(socket, 'RESUMED', {});
        }
        readies++;
        for (const waiter of [...readyWaiters]) {
          if (readies >= waiter.count) {
            readyWaiters.splice(readyWaiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      }
    });
  });

  function dispatch(socket: WebSocket & { seq?: number }, type: string, d: unknown): void {
    socket.seq = (socket.seq ?? 0) + 1;
    socket.send(JSON.stringify({ op: 0, t: type, s: socket.seq, d }));
  }

  function broadcast(type: string, d: unknown): void {
    for (const socket of sockets) if (socket.identified) dispatch(socket, type, d);
  }

  function guildObject() {
    return {
      id: guild.id,
      name: 'Test Guild',
      icon: null,
      owner_id: '1',
      unavailable: false,
      member_count: 2,
      large: false,
      features: [],
      roles: [{ id: guild.id, name: '@everyone', permissions: '1024', position: 0, color: 0, hoist: false, managed: false, mentionable: false }],
      emojis: [],
      stickers: [],
      members: [],
      presences: [],
      voice_states: [],
      threads: [],
      stage_instances: [],
      guild_scheduled_events: [],
      channels: [{ id: guild.channelId, type: 0, name: 'general', guild_id: guild.id, position: 0, permission_overwrites: [] }],
    };
  }

  function messageObject(message: {
    id: string;
    channelId: string;
    author: { id: string; username: string; bot?: boolean };
    content: string;
    guildId?: string;
    attachments?: FakeDiscordAttachment[];
  }) {
    return {
      id: message.id,
      channel_id: message.channelId,
      ...(message.guildId ? { guild_id: message.guildId } : {}),
      author: { id: message.author.id, username: message.author.username, discriminator: '0', bot: message.author.bot ?? false, avatar: null, global_name: null },
      content: message.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: message.content.includes(`<@${bot.id}>`) ? [{ id: bot.id, username: bot.username, discriminator: '0', bot: true }] : [],
      mention_roles: [],
      attachments: (message.attachments ?? []).map((attachment) => ({
        id: snowflake(),
        filename: attachment.filename,
        url: attachment.url,
        proxy_url: attachment.url,
        content_type: attachment.contentType,
        size: attachment.size,
      })),
      embeds: [],
      pinned: false,
      type: 0,
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    api: `http://127.0.0.1:${port}/api`,
    calls,
    bot,
    guild,
    get identifies() {
      return identifies;
    },
    sendGuildMessage: ({ authorId, content, username = 'member', attachments }) => {
      const id = snowflake();
      broadcast('MESSAGE_CREATE', { ...messageObject({ id, channelId: guild.channelId, guildId: guild.id, author: { id: authorId, username }, content, attachments }), member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false } });
      return id;
    },
    sendDirectMessage: ({ authorId, content, username = 'member' }) => {
      const id = snowflake();
      broadcast('MESSAGE_CREATE', { ...messageObject({ id, channelId: dmChannel(authorId), author: { id: authorId, username }, content }), channel_type: 1 });
      return id;
    },
    closeGateway: (code) => {
      for (const socket of sockets) socket.close(code, `closed with ${code}`);
    },
    waitForCall: (predicate) =>
      new Promise((resolve) => {
        const found = calls.find(predicate);
        if (found) return resolve(found);
        waiters.push({ predicate, resolve });
      }),
    waitForReady: (count = readies + 1) =>
      new Promise((resolve) => {
        if (readies >= count) return resolve();
        readyWaiters.push({ count, resolve });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function loadWs(): typeof import('ws') {
  try {
    return require('ws') as typeof import('ws');
  } catch {
    throw new Error('startFakeDiscord needs the "ws" package: run `npm install --save-dev ws`.');
  }
}
