import { AuthContext, AuthProvider, AuthRequest } from './auth-provider';

/** Options of {@link AllowlistAuth}. */
export interface AllowlistAuthOptions {
  /** Platform user ids allowed in. */
  userIds: (string | number)[];
  /** When given, only these chats are allowed as well. */
  chatIds?: (string | number)[];
  /** When given, only these platforms (e.g. `['telegram']`). */
  platforms?: string[];
}

/**
 * Lets in listed users of messaging platforms (optionally only in listed chats
 * or platforms). HTTP requests carry no platform user id, so it refuses them.
 */
export class AllowlistAuth implements AuthProvider {
  readonly name = 'allowlist';
  private readonly userIds: Set<string>;
  private readonly chatIds?: Set<string>;
  private readonly platforms?: Set<string>;

  constructor(options: AllowlistAuthOptions) {
    if (!Array.isArray(options?.userIds)) {
      throw new TypeError("AllowlistAuth needs userIds: new AllowlistAuth({ userIds: ['12345'] }).");
    }
    this.userIds = new Set(options.userIds.map(String));
    this.chatIds = options.chatIds && new Set(options.chatIds.map(String));
    this.platforms = options.platforms && new Set(options.platforms);
  }

  authenticate(request: AuthRequest): AuthContext | null {
    if (request.userId === undefined || !this.userIds.has(String(request.userId))) return null;
    if (this.chatIds && (request.chatId === undefined || !this.chatIds.has(String(request.chatId)))) return null;
    if (this.platforms && !this.platforms.has(request.platform)) return null;
    return { userId: String(request.userId), provider: this.name, trusted: false };
  }
}
