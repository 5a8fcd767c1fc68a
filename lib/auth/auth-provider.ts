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
 * request gets 401 with a generic "Authentication required" message).
 * Implement it to plug in any scheme; implement `verify()` as well to say
 * why a request was refused.
 */
export interface AuthProvider {
  /** A short name for logs and the banner, e.g. `'api-key'`. */
  readonly name: string;
  /** The principal, or `null` to refuse. */
  authenticate(request: AuthRequest): Promise<AuthContext | null> | AuthContext | null;
  /**
   * Optional: like `authenticate()`, but a refusal is an {@link AuthRefusal}
   * saying why (the 401 message and the debug log use it). `DefinableAuthGuard`
   * and `CompositeAuth` call it when present. `authenticate()` must keep
   * returning `null` for refusals: other callers (chat allowlists, your code)
   * only test it for truthiness.
   */
  verify?(request: AuthRequest): Promise<AuthVerdict> | AuthVerdict;
  /**
   * Optional: how OpenAPI describes this provider's credentials — security
   * schemes by name, any one of which a request may use. Swagger documents
   * the routes it protects with them (see `addDefinableSecurity`). Scheme
   * names must match `^[A-Za-z0-9._-]+$`. Without it, those routes are
   * documented with a 401 response but no security requirement.
   */
  readonly securitySchemes?: Readonly<Record<string, OpenApiSecurityScheme>>;
}

/**
 * An OpenAPI 3 security scheme object (`components.securitySchemes` entry),
 * e.g. `{ type: 'apiKey', in: 'header', name: 'X-API-Key' }` or
 * `{ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }`.
 */
export interface OpenApiSecurityScheme {
  type: 'apiKey' | 'http' | 'oauth2' | 'openIdConnect';
  description?: string;
  /** `apiKey`: the header, query or cookie name. */
  name?: string;
  /** `apiKey`: where the key goes: `'header'`, `'query'` or `'cookie'`. */
  in?: string;
  /** `http`: the scheme, e.g. `'bearer'` or `'basic'`. */
  scheme?: string;
  /** `http` bearer: a hint such as `'JWT'`. */
  bearerFormat?: string;
  /** `oauth2`: the flows object. */
  flows?: object;
  /** `openIdConnect`: the discovery URL. */
  openIdConnectUrl?: string;
}

/**
 * How sure a provider is that the request meant to use it:
 * `'missing'` — it carries nothing for this provider;
 * `'unrecognized'` — it carries something this provider could not use, which may
 * be meant for another one (a bearer token that is not a JWT, a bearer value
 * that is not one of the API keys);
 * `'rejected'` — it carries this provider's credentials and they were refused
 * (a wrong `X-API-Key`, an expired JWT).
 */
export type AuthRefusalKind = 'missing' | 'unrecognized' | 'rejected';

/**
 * Why a provider refused a request, returned by {@link AuthProvider.verify}.
 * `message` is sent to the client with the 401, so it must be safe (no
 * secrets, no claims) and say what to do; `detail` goes only to the server log
 * at debug level.
 *
 * @example
 * verify(request) {
 *   if (!request.headers.cookie) return AuthRefusal.missing('session', 'a session cookie');
 *   return AuthRefusal.rejected('session', 'The session has expired: sign in again.');
 * }
 */
export class AuthRefusal {
  /** Brand that tells a refusal from an {@link AuthContext} (see {@link AuthRefusal.is}). */
  readonly refused = true as const;
  /** The provider that refused (for `CompositeAuth`, the one whose reason is reported). */
  readonly provider: string;
  /** How close the request came; `CompositeAuth` reports the refusal of the highest kind. */
  readonly kind: AuthRefusalKind;
  /** What the client is told, e.g. `"The token has expired: get a new token and retry."`. */
  readonly message: string;
  /** For `'missing'`: what to send, e.g. `'an API key in the X-API-Key header'` (`CompositeAuth` joins them). */
  readonly hint?: string;
  /** Extra words for the server's debug log only (e.g. the library's error name). Never a token or a claim. */
  readonly detail?: string;

  constructor(init: { provider: string; kind: AuthRefusalKind; message?: string; hint?: string; detail?: string }) {
    this.provider = init.provider;
    this.kind = init.kind;
    this.hint = init.hint;
    this.detail = init.detail;
    this.message = init.message ?? `Authentication required: send ${init.hint ?? `credentials for ${init.provider}`}.`;
  }

  /** The request carries no credentials for `provider`; `hint` says what to send. */
  static missing(provider: string, hint: string): AuthRefusal {
    return new AuthRefusal({ provider, kind: 'missing', hint });
  }

  /** The request's credentials for `provider` were refused; `message` says why and what to do. */
  static rejected(provider: string, message: string, detail?: string): AuthRefusal {
    return new AuthRefusal({ provider, kind: 'rejected', message, detail });
  }

  /** Whether a verdict is a refusal (works across copies of the package). */
  static is(value: unknown): value is AuthRefusal {
    return (value as AuthRefusal | null)?.refused === true;
  }
}

/** What {@link AuthProvider.verify} answers: the principal, or why not. */
export type AuthVerdict = AuthContext | AuthRefusal;

/**
 * Asks a provider for its verdict: its `verify()` when it has one, else its
 * `authenticate()`, a `null` becoming a refusal without a reason (the generic
 * "Authentication required" message).
 */
export async function verifyAuth(provider: AuthProvider, request: AuthRequest): Promise<AuthVerdict> {
  const verdict = provider.verify ? await provider.verify(request) : await provider.authenticate(request);
  if (!verdict) return AuthRefusal.missing(provider.name, `credentials for ${provider.name}`);
  // A refusal built by another copy of the package, or by hand: make it a real one.
  if (AuthRefusal.is(verdict) && !(verdict instanceof AuthRefusal)) {
    const foreign = verdict as Partial<AuthRefusal>;
    const kind = (['missing', 'unrecognized', 'rejected'] as const).find((known) => known === foreign.kind) ?? 'rejected';
    return new AuthRefusal({ message: foreign.message, hint: foreign.hint, detail: foreign.detail, provider: foreign.provider ?? provider.name, kind });
  }
  return verdict;
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
