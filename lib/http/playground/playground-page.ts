import { createHash } from 'node:crypto';

/** Options of {@link playgroundPage}. */
export interface PlaygroundPageOptions {
  /**
   * Prefix of the module's routes the page calls (`{basePath}/run`,
   * `{basePath}/health`): the module's `server.prefix`, e.g. `'/agent'`.
   * Default `''`.
   */
  basePath?: string;
  /**
   * The path the page itself is served at (default `'/playground'`). The page
   * uses it to find a global prefix (`app.setGlobalPrefix()`) in its own URL
   * and calls the routes under that prefix too.
   */
  path?: string;
}

/** The playground document and the Content-Security-Policy that lets exactly its inline script and style run. */
export interface PlaygroundPage {
  /** One self-contained HTML document: inline CSS and vanilla JS, no external request. */
  html: string;
  /**
   * The `content-security-policy` header to serve it with: nothing allowed
   * but the page's own inline script and style (by their SHA-256 hashes) and
   * `fetch` calls to its own origin.
   */
  contentSecurityPolicy: string;
}

/**
 * Normalises a route path for the playground: a leading `/`, no trailing
 * one, `''` for the root. Throws on anything but a plain path.
 *
 * @internal
 */
export function normalizePlaygroundPath(path: string, what: string): string {
  if (typeof path !== 'string' || !/^[A-Za-z0-9._~/-]*$/.test(path)) {
    throw new TypeError(`The playground's ${what} ${JSON.stringify(path)} must be a plain path such as "/playground" (letters, digits, "-", "_", ".", "~", "/").`);
  }
  const trimmed = path.replace(/\/+$/, '').replace(/^\/*/, '');
  return trimmed === '' ? '' : `/${trimmed}`;
}

/**
 * The playground: a page to talk to the module's agents from a browser —
 * an API key field (kept in the tab's `sessionStorage`), an agent picker
 * (from `GET /health`), the session (kept per agent in `localStorage`, so a
 * reload continues it, with a local copy of its messages), the streamed
 * answer (`POST /run` with `"stream": true`, read as Server-Sent Events) and
 * an events panel (tool calls with their arguments and results, reasoning,
 * memories, knowledge references, the run's metrics, errors).
 *
 * Every text from the server or the user is inserted as text, never as
 * markup. The page holds no secret: the calls it makes carry the key typed
 * into it.
 */
export function playgroundPage(options: PlaygroundPageOptions = {}): PlaygroundPage {
  const config = {
    basePath: normalizePlaygroundPath(options.basePath ?? '', 'basePath'),
    path: normalizePlaygroundPath(options.path ?? '/playground', 'path'),
  };
  // The JSON lands inside a <script>: "<" escaped so no "</script>" or "<!--" can end it early.
  const json = JSON.stringify(config).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const script = `const CONFIG = ${json};\n${CLIENT_SCRIPT}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>Playground · nestjs-definable</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-state="loading">
<header class="bar">
  <h1>Playground</h1>
  <label class="field">API key
    <input id="api-key" data-testid="api-key" type="password" autocomplete="off" spellcheck="false" placeholder="Bearer token (kept in this tab only)">
  </label>
  <label class="field">Agent
    <select id="agent" data-testid="agent-select"></select>
  </label>
  <span id="server" data-testid="server-status" class="muted">connecting…</span>
</header>
<div class="session">
  <span>Session <code id="session" data-testid="session-id"></code></span>
  <button id="new-session" data-testid="new-session" type="button">New session</button>
</div>
<div id="error" data-testid="error" class="error" role="alert" hidden></div>
<main>
  <section class="chat">
    <div id="messages" data-testid="messages" class="messages" aria-live="polite"></div>
    <form id="composer" class="composer">
      <textarea id="input" data-testid="input" rows="3" placeholder="Message… (Enter to send, Shift+Enter for a new line)"></textarea>
      <div class="actions">
        <button id="send" data-testid="send" type="submit">Send</button>
        <button id="stop" data-testid="stop" type="button" hidden>Stop</button>
      </div>
    </form>
  </section>
  <aside class="side">
    <h2>Events</h2>
    <ol id="events" data-testid="events" class="events"></ol>
  </aside>
</main>
<script>${script}</script>
</body>
</html>
`;
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src '${sha256(script)}'`,
    `style-src '${sha256(STYLE)}'`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, contentSecurityPolicy };
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --panel: #fff; --line: #d9dde3; --text: #1c2026; --muted: #6b7280;
  --accent: #2563eb; --user: #e8f0fe; --assistant: #fff; --error: #b42318; --error-bg: #fef3f2; --code: #f1f3f5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --panel: #1a1e24; --line: #2d333b; --text: #e6e8eb; --muted: #9aa3ad; --accent: #6ea8fe;
    --user: #1e2a3d; --assistant: #1a1e24; --error: #ff8a80; --error-bg: #3a1d1b; --code: #232830; }
}
* { box-sizing: border-box; }
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 16px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; }
code, pre, textarea, input, select { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
input, select, textarea, button { font-size: 13px; color: var(--text); background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
input, select { padding: 5px 8px; }
button { padding: 6px 14px; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
button[type=submit] { background: var(--accent); border-color: var(--accent); color: #fff; }
[hidden] { display: none !important; }
.bar { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; padding: 10px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
.field { display: flex; align-items: center; gap: 6px; color: var(--muted); }
.field input { width: 260px; }
.muted { color: var(--muted); }
.session { display: flex; align-items: center; gap: 10px; padding: 6px 16px; color: var(--muted); }
.session code { color: var(--text); }
.error { margin: 0 16px 8px; padding: 8px 12px; border: 1px solid var(--error); border-radius: 6px; background: var(--error-bg); color: var(--error); white-space: pre-wrap; }
main { flex: 1; display: flex; gap: 12px; padding: 0 16px 16px; min-height: 0; }
.chat { flex: 3; display: flex; flex-direction: column; min-width: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; }
.msg { max-width: 85%; padding: 8px 12px; border-radius: 10px; border: 1px solid var(--line); white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--user); }
.msg.assistant { align-self: flex-start; background: var(--assistant); }
.msg.assistant.streaming .body::after { content: "▍"; color: var(--muted); }
.msg.error { align-self: flex-start; background: var(--error-bg); color: var(--error); border-color: var(--error); }
.msg .metrics { margin-top: 6px; font-size: 12px; color: var(--muted); white-space: normal; }
.msg .run-error { margin-top: 6px; color: var(--error); }
.composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--line); }
.composer textarea { flex: 1; resize: vertical; padding: 8px; }
.actions { display: flex; flex-direction: column; gap: 6px; }
.side { flex: 2; min-width: 0; overflow-y: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
.events { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
.ev { border-left: 3px solid var(--line); padding: 2px 8px; }
.ev-title { font-weight: 600; }
.ev-title .name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.ev-label { font-size: 11px; text-transform: uppercase; color: var(--muted); margin-top: 4px; }
.ev pre { margin: 2px 0 0; padding: 6px 8px; background: var(--code); border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 240px; overflow-y: auto; font-size: 12px; }
.ev.tool { border-left-color: var(--accent); }
.ev.failed { border-left-color: var(--error); }
.ev.failed .ev-title { color: var(--error); }
.ev.done { border-left-color: #16a34a; }
.ev.waiting { border-left-color: #d97706; }
.approval { display: flex; gap: 8px; align-items: center; margin-top: 6px; flex-wrap: wrap; }
.approval-note { font-size: 12px; color: var(--muted); }
.paused { margin-top: 6px; font-size: 12px; color: #b45309; }
@media (max-width: 800px) { main { flex-direction: column; } .side { max-height: 40vh; } }
`;

/*
 * The page's script, kept verbatim (String.raw: its backslashes stay escapes for the browser).
 * Rules it keeps: text only through textContent / Text nodes; storage access may throw (private
 * modes), so it goes through store(); no backtick or "${" inside (it sits in a template).
 */
const CLIENT_SCRIPT = String.raw`'use strict';
(() => {
  const MAX_HISTORY = 200;
  const MAX_SESSIONS = 30;
  const MAX_SHOWN = 4000;

  const here = location.pathname.replace(/\/+$/, '');
  const root = CONFIG.path && here.endsWith(CONFIG.path) ? here.slice(0, here.length - CONFIG.path.length) : CONFIG.path ? '' : here;
  const API = root + CONFIG.basePath;
  const NS = 'definable-playground:' + API + ':';

  const $ = (id) => document.getElementById(id);
  const keyInput = $('api-key'), agentSelect = $('agent'), serverStatus = $('server'), sessionLabel = $('session');
  const newSessionButton = $('new-session'), errorBox = $('error'), messages = $('messages'), composer = $('composer');
  const inputBox = $('input'), sendButton = $('send'), stopButton = $('stop'), eventsList = $('events');

  const store = {
    get(storage, key) { try { return storage.getItem(NS + key); } catch (e) { return null; } },
    set(storage, key, value) {
      try { if (value === null || value === undefined) storage.removeItem(NS + key); else storage.setItem(NS + key, value); } catch (e) { /* full or unavailable */ }
    },
  };

  let agent = null;
  let sessionId = null;
  let running = null;

  function el(tag, className, text, testid) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (testid) node.setAttribute('data-testid', testid);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function pretty(value) {
    if (typeof value === 'string') {
      try { value = JSON.parse(value); } catch (e) { return clip(value); }
    }
    try { return clip(JSON.stringify(value, null, 2)); } catch (e) { return clip(String(value)); }
  }
  function clip(text) { text = String(text); return text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + '… (' + text.length + ' characters)' : text; }
  function showError(message) { errorBox.textContent = message; errorBox.hidden = false; }
  function clearError() { errorBox.textContent = ''; errorBox.hidden = true; }
  function scrollDown(node) { node.scrollTop = node.scrollHeight; }
  function setState(state) { document.body.setAttribute('data-state', state); }

  // ---- session and its local copy of the conversation ----
  function sessionKey() { return 'session:' + (agent || ''); }
  function setSession(id) {
    sessionId = id || null;
    store.set(localStorage, sessionKey(), sessionId);
    sessionLabel.textContent = sessionId || 'new (starts with your next message)';
  }
  function loadHistory(id) {
    try { const list = JSON.parse(store.get(localStorage, 'history:' + id) || '[]'); return Array.isArray(list) ? list : []; } catch (e) { return []; }
  }
  function remember(id, entry) {
    if (!id) return;
    const list = loadHistory(id);
    list.push(entry);
    store.set(localStorage, 'history:' + id, JSON.stringify(list.slice(-MAX_HISTORY)));
    let sessions = [];
    try { sessions = JSON.parse(store.get(localStorage, 'sessions') || '[]'); } catch (e) { sessions = []; }
    if (!Array.isArray(sessions)) sessions = [];
    sessions = sessions.filter((s) => s !== id);
    sessions.push(id);
    while (sessions.length > MAX_SESSIONS) store.set(localStorage, 'history:' + sessions.shift(), null);
    store.set(localStorage, 'sessions', JSON.stringify(sessions));
  }
  function renderHistory() {
    messages.replaceChildren();
    eventsList.replaceChildren();
    if (!sessionId) return;
    for (const entry of loadHistory(sessionId)) {
      if (!entry || typeof entry.content !== 'string') continue;
      const message = addMessage(entry.role === 'user' || entry.role === 'assistant' ? entry.role : 'error', entry.content);
      if (entry.metrics) message.bubble.appendChild(el('div', 'metrics', entry.metrics, 'metrics'));
      if (entry.error) message.bubble.appendChild(el('div', 'run-error', entry.error, 'run-error'));
    }
    scrollDown(messages);
  }

  // ---- chat area ----
  function addMessage(role, text) {
    const bubble = el('div', 'msg ' + role, null, 'message-' + role);
    bubble.setAttribute('data-role', role);
    const body = el('div', 'body', text || '', role === 'assistant' ? 'assistant-text' : null);
    bubble.appendChild(body);
    messages.appendChild(bubble);
    scrollDown(messages);
    return { bubble, body };
  }

  // ---- events panel ----
  function addEvent(name, title, className) {
    const item = el('li', 'ev' + (className ? ' ' + className : ''), null, 'event');
    item.setAttribute('data-event', name);
    const heading = el('div', 'ev-title');
    if (Array.isArray(title)) {
      heading.append(title[0]);
      heading.appendChild(el('span', 'name', title[1]));
    } else {
      heading.textContent = title;
    }
    item.appendChild(heading);
    eventsList.appendChild(item);
    scrollDown(eventsList.parentElement);
    return item;
  }
  function addDetail(item, label, text, testid) {
    if (label) item.appendChild(el('div', 'ev-label', label));
    const pre = el('pre', null, text, testid);
    item.appendChild(pre);
    scrollDown(eventsList.parentElement);
    return pre;
  }
  function seconds(value) {
    if (typeof value !== 'number') return 'n/a';
    return value < 1 ? Math.round(value * 1000) + ' ms' : (value < 10 ? value.toFixed(2) : value.toFixed(1)) + ' s';
  }
  function count(value) { return typeof value === 'number' ? String(value) : '?'; }
  function money(value) { return typeof value === 'number' ? '$' + (value !== 0 && value < 0.01 ? value.toPrecision(3) : value.toFixed(4)) : 'n/a'; }
  function metricLines(m) {
    if (!m || typeof m !== 'object') return [];
    return [
      'tokens ' + count(m.input_tokens) + ' in / ' + count(m.output_tokens) + ' out / ' + count(m.total_tokens) + ' total' +
        (typeof m.reasoning_tokens === 'number' ? ' (' + m.reasoning_tokens + ' reasoning)' : ''),
      'cost ' + money(m.cost),
      'duration ' + seconds(m.duration),
      'time to first token ' + seconds(m.time_to_first_token),
    ];
  }

  function toolItem(run, data) {
    const id = String(data.tool_call_id || data.tool_name || '?');
    let item = run.tools.get(id);
    if (!item) {
      item = addEvent('ToolCall', ['Tool call ', String(data.tool_name || '?')], 'tool');
      item.setAttribute('data-testid', 'tool-call');
      item.setAttribute('data-tool-name', String(data.tool_name || ''));
      item.querySelector('.name').setAttribute('data-testid', 'tool-name');
      run.tools.set(id, item);
    }
    return item;
  }

  // ---- one run event ----
  function handle(run, name, data, id) {
    data = data && typeof data === 'object' ? data : {};
    if (typeof id === 'number') run.lastSeq = id;
    switch (name) {
      case 'RunStarted': {
        run.runId = data.run_id;
        if (data.session_id && data.session_id !== sessionId) setSession(data.session_id);
        run.sessionId = data.session_id || sessionId;
        remember(run.sessionId, { role: 'user', content: run.input });
        const item = addEvent(name, 'Run started');
        addDetail(item, null, 'run ' + (data.run_id || '?') + '\nagent ' + (data.agent_name || '?') + ' · model ' + (data.model || '?') +
          (data.user_id ? '\nuser ' + data.user_id : ''));
        return;
      }
      case 'RunContent': {
        if (typeof data.content !== 'string') return;
        run.text += data.content;
        run.assistant.body.append(data.content);
        run.deltas += 1;
        if (!run.contentItem) run.contentItem = addEvent(name, 'Streaming the answer');
        run.contentItem.firstChild.textContent = 'Streamed ' + run.deltas + ' content delta' + (run.deltas === 1 ? '' : 's') + ' (' + run.text.length + ' characters)';
        scrollDown(messages);
        return;
      }
      case 'RunContentCompleted':
        return;
      case 'ReasoningStep': {
        if (typeof data.content !== 'string') return;
        if (!run.reasoning) run.reasoning = addDetail(addEvent(name, 'Reasoning'), null, '', 'reasoning');
        run.reasoning.append(data.content);
        return;
      }
      case 'ToolCallStarted': {
        const item = toolItem(run, data);
        // An approved call showed its arguments with its approval already.
        if (!item.querySelector('[data-testid="tool-args"]')) addDetail(item, 'arguments', pretty(data.args), 'tool-args');
        return;
      }
      case 'ToolCallCompleted': {
        const item = toolItem(run, data);
        item.classList.add('done');
        addDetail(item, 'result', pretty(data.result), 'tool-result');
        return;
      }
      case 'ToolCallError': {
        const item = toolItem(run, data);
        item.classList.add('failed');
        addDetail(item, 'error', clip(data.error), 'tool-error');
        return;
      }
      case 'ToolApprovalRequested': {
        const item = toolItem(run, data);
        item.classList.add('waiting');
        addDetail(item, 'arguments', pretty(data.args), 'tool-args');
        const bar = el('div', 'approval', null, 'approval');
        const note = el('span', 'approval-note', 'Waiting for your approval (' + String(data.approval_id || '?') + ')', 'approval-note');
        const approve = el('button', null, 'Approve', 'approve');
        const reject = el('button', null, 'Reject', 'reject');
        approve.type = 'button';
        reject.type = 'button';
        approve.addEventListener('click', () => decide(run, data.approval_id, true, [approve, reject], note, item));
        reject.addEventListener('click', () => decide(run, data.approval_id, false, [approve, reject], note, item));
        bar.append(note, approve, reject);
        item.appendChild(bar);
        return;
      }
      case 'RunPaused': {
        run.terminal = true;
        run.paused = true;
        run.runId = data.run_id || run.runId;
        if (typeof run.lastSeq !== 'number') run.lastSeq = 0;
        const waiting = Array.isArray(data.pending_approvals) ? data.pending_approvals.length : 0;
        addEvent(name, 'Run paused: ' + waiting + ' tool call' + (waiting === 1 ? '' : 's') + ' waiting for a decision', 'waiting');
        run.assistant.bubble.appendChild(el('div', 'paused', 'Waiting for your approval of a tool call.', 'paused'));
        remember(run.sessionId, { role: 'assistant', content: run.text });
        return;
      }
      case 'RunContinued':
        addEvent(name, 'Run continued');
        return;
      case 'MemoryRecallStarted':
        addEvent(name, 'Recalling the memories of ' + (data.user_id || 'the user'));
        return;
      case 'MemoryRecallCompleted': {
        const memories = Array.isArray(data.memories) ? data.memories : [];
        const item = addEvent(name, 'Recalled ' + memories.length + ' memor' + (memories.length === 1 ? 'y' : 'ies'));
        if (memories.length) addDetail(item, null, clip(memories.map((m) => '• ' + (m && m.text)).join('\n')), 'memories');
        return;
      }
      case 'MemoryUpdateStarted':
        addEvent(name, 'Updating memories');
        return;
      case 'MemoryUpdateCompleted': {
        const changes = Array.isArray(data.changes) ? data.changes : [];
        const item = addEvent(name, data.error ? 'Memory update failed' : 'Memory updated (' + changes.length + ' change' + (changes.length === 1 ? '' : 's') + ')', data.error ? 'failed' : null);
        if (changes.length) addDetail(item, null, clip(changes.map((c) => (c && c.op) + ' ' + (c && c.id) + (c && c.text ? ': ' + c.text : '')).join('\n')));
        if (data.error) addDetail(item, 'error', clip(data.error));
        return;
      }
      case 'KnowledgeRetrievalStarted':
        addDetail(addEvent(name, 'Searching knowledge'), null, clip(data.query || ''));
        return;
      case 'KnowledgeRetrievalCompleted': {
        const refs = Array.isArray(data.references) ? data.references : [];
        const item = addEvent(name, 'Found ' + refs.length + ' reference' + (refs.length === 1 ? '' : 's'));
        if (refs.length) {
          addDetail(item, null, clip(refs.map((r) => '[' + (typeof r.score === 'number' ? r.score.toFixed(3) : '?') + '] ' +
            (r.source || r.id || '') + '\n' + String(r.text || '').slice(0, 300)).join('\n\n')), 'references');
        }
        return;
      }
      case 'FileReadStarted':
        addEvent(name, 'Reading ' + (data.name || 'a file') + (data.type ? ' (' + data.type + ')' : ''));
        return;
      case 'FileReadCompleted':
        addEvent(name, 'Read ' + (data.name || 'a file') + ': ' + count(data.characters) + ' characters');
        return;
      case 'RunCompleted': {
        run.terminal = true;
        const output = data.output || {};
        if (!run.text && output.content !== undefined && output.content !== null) {
          run.text = typeof output.content === 'string' ? output.content : pretty(output.content);
          run.assistant.body.textContent = run.text;
        }
        const lines = metricLines(output.metrics);
        const metrics = lines.join(' · ');
        if (metrics) run.assistant.bubble.appendChild(el('div', 'metrics', metrics, 'metrics'));
        const item = addEvent(name, 'Run completed', 'done');
        if (metrics) addDetail(item, 'metrics', lines.join('\n'), 'run-metrics');
        remember(run.sessionId, { role: 'assistant', content: run.text, metrics });
        return;
      }
      case 'RunError':
      case 'RunCancelled': {
        run.terminal = true;
        const error = name === 'RunError'
          ? 'The run failed' + (data.error && data.error.code ? ' (' + data.error.code + ')' : '') + ': ' + ((data.error && data.error.message) || 'unknown error') +
            (data.error && data.error.request_id ? ' [request ' + data.error.request_id + ']' : '')
          : 'The run was cancelled' + (data.reason ? ': ' + data.reason : '.');
        run.assistant.bubble.appendChild(el('div', 'run-error', error, 'run-error'));
        addDetail(addEvent(name, name === 'RunError' ? 'Run failed' : 'Run cancelled', 'failed'), null, error);
        showError(error);
        remember(run.sessionId, { role: 'assistant', content: run.text, error });
        return;
      }
      default:
        addDetail(addEvent(name, name), null, pretty(data));
    }
  }

  // ---- a decision on a tool call the run paused for, then the run as it goes on ----
  async function decide(run, approvalId, approve, buttons, note, item) {
    for (const button of buttons) button.disabled = true;
    clearError();
    const token = keyInput.value.trim();
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    const url = API + '/runs/' + encodeURIComponent(run.runId) + '/approvals/' + encodeURIComponent(approvalId);
    try {
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ approve }), cache: 'no-store' });
      if (!response.ok) {
        for (const button of buttons) button.disabled = false;
        showError(await httpError(response, 'POST ' + url));
        return;
      }
      const decided = await response.json();
      item.classList.remove('waiting');
      note.textContent = approve ? 'Approved' : 'Rejected';
      note.setAttribute('data-decision', approve ? 'approved' : 'rejected');
      for (const button of buttons) button.remove();
      if (decided && decided.continued) await follow(run);
    } catch (error) {
      for (const button of buttons) button.disabled = false;
      showError('Could not reach ' + url + ': ' + ((error && error.message) || error) + '.');
    }
  }

  /** Follows a run that went on after its pause: its events after the last one shown. */
  async function follow(run) {
    if (running) return;
    const controller = new AbortController();
    setRunning(controller);
    run.terminal = false;
    run.paused = false;
    run.assistant.bubble.classList.add('streaming');
    const paused = run.assistant.bubble.querySelector('.paused');
    if (paused) paused.remove();
    const token = keyInput.value.trim();
    const headers = { accept: 'text/event-stream', 'last-event-id': String(run.lastSeq || 0) };
    if (token) headers.authorization = 'Bearer ' + token;
    try {
      const response = await fetch(API + '/runs/' + encodeURIComponent(run.runId) + '/events', { headers, signal: controller.signal, cache: 'no-store' });
      if (!response.ok) {
        showError(await httpError(response, 'GET ' + API + '/runs/' + run.runId + '/events'));
        return;
      }
      await readEvents(response, (name, data, id) => handle(run, name, data, id));
    } catch (error) {
      if (!controller.signal.aborted) showError('Could not follow the run: ' + ((error && error.message) || error) + '.');
    } finally {
      run.assistant.bubble.classList.remove('streaming');
      setRunning(null);
    }
  }

  // ---- Server-Sent Events over a fetch body (a POST: EventSource cannot send it) ----
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let frame = { event: '', data: [], id: undefined };
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        if (end < 0) break;
        // A "\r" closing the buffer may be the first half of a "\r\n" still on its way.
        if (buffer[end] === '\r' && end === buffer.length - 1 && !done) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
        if (line === '') {
          if (frame.data.length) {
            let data;
            try { data = JSON.parse(frame.data.join('\n')); } catch (e) { data = { unparsed: frame.data.join('\n') }; }
            onEvent(frame.event || 'message', data, frame.id);
          }
          frame = { event: '', data: [], id: undefined };
          continue;
        }
        if (line[0] === ':') continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text[0] === ' ') text = text.slice(1);
        if (field === 'data') frame.data.push(text);
        else if (field === 'event') frame.event = text;
        else if (field === 'id' && /^\d+$/.test(text)) frame.id = Number(text);
      }
      if (done) return;
    }
  }

  async function httpError(response, what) {
    let detail = '';
    try {
      const body = await response.json();
      const error = body && body.error;
      if (error && typeof error === 'object') detail = (error.code ? error.code + ': ' : '') + (error.message || '');
      else if (body && typeof body.message === 'string') detail = body.message;
    } catch (e) { /* not JSON */ }
    const hint = response.status === 401 ? ' Check the API key.' : '';
    return what + ' answered HTTP ' + response.status + (detail ? ' (' + detail + ')' : '') + '.' + hint;
  }

  function setRunning(controller) {
    running = controller;
    sendButton.disabled = !!controller;
    stopButton.hidden = !controller;
    setState(controller ? 'running' : 'ready');
  }

  async function send() {
    const input = inputBox.value;
    if (!input.trim() || running) return;
    const token = keyInput.value.trim();
    if (/[^\x21-\x7e]/.test(token)) {
      showError('The API key holds characters an HTTP header cannot carry (spaces or non-ASCII): paste the key alone.');
      return;
    }
    clearError();
    inputBox.value = '';
    eventsList.replaceChildren();
    addMessage('user', input);
    const run = { input, text: '', deltas: 0, terminal: false, tools: new Map(), sessionId, assistant: addMessage('assistant', '') };
    run.assistant.bubble.classList.add('streaming');
    const controller = new AbortController();
    setRunning(controller);
    const body = { input, stream: true };
    if (sessionId) body.session_id = sessionId;
    if (agent) body.agent = agent;
    const headers = { accept: 'text/event-stream', 'content-type': 'application/json' };
    if (token) headers.authorization = 'Bearer ' + token;
    const fail = (message) => {
      if (!run.text) {
        run.assistant.bubble.remove();
        addMessage('error', message);
      } else {
        run.assistant.bubble.appendChild(el('div', 'run-error', message, 'run-error'));
      }
      showError(message);
    };
    try {
      const response = await fetch(API + '/run', { method: 'POST', headers, body: JSON.stringify(body), signal: controller.signal, cache: 'no-store' });
      if (!response.ok) {
        fail(await httpError(response, 'POST ' + API + '/run'));
        return;
      }
      await readEvents(response, (name, data, id) => handle(run, name, data, id));
      if (!run.terminal) fail('The stream ended before the run did (connection lost?). Send again: the session goes on.');
    } catch (error) {
      if (controller.signal.aborted) {
        run.assistant.bubble.appendChild(el('div', 'run-error', 'Stopped.', 'run-error'));
        remember(run.sessionId || sessionId, { role: 'assistant', content: run.text, error: 'Stopped.' });
      } else {
        fail('Could not reach ' + API + '/run: ' + ((error && error.message) || error) + '.');
      }
    } finally {
      run.assistant.bubble.classList.remove('streaming');
      setRunning(null);
      inputBox.focus();
    }
  }

  async function loadAgents() {
    try {
      const response = await fetch(API + '/health', { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (!response.ok) throw new Error(await httpError(response, 'GET ' + API + '/health'));
      const health = await response.json();
      const names = Array.isArray(health.agents) && health.agents.length ? health.agents.map(String) : health.agent ? [String(health.agent)] : [];
      agentSelect.replaceChildren();
      for (const name of names) agentSelect.appendChild(el('option', null, name)).value = name;
      const saved = store.get(localStorage, 'agent');
      agent = names.includes(saved) ? saved : health.agent ? String(health.agent) : names[0] || null;
      if (agent) agentSelect.value = agent;
      serverStatus.textContent = (health.model ? 'default model ' + health.model : 'connected') + (health.status ? ' · ' + health.status : '');
    } catch (error) {
      agent = null;
      agentSelect.replaceChildren(el('option', null, '(default)'));
      serverStatus.textContent = 'not connected';
      showError((error && error.message) || 'Could not load the agents from GET ' + API + '/health.');
    }
    setSession(store.get(localStorage, sessionKey()));
    renderHistory();
  }

  keyInput.value = store.get(sessionStorage, 'token') || '';
  keyInput.addEventListener('input', () => store.set(sessionStorage, 'token', keyInput.value || null));
  agentSelect.addEventListener('change', () => {
    if (running) running.abort();
    agent = agentSelect.value || null;
    store.set(localStorage, 'agent', agent);
    setSession(store.get(localStorage, sessionKey()));
    renderHistory();
  });
  newSessionButton.addEventListener('click', () => {
    if (running) running.abort();
    setSession(null);
    clearError();
    renderHistory();
    inputBox.focus();
  });
  composer.addEventListener('submit', (event) => { event.preventDefault(); send(); });
  inputBox.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  });
  stopButton.addEventListener('click', () => { if (running) running.abort(); });

  sessionLabel.textContent = '…';
  loadAgents().then(() => { if (!running) setState('ready'); });
})();
`;
