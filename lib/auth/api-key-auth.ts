import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthContext, AuthProvider, AuthRefusal, AuthRequest, AuthVerdict, bearerToken, headerOf, OpenApiSecurityScheme } from './auth-provider';

/** A key with the user id runs made with it are attributed to. */
export interface NamedApiKey {
  key: string;
  userId: string;
}

/** Options of {@link ApiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** Accepted keys; a plain string key acts as user `api-key:<first 8 hex of its SHA-256>`. */
  keys: (string | NamedApiKey)[];
  /** The header carrying the key. Default `X-API-Key`; `Authorization: Bearer <key>` is accepted too. */
  header?: string;
  /** Whether key holders may pass another user's `user_id` (a backend serving many users). Default `true`. */
  trusted?: boolean;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * API-key authentication. Keys are compared as SHA-256 digests in constant
 * time, against every configured key, so timing reveals nothing.
 *
 * @example
 * new ApiKeyAuth({ keys: [process.env.API_KEY!] })
 */
export class ApiKeyAuth implements AuthProvider {
  readonly name = 'api-key';
  /** The OpenAPI scheme of the key header: `api-key` for `X-API-Key`, else `api-key-<header>`. */
  readonly securitySchemes: Readonly<Record<string, OpenApiSecurityScheme>>;
  private readonly entries: { digest: Buffer; userId: string }[];
  private readonly header: string;
  private readonly headerLabel: string;
  private readonly trusted: boolean;

  constructor(options: ApiKeyAuthOptions) {
    const keys = options?.keys;
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new TypeError('ApiKeyAuth needs at least one key: new ApiKeyAuth({ keys: [process.env.API_KEY] }).');
    }
    this.entries = keys.map((entry, index) => {
      const key = typeof entry === 'string' ? entry : entry?.key;
      if (typeof key !== 'string' || key.length < 8) {
        throw new TypeError(`ApiKeyAuth: keys[${index}] must be a string of at least 8 characters (is the environment variable set?).`);
      }
      const digest = sha256(key);
      const userId = typeof entry === 'string' ? `api-key:${digest.toString('hex').slice(0, 8)}` : entry.userId;
      return { digest, userId };
    });
    this.headerLabel = options.header ?? 'X-API-Key';
    this.header = this.headerLabel.toLowerCase();
    this.trusted = options.trusted ?? true;
    const header = options.header ?? 'X-API-Key';
    const scheme = header.toLowerCase() === 'x-api-key' ? 'api-key' : `api-key-${header.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}`;
    this.securitySchemes = {
      [scheme]: { type: 'apiKey', in: 'header', name: header, description: `An API key in the ${header} header (Authorization: Bearer <key> works too).` },
    };
  }

  /** The key holder, or `null` when no configured key was presented (see {@link ApiKeyAuth.verify} for why). */
  authenticate(request: AuthRequest): AuthContext | null {
    const verdict = this.verify(request);
    return AuthRefusal.is(verdict) ? null : verdict;
  }

  /**
   * The key holder, or why not: no key at all (`missing`), a wrong key in the
   * key header (`rejected`), or a bearer value that is none of the keys
   * (`unrecognized`: it may be another provider's token).
   */
  verify(request: AuthRequest): AuthVerdict {
    // An empty key header — or several empty ones, which Node joins as ", " — counts as absent, so
    // it cannot hide a key sent as a bearer token. (Keys never hold commas.)
    const own = headerOf(request, this.header)
      ?.split(',')
      .map((value) => value.trim())
      .find((value) => value !== '');
    const presented = own || bearerToken(request);
    if (!presented) {
      return AuthRefusal.missing(this.name, `an API key in the ${this.headerLabel} header (or Authorization: Bearer <key>)`);
    }
    const digest = sha256(presented);
    let match: { userId: string } | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest) && !match) match = entry;
    }
    if (match) return { userId: match.userId, provider: this.name, trusted: this.trusted };
    return own
      ? AuthRefusal.rejected(
          this.name,
          `The API key was not accepted: check the ${this.headerLabel} value; it must be one of the keys this server is configured with.`,
          `wrong key in ${this.headerLabel}`,
        )
      : new AuthRefusal({
          provider: this.name,
          kind: 'unrecognized',
          message: `The API key was not accepted: check the key sent as Authorization: Bearer <key>; it must be one of the keys this server is configured with (or send it in the ${this.headerLabel} header).`,
          detail: 'bearer value is not a configured key',
        });
  }
}
