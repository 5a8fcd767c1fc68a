/**
 * What an auth provider is asked to judge: a transport-agnostic view of one
 * request, so the same provider serves HTTP routes and chat platforms.
 */
export interface AuthRequest {
  /** `'http'` for HTTP requests; the platform name (`'telegram'`, `'discord'`...) for chat. */
  platform: string;
  /** Request headers, lower-cased names (HTTP). */
  headers: Record<string, string | string[] | undefined>;
  /** The platform's user id (chat). */
  userId?: string;
  /** The platform's chat id (chat). */
  chatId?: string;
  /** HTTP method and path, for logs and path-aware providers. */
  method?: string;
  path?: string;
}

/** Who a request was authenticated as. */
export interface AuthContext {
  /** The user id runs are attributed to. */
  userId: string;
  /** The provider that authenticated it (e.g. `'api-key'`, `'jwt'`). */
  provider: string;
  /**
   * A trusted service may act for other users: `/run` accepts the `user_id` it
   * passes. API keys are trusted by default; JWT subjects are not.
   */
  trusted: boolean;
  /** Verified claims (JWT) or other provider data. */
  claims?: Record<string, unknown>;
}

/**
 * Authenticates requests. Return the principal, or `null` to refuse (the
 * request gets 401). Implement it to plug in any scheme.
 */
export interface AuthProvider {
  /** A short name for logs and the banner, e.g. `'api-key'`. */
  readonly name: string;
  authenticate(request: AuthRequest): Promise<AuthContext | null> | AuthContext | null;
}

/** Reads one header from an {@link AuthRequest} (first value if repeated). */
export function headerOf(request: AuthRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(request: AuthRequest): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(headerOf(request, 'authorization') ?? '');
  return match?.[1].trim();
}
