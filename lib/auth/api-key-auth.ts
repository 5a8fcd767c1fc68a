import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthContext, AuthProvider, AuthRequest, bearerToken, headerOf } from './auth-provider';

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
  private readonly entries: { digest: Buffer; userId: string }[];
  private readonly header: string;
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
    this.header = (options.header ?? 'X-API-Key').toLowerCase();
    this.trusted = options.trusted ?? true;
  }

  authenticate(request: AuthRequest): AuthContext | null {
    const presented = headerOf(request, this.header) ?? bearerToken(request);
    if (!presented) return null;
    const digest = sha256(presented);
    let match: { userId: string } | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest) && !match) match = entry;
    }
    return match ? { userId: match.userId, provider: this.name, trusted: this.trusted } : null;
  }
}
