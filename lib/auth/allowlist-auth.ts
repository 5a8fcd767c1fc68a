import { AuthContext, AuthProvider, AuthRefusal, AuthRequest, AuthVerdict } from './auth-provider';

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

  /** The listed user, or `null` (see {@link AllowlistAuth.verify} for why). */
  authenticate(request: AuthRequest): AuthContext | null {
    const verdict = this.verify(request);
    return AuthRefusal.is(verdict) ? null : verdict;
  }

  /** The listed user, or why not: no platform user id (HTTP), or a user, chat or platform not on the list. */
  verify(request: AuthRequest): AuthVerdict {
    if (request.userId === undefined) {
      return AuthRefusal.missing(this.name, 'a messaging-platform user id (AllowlistAuth admits chat users, not HTTP requests)');
    }
    const refuse = (what: string) =>
      AuthRefusal.rejected(this.name, `This ${what} is not on the allowlist: ask the operator to add it.`, `${what} not listed`);
    if (!this.userIds.has(String(request.userId))) return refuse('user');
    if (this.chatIds && (request.chatId === undefined || !this.chatIds.has(String(request.chatId)))) return refuse('chat');
    if (this.platforms && !this.platforms.has(request.platform)) return refuse('platform');
    return { userId: String(request.userId), provider: this.name, trusted: false };
  }
}
