import { randomBytes } from 'node:crypto';
import { PG_NOW_MS, PostgresTables, type PostgresPool } from '../../agent/sessions/postgres-pool';
import { defaultUserId, IdentityResolver, LINK_CODE_TTL_MS, newLinkCode, PlatformIdentity } from './identity-resolver';

/**
 * Options of {@link PostgresIdentityResolver}: exactly one of `pool` and
 * `connectionString`.
 *
 * @example
 * ```ts
 * import { PostgresIdentityResolver, type PostgresIdentityResolverOptions } from 'nestjs-definable';
 *
 * const options: PostgresIdentityResolverOptions = { connectionString: 'postgres://app@db:5432/app', schema: 'definable' };
 * const identityResolver = new PostgresIdentityResolver(options);
 * ```
 */
export interface PostgresIdentityResolverOptions {
  /**
   * The app's `pg` `Pool` (any {@link PostgresPool}). The resolver borrows it:
   * {@link PostgresIdentityResolver.close} leaves it open.
   */
  pool?: PostgresPool;
  /** A connection string for a pool of the resolver's own, ended by {@link PostgresIdentityResolver.close}. */
  connectionString?: string;
  /** The schema of the resolver's tables, created if missing. Letters, digits and "_". Default `definable`. */
  schema?: string;
  /** Prefix of the table names (`<prefix>identities`, `<prefix>link_codes`), to share a schema. Default none. */
  tablePrefix?: string;
}

/** The longest name we give after the prefix. */
const LONGEST_NAME = 'identities_by_user';

/** Tries at a fresh code when a random one is taken already (one in a trillion). */
const CODE_ATTEMPTS = 5;

/**
 * A persistent {@link IdentityResolver} on PostgreSQL through `pg` (an
 * optional peer dependency: `npm install pg`), for apps on several replicas:
 * links and pending link codes are shared by every process on the database —
 * what {@link SqliteIdentityResolver} is for one host.
 *
 * A link code is single use across processes: redeeming is one
 * `DELETE ... RETURNING`, so of two replicas redeeming one code at once
 * exactly one gets the user. Expiry is on the database's clock, the same for
 * every replica. The tables are created on first use, idempotently, under an
 * advisory lock so replicas starting together do not collide.
 *
 * @example
 * ```ts
 * import { Pool } from 'pg';
 * import { DefinableModule, PostgresIdentityResolver } from 'nestjs-definable';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * const identityResolver = new PostgresIdentityResolver({ pool });
 * // DefinableModule.forRoot({ agent, interfaces, identityResolver })
 * ```
 */
export class PostgresIdentityResolver implements IdentityResolver {
  private readonly tables: PostgresTables;
  private readonly pool: PostgresPool;
  private readonly identities: string;
  private readonly codes: string;

  constructor(options: PostgresIdentityResolverOptions) {
    this.tables = new PostgresTables(
      options,
      'PostgresIdentityResolver',
      LONGEST_NAME,
      (t) => `
        CREATE TABLE IF NOT EXISTS ${t.table('identities')} (
          platform text NOT NULL,
          platform_user_id text NOT NULL,
          user_id text NOT NULL,
          PRIMARY KEY (platform, platform_user_id)
        );
        CREATE INDEX IF NOT EXISTS ${t.local('identities_by_user')} ON ${t.table('identities')} (user_id);
        CREATE TABLE IF NOT EXISTS ${t.table('link_codes')} (
          code text PRIMARY KEY,
          user_id text NOT NULL,
          expires_at bigint NOT NULL
        );
      `,
      'PostgreSQL identity resolver (PostgresIdentityResolver)',
    );
    this.pool = this.tables.pool;
    this.identities = this.tables.table('identities');
    this.codes = this.tables.table('link_codes');
  }

  async resolve(platform: string, platformUserId: string): Promise<string> {
    return this.tables.use(async () => {
      const { rows } = await this.pool.query(`SELECT user_id FROM ${this.identities} WHERE platform = $1 AND platform_user_id = $2`, [platform, platformUserId]);
      return (rows[0] as { user_id: string } | undefined)?.user_id ?? defaultUserId(platform, platformUserId);
    });
  }

  async link(platform: string, platformUserId: string, canonicalUserId: string): Promise<void> {
    await this.tables.use(() =>
      this.pool.query(
        `INSERT INTO ${this.identities} (platform, platform_user_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (platform, platform_user_id) DO UPDATE SET user_id = EXCLUDED.user_id`,
        [platform, platformUserId, canonicalUserId],
      ),
    );
  }

  async unlink(platform: string, platformUserId: string): Promise<void> {
    await this.tables.use(() => this.pool.query(`DELETE FROM ${this.identities} WHERE platform = $1 AND platform_user_id = $2`, [platform, platformUserId]));
  }

  async getIdentities(canonicalUserId: string): Promise<PlatformIdentity[]> {
    return this.tables.use(async () => {
      // Byte order, as SQLite sorts, whatever the database's collation.
      const { rows } = await this.pool.query(
        `SELECT platform, platform_user_id FROM ${this.identities} WHERE user_id = $1 ORDER BY platform COLLATE "C", platform_user_id COLLATE "C"`,
        [canonicalUserId],
      );
      return (rows as { platform: string; platform_user_id: string }[]).map((row) => ({ platform: row.platform, platformUserId: row.platform_user_id }));
    });
  }

  async createLinkCode(canonicalUserId: string, ttlMs = LINK_CODE_TTL_MS): Promise<string> {
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs)) {
      throw new TypeError(`PostgresIdentityResolver.createLinkCode: ttlMs must be a number of milliseconds, e.g. ${LINK_CODE_TTL_MS} (10 minutes); got ${String(ttlMs)}.`);
    }
    return this.tables.use(async () => {
      for (let attempt = 0; attempt < CODE_ATTEMPTS; attempt++) {
        const code = newLinkCode(randomBytes);
        // One statement: the expired codes go as the new one is written.
        const { rows } = await this.pool.query(
          `WITH expired AS (DELETE FROM ${this.codes} WHERE expires_at <= ${PG_NOW_MS})
           INSERT INTO ${this.codes} (code, user_id, expires_at) VALUES ($1, $2, ${PG_NOW_MS} + $3::bigint)
           ON CONFLICT (code) DO NOTHING RETURNING code`,
          [code, canonicalUserId, Math.round(ttlMs)],
        );
        if (rows.length > 0) return code;
      }
      throw new Error(`no free link code after ${CODE_ATTEMPTS} random tries`);
    });
  }

  async redeemLinkCode(code: string): Promise<string | null> {
    return this.tables.use(async () => {
      // Single use across processes: the row is deleted as it is read; a concurrent redeem finds it gone.
      const { rows } = await this.pool.query(`DELETE FROM ${this.codes} WHERE code = $1 RETURNING user_id, expires_at > ${PG_NOW_MS} AS valid`, [
        String(code).trim().toUpperCase(),
      ]);
      const row = rows[0] as { user_id: string; valid: boolean } | undefined;
      return row?.valid ? row.user_id : null;
    });
  }

  /** Ends the pool the resolver created from `connectionString`; an app's `pool` is left open. */
  async close(): Promise<void> {
    await this.tables.close();
  }
}
