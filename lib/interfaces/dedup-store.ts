import { trimOldest } from '../agent/bounded';
import { openSqlite } from '../agent/sessions/open-sqlite';
import type { InboundMessage } from './inbound-message';
import { parseMessage, serializeMessage } from './inbox-message';

/** A message in a chat inbox, received and not yet answered. */
export interface InboxEntry {
  key: string;
  message: InboundMessage;
}

/**
 * Remembers which platform messages were answered, so a message delivered
 * twice (Telegram re-delivers after a crash) is answered once — and, when it
 * implements `admit` and `pending`, is the **chat inbox**: a message is
 * recorded before its delivery is acknowledged to the platform, and one left
 * unanswered by a crash is answered after the restart.
 */
export interface DedupStore {
  /** Whether the message was already handled. */
  has(key: string): Promise<boolean>;
  /** Records a message as handled (answered); it leaves the inbox. */
  add(key: string): Promise<void>;
  /**
   * Records a message in `inbox` (the interface's name) before its delivery is
   * acknowledged; resolves `false`, recording nothing, if the key is known —
   * answered, or in an inbox already. Optional: without it the pipeline
   * checks {@link DedupStore.has}.
   */
  admit?(key: string, message: InboundMessage, inbox: string): Promise<boolean>;
  /** The messages of `inbox` admitted and not yet answered, in the order they came. */
  pending?(inbox: string): Promise<InboxEntry[]>;
  /**
   * Whether the message was answered (recorded by {@link DedupStore.add}) —
   * not merely admitted. On several replicas sharing the inbox, a message is
   * checked under its chat's lock before it is answered, so one another
   * replica answered meanwhile is not answered again. Optional: without it
   * that check is skipped.
   */
  answered?(key: string): Promise<boolean>;
}

/**
 * A bounded in-memory {@link DedupStore} and chat inbox (the oldest answered
 * keys are forgotten first). Nothing survives a restart: use
 * {@link SqliteDedupStore} for at-least-once answers across crashes.
 */
export class InMemoryDedupStore implements DedupStore {
  private readonly keys = new Set<string>();
  private readonly inboxes = new Map<string, Map<string, InboundMessage>>();
  private readonly inboxOf = new Map<string, string>();

  constructor(private readonly capacity = 10_000) {}

  async has(key: string): Promise<boolean> {
    return this.keys.has(key) || this.inboxOf.has(key);
  }

  async answered(key: string): Promise<boolean> {
    return this.keys.has(key);
  }

  async add(key: string): Promise<void> {
    const inbox = this.inboxOf.get(key);
    if (inbox !== undefined) {
      this.inboxOf.delete(key);
      this.inboxes.get(inbox)?.delete(key);
    }
    this.keys.add(key);
    trimOldest(this.keys, this.capacity);
  }

  async admit(key: string, message: InboundMessage, inbox: string): Promise<boolean> {
    if (await this.has(key)) return false;
    let entries = this.inboxes.get(inbox);
    if (!entries) this.inboxes.set(inbox, (entries = new Map()));
    entries.set(key, message);
    this.inboxOf.set(key, inbox);
    return true;
  }

  async pending(inbox: string): Promise<InboxEntry[]> {
    return [...(this.inboxes.get(inbox) ?? [])].map(([key, message]) => ({ key, message }));
  }
}

/** Options of {@link SqliteDedupStore}. */
export interface SqliteDedupStoreOptions {
  /** The database file (it may be the session store's), or `':memory:'`. */
  path: string;
  /** How long answered message ids are kept, in ms. Default 7 days. */
  retentionMs?: number;
}

/**
 * The durable chat inbox and {@link DedupStore} on `better-sqlite3`: a
 * message is written to the file before its delivery is acknowledged to the
 * platform, so one a crash left unanswered is answered after the restart, and
 * a re-delivery of an answered (or inboxed) message is still recognised.
 */
export class SqliteDedupStore implements DedupStore {
  private readonly db: import('better-sqlite3').Database;
  private readonly retentionMs: number;
  private added = 0;
  private readonly statements: Record<'seen' | 'inboxed' | 'markSeen' | 'leave' | 'enter' | 'pending' | 'expire', import('better-sqlite3').Statement>;
  private readonly admitTx: (key: string, message: string, inbox: string) => boolean;
  private readonly addTx: (key: string, now: number) => void;

  constructor(options: SqliteDedupStoreOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteDedupStore needs a file path, e.g. new SqliteDedupStore({ path: './agent.db' }).");
    }
    this.db = openSqlite(options.path, 'SqliteDedupStore');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS definable_seen_messages (key TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS definable_chat_inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        inbox TEXT NOT NULL,
        message TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS definable_chat_inbox_by_inbox ON definable_chat_inbox(inbox, seq);
    `);
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3600 * 1000;
    this.statements = {
      seen: this.db.prepare('SELECT 1 FROM definable_seen_messages WHERE key = ?'),
      inboxed: this.db.prepare('SELECT 1 FROM definable_chat_inbox WHERE key = ?'),
      markSeen: this.db.prepare('INSERT OR REPLACE INTO definable_seen_messages (key, seen_at) VALUES (?, ?)'),
      leave: this.db.prepare('DELETE FROM definable_chat_inbox WHERE key = ?'),
      enter: this.db.prepare('INSERT INTO definable_chat_inbox (key, inbox, message, received_at) VALUES (?, ?, ?, ?)'),
      pending: this.db.prepare('SELECT key, message FROM definable_chat_inbox WHERE inbox = ? ORDER BY seq'),
      expire: this.db.prepare('DELETE FROM definable_seen_messages WHERE seen_at < ?'),
    };
    this.admitTx = this.db.transaction((key: string, message: string, inbox: string) => {
      if (this.statements.seen.get(key) || this.statements.inboxed.get(key)) return false;
      this.statements.enter.run(key, inbox, message, Date.now());
      return true;
    });
    this.addTx = this.db.transaction((key: string, now: number) => {
      this.statements.markSeen.run(key, now);
      this.statements.leave.run(key);
    });
  }

  async has(key: string): Promise<boolean> {
    return this.statements.seen.get(key) !== undefined || this.statements.inboxed.get(key) !== undefined;
  }

  async answered(key: string): Promise<boolean> {
    return this.statements.seen.get(key) !== undefined;
  }

  async add(key: string): Promise<void> {
    const now = Date.now();
    this.addTx(key, now);
    if (++this.added % 1000 === 0) this.statements.expire.run(now - this.retentionMs);
  }

  async admit(key: string, message: InboundMessage, inbox: string): Promise<boolean> {
    return this.admitTx(key, serializeMessage(message), inbox);
  }

  async pending(inbox: string): Promise<InboxEntry[]> {
    return (this.statements.pending.all(inbox) as { key: string; message: string }[]).map((row) => ({ key: row.key, message: parseMessage(row.message) }));
  }

  /** Closes the database. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
