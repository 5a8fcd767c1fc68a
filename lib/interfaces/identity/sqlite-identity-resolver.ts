import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../../agent/sessions/open-sqlite';
import { defaultUserId, IdentityResolver, LINK_CODE_TTL_MS, newLinkCode, PlatformIdentity } from './identity-resolver';

/** Options of {@link SqliteIdentityResolver}. */
export interface SqliteIdentityResolverOptions {
  /** The database file (created if missing), or `':memory:'`. It may be the session store's file. */
  path: string;
}

/**
 * A persistent {@link IdentityResolver} on `better-sqlite3` (WAL mode): links
 * and pending link codes survive restarts and can be shared by processes.
 */
export class SqliteIdentityResolver implements IdentityResolver {
  private readonly db: BetterSqlite3.Database;

  constructor(options: SqliteIdentityResolverOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError("SqliteIdentityResolver needs a file path, e.g. new SqliteIdentityResolver({ path: './identity.db' }).");
    }
    this.db = openSqlite(options.path, 'SqliteIdentityResolver');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS definable_identities (
        platform TEXT NOT NULL,
        platform_user_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (platform, platform_user_id)
      );
      CREATE INDEX IF NOT EXISTS definable_identities_user ON definable_identities(user_id);
      CREATE TABLE IF NOT EXISTS definable_link_codes (
        code TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `);
  }

  async resolve(platform: string, platformUserId: string): Promise<string> {
    const row = this.db
      .prepare('SELECT user_id FROM definable_identities WHERE platform = ? AND platform_user_id = ?')
      .get(platform, platformUserId) as { user_id: string } | undefined;
    return row?.user_id ?? defaultUserId(platform, platformUserId);
  }

  async link(platform: string, platformUserId: string, canonicalUserId: string): Promise<void> {
    this.db
      .prepare('INSERT INTO definable_identities (platform, platform_user_id, user_id) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET user_id = excluded.user_id')
      .run(platform, platformUserId, canonicalUserId);
  }

  async unlink(platform: string, platformUserId: string): Promise<void> {
    this.db.prepare('DELETE FROM definable_identities WHERE platform = ? AND platform_user_id = ?').run(platform, platformUserId);
  }

  async getIdentities(canonicalUserId: string): Promise<PlatformIdentity[]> {
    const rows = this.db
      .prepare('SELECT platform, platform_user_id FROM definable_identities WHERE user_id = ? ORDER BY platform')
      .all(canonicalUserId) as { platform: string; platform_user_id: string }[];
    return rows.map((row) => ({ platform: row.platform, platformUserId: row.platform_user_id }));
  }

  async createLinkCode(canonicalUserId: string, ttlMs = LINK_CODE_TTL_MS): Promise<string> {
    const now = Date.now();
    this.db.prepare('DELETE FROM definable_link_codes WHERE expires_at <= ?').run(now);
    const code = newLinkCode(randomBytes);
    this.db.prepare('INSERT INTO definable_link_codes (code, user_id, expires_at) VALUES (?, ?, ?)').run(code, canonicalUserId, now + ttlMs);
    return code;
  }

  async redeemLinkCode(code: string): Promise<string | null> {
    // Single use: the row is deleted as it is read, in one transaction.
    const redeem = this.db.transaction((value: string) => {
      const row = this.db.prepare('SELECT user_id, expires_at FROM definable_link_codes WHERE code = ?').get(value) as
        | { user_id: string; expires_at: number }
        | undefined;
      if (!row) return null;
      this.db.prepare('DELETE FROM definable_link_codes WHERE code = ?').run(value);
      return row.expires_at > Date.now() ? row.user_id : null;
    });
    return redeem(code.trim().toUpperCase());
  }

  /** Closes the database. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
