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
  /** What a message POST or PATCH answered (the message object, with its `id`). */
  result?: any;
}

/** An attachment of a fake Discord message. */
export interface FakeDiscordAttachment {
  filename: string;
  url: string;
  contentType: string;
  size: number;
}

/** A message the bot sent, as it stands now (edits and interaction updates applied). */
export interface FakeDiscordMessage {
  id: string;
  channelId: string;
  content: string;
  /** Its action rows (`[]` when it has none, or once they were removed). */
  components: any[];
  /** Whether it was edited (a PATCH, or an interaction's UPDATE_MESSAGE). */
  edited: boolean;
}

/** The answer to an interaction (`POST /interactions/:id/:token/callback`). */
export interface FakeDiscordInteractionResponse {
  /** 4 CHANNEL_MESSAGE_WITH_SOURCE, 6 DEFERRED_UPDATE_MESSAGE, 7 UPDATE_MESSAGE, … */
  type: number;
  data?: any;
  /** Whether a type-4 reply was ephemeral (`flags` 64: only the presser sees it). */
  ephemeral: boolean;
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
  /** A message the bot sent, as it stands now; `undefined` for an unknown one. */
  message(channelId: string, messageId: string): FakeDiscordMessage | undefined;
  /**
   * Presses the button labelled `label` on a message the bot sent: dispatches
   * `INTERACTION_CREATE` (type 3 MESSAGE_COMPONENT, `component_type` 2) for
   * `userId` — as a guild member in the guild channel, as a user in a DM.
   * Returns the interaction's id. Throws when the message has no such button.
   */
  pressButton(press: { channelId: string; messageId: string; userId: string; label: string; username?: string }): string;
  /** Resolves with the answer to an interaction (past or future). */
  waitForInteractionResponse(interactionId: string): Promise<FakeDiscordInteractionResponse>;
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
 * guild messages and DMs, `POST /channels/:id/messages` (messages kept with
 * their `components`), `PATCH` edits (as Discord: omitted fields are kept, so
 * removing buttons takes `components: []`; 404 for an unknown message),
 * `POST /channels/:id/typing`, `POST /users/@me/channels` (DM channels), button
 * presses (`INTERACTION_CREATE`) answered through
 * `POST /interactions/:id/:token/callback` (no bot token, as on Discord; type 7
 * UPDATE_MESSAGE applies to the message, a second answer is refused with 400
 * code 40060), and close codes on demand. Needs the `ws` package.
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
  /** The bot's messages by id. */
  const messages = new Map<string, FakeDiscordMessage>();
  /** Interactions dispatched, by id: their token, message, and answer once given. */
  const interactions = new Map<string, { token: string; messageId: string; response?: FakeDiscordInteractionResponse }>();
  const responseWaiters: { interactionId: string; resolve: (response: FakeDiscordInteractionResponse) => void }[] = [];
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
    let match = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path);
    // Interaction callbacks are authorised by the interaction's token, not the bot's (discord.js sends none).
    if (match && req.method === 'POST') return interactionCallback(res, match[1], match[2], body, url.searchParams.get('with_response') === 'true');
    if (options.token && req.headers.authorization !== `Bot ${options.token}`) return json(res, 401, { message: '401: Unauthorized', code: 0 });
    if (path === '/gateway/bot') {
      const port = (server.address() as AddressInfo).port;
      return json(res, 200, { url: `ws://127.0.0.1:${port}/gateway`, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } });
    }
    if (path === '/users/@me/channels' && req.method === 'POST') {
      return json(res, 200, { id: dmChannel(String(body?.recipient_id)), type: 1, recipients: [{ id: String(body?.recipient_id), username: 'user', discriminator: '0' }] });
    }
    match = /^\/channels\/(\d+)$/.exec(path);
    if (match && req.method === 'GET') {
      const dmUser = [...dmChannels.entries()].find(([, channel]) => channel === match![1])?.[0];
      if (dmUser) return json(res, 200, { id: match[1], type: 1, recipients: [{ id: dmUser, username: 'user', discriminator: '0' }] });
      return json(res, 200, { id: match[1], type: 0, guild_id: guild.id, name: 'general', position: 0, permission_overwrites: [] });
    }
    match = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (match && req.method === 'POST') {
      const sent: FakeDiscordMessage = { id: snowflake(), channelId: match[1], content: body?.content ?? '', components: body?.components ?? [], edited: false };
      messages.set(sent.id, sent);
      return json(res, 200, (call.result = botMessageObject(sent)));
    }
    match = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path);
    if (match && req.method === 'PATCH') {
      const current = messages.get(match[2]);
      if (!current || current.channelId !== match[1]) return json(res, 404, { message: 'Unknown Message', code: 10008 });
      applyEdit(current, body);
      return json(res, 200, (call.result = botMessageObject(current)));
    }
    if (/^\/channels\/\d+\/typing$/.test(path)) return void res.writeHead(204).end();
    if (path === '/users/@me') return json(res, 200, { id: bot.id, username: bot.username, discriminator: '0', bot: true });
    return json(res, 404, { message: `404: Not Found (${req.method} ${path})`, code: 0 });
  }

  /** An edit as Discord applies it: the fields given replace theirs, omitted ones are kept. */
  function applyEdit(message: FakeDiscordMessage, edit: any): void {
    if (edit && 'content' in edit) message.content = edit.content ?? '';
    if (edit && 'components' in edit) message.components = edit.components ?? [];
    message.edited = true;
  }

  function interactionCallback(res: ServerResponse, id: string, token: string, body: any, withResponse: boolean): void {
    const interaction = interactions.get(id);
    if (!interaction || interaction.token !== token) return json(res, 404, { message: 'Unknown interaction', code: 10062 });
    if (interaction.response) return json(res, 400, { message: 'Interaction has already been acknowledged.', code: 40060 });
    const type = Number(body?.type);
    if (![4, 5, 6, 7].includes(type)) return json(res, 400, { message: 'Invalid Form Body', code: 50035 });
    const response: FakeDiscordInteractionResponse = { type, ...(body?.data !== undefined ? { data: body.data } : {}), ephemeral: type === 4 && (Number(body?.data?.flags ?? 0) & 64) === 64 };
    interaction.response = response;
    const message = messages.get(interaction.messageId)!;
    if (type === 7) applyEdit(message, body?.data);
    for (const waiter of [...responseWaiters]) {
      if (waiter.interactionId === id) {
        responseWaiters.splice(responseWaiters.indexOf(waiter), 1);
        waiter.resolve(response);
      }
    }
    if (!withResponse) return void res.writeHead(204).end();
    return json(res, 200, { interaction: { id, type: 3, response_message_loading: false, response_message_ephemeral: response.ephemeral }, resource: { type, ...(type === 7 ? { message: botMessageObject(message) } : {}) } });
  }

  function botMessageObject(message: FakeDiscordMessage) {
    return {
      ...messageObject({ id: message.id, channelId: message.channelId, author: { id: bot.id, username: bot.username, bot: true }, content: message.content }),
      components: message.components,
      edited_timestamp: message.edited ? new Date().toISOString() : null,
    };
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
    message: (channelId, messageId) => {
      const found = messages.get(messageId);
      return found && found.channelId === channelId ? structuredClone(found) : undefined;
    },
    pressButton: ({ channelId, messageId, userId, label, username = 'member' }) => {
      const found = messages.get(messageId);
      const button = found?.channelId === channelId ? found.components.flatMap((row: any) => row.components ?? []).find((component: any) => component.type === 2 && component.label === label) : undefined;
      if (!found || !button) throw new Error(`Message ${messageId} in channel ${channelId} has no button "${label}".`);
      const id = snowflake();
      const token = `interaction-token-${id}`;
      interactions.set(id, { token, messageId });
      const user = { id: userId, username, discriminator: '0', global_name: null, avatar: null };
      const inGuild = channelId === guild.channelId;
      broadcast('INTERACTION_CREATE', {
        id,
        application_id: bot.id,
        type: 3,
        token,
        version: 1,
        data: { custom_id: button.custom_id, component_type: 2 },
        channel_id: channelId,
        channel: inGuild ? { id: channelId, type: 0, guild_id: guild.id, name: 'general' } : { id: channelId, type: 1, recipients: [user] },
        ...(inGuild
          ? { guild_id: guild.id, guild: { id: guild.id, locale: 'en-US', features: [] }, guild_locale: 'en-US', member: { user, roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, permissions: '1024', flags: 0 } }
          : { user }),
        message: botMessageObject(found),
        app_permissions: '1024',
        locale: 'en-US',
        entitlements: [],
        authorizing_integration_owners: inGuild ? { '0': guild.id } : { '1': userId },
        context: inGuild ? 0 : 1,
        attachment_size_limit: 10485760,
      });
      return id;
    },
    waitForInteractionResponse: (interactionId) =>
      new Promise((resolve) => {
        const answered = interactions.get(interactionId)?.response;
        if (answered) return resolve(structuredClone(answered));
        responseWaiters.push({ interactionId, resolve: (response) => resolve(structuredClone(response)) });
      }),
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
