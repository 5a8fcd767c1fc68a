import { Logger } from '@nestjs/common';
import { ExtractJwt, SecretOrKeyProvider, Strategy, StrategyOptionsWithoutRequest } from 'passport-jwt';
import { AuthContext, AuthProvider, AuthRefusal, AuthRefusalKind, AuthRequest, AuthVerdict, OpenApiSecurityScheme } from './auth-provider';

/** A JWT signing algorithm `JwtAuth` can check (`none` is never accepted). */
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'PS256'
  | 'PS384'
  | 'PS512';

/** Options of {@link JwtAuth}. */
export interface JwtAuthOptions {
  /** The HMAC secret (HS* algorithms). */
  secret?: string;
  /** The PEM public key (RS*, ES*, PS* algorithms). */
  publicKey?: string;
  /**
   * An identity provider's JWKS URL (Auth0, Keycloak, Cognito, Entra ID,
   * Clerk…), e.g. `https://example.eu.auth0.com/.well-known/jwks.json`: the
   * key is the one whose `kid` the token names, fetched and cached by
   * `jwks-rsa`; a `kid` not in the cache refetches the set (at most
   * `jwksRequestsPerMinute` times a minute), so rotated keys are picked up.
   */
  jwksUri?: string;
  /** Fetches of the JWKS a minute at most (unknown `kid`s). Default 10. */
  jwksRequestsPerMinute?: number;
  /** Accepted algorithms. Default `['HS256']` with a secret, `['RS256']` with a public key, `['RS256', 'ES256']` with a JWKS. `none` is never accepted. */
  algorithms?: JwtAlgorithm[];
  audience?: string | string[];
  issuer?: string | string[];
  /** Whether token holders may pass another user's `user_id`. Default `false`. */
  trusted?: boolean;
  /** Seconds of clock skew tolerated on `exp`/`nbf`. Default 0. */
  clockTolerance?: number;
}

/**
 * JWT bearer-token authentication on `passport-jwt` (signature, `exp`, `nbf`,
 * audience, issuer and algorithm checked by `jsonwebtoken`). The user id comes
 * from the `sub` claim, else `user_id`, else `id`; a token with none is refused.
 */
export class JwtAuth implements AuthProvider {
  private static readonly logger = new Logger('Definable:Auth');
  readonly name = 'jwt';
  /** The OpenAPI scheme: `jwt`, an HTTP bearer token in JWT format. */
  readonly securitySchemes: Readonly<Record<string, OpenApiSecurityScheme>> = {
    jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT as Authorization: Bearer <token>.' },
  };
  private readonly strategy: Strategy;
  private readonly trusted: boolean;
  private warnedAboutKey = false;

  constructor(options: JwtAuthOptions) {
    const sources = [options?.secret, options?.publicKey, options?.jwksUri].filter(Boolean).length;
    if (sources === 0) {
      throw new TypeError(
        "JwtAuth needs a secret (HS256), a publicKey (RS256) or your identity provider's jwksUri: new JwtAuth({ secret: process.env.JWT_SECRET }).",
      );
    }
    if (sources > 1) throw new TypeError('JwtAuth takes one of secret, publicKey or jwksUri.');
    const algorithms = options.algorithms ?? (options.secret ? ['HS256'] : options.publicKey ? ['RS256'] : ['RS256', 'ES256']);
    if (algorithms.length === 0 || algorithms.some((alg) => String(alg).toLowerCase() === 'none')) {
      throw new TypeError('JwtAuth: algorithms must list real signing algorithms; "none" is never accepted.');
    }
    if (options.jwksUri && algorithms.some((alg) => alg.startsWith('HS'))) {
      throw new TypeError('JwtAuth: a JWKS holds public keys: list asymmetric algorithms (RS256, ES256...), never HS* (that would let a public key be used as a secret).');
    }
    const strategyOptions: StrategyOptionsWithoutRequest = {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ...(options.jwksUri ? { secretOrKeyProvider: jwksKeyProvider(options.jwksUri, options.jwksRequestsPerMinute ?? 10) } : { secretOrKey: (options.secret ?? options.publicKey)! }),
      algorithms,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: options.clockTolerance ?? 0 },
      ...(options.audience ? { audience: options.audience } : {}),
      ...(options.issuer ? { issuer: options.issuer } : {}),
    };
    this.strategy = new Strategy(strategyOptions, (payload: Record<string, unknown>, done: (e: unknown, user?: unknown) => void) =>
      done(null, payload),
    );
    this.trusted = options.trusted ?? false;
  }

  /** The token's subject, or `null` when refused (see {@link JwtAuth.verify} for why). */
  async authenticate(request: AuthRequest): Promise<AuthContext | null> {
    const verdict = await this.verify(request);
    return AuthRefusal.is(verdict) ? null : verdict;
  }

  /**
   * The token's subject, or why not: no bearer token (`missing`), something
   * that is not a JWT (`unrecognized`), or a JWT refused for its expiry,
   * `nbf`, audience, issuer, signature or algorithm (`rejected`). The reason
   * never repeats the token, its claims or the expected values.
   */
  verify(request: AuthRequest): Promise<AuthVerdict> {
    return new Promise((resolve) => {
      // A per-call instance with passport's action callbacks, as passport itself does.
      const attempt = Object.create(this.strategy) as Strategy & {
        success(user: unknown): void;
        fail(info?: unknown): void;
        error(err: unknown): void;
      };
      attempt.success = (claims) => resolve(this.principal(claims as Record<string, unknown>));
      attempt.fail = (info) => resolve(this.refusal(info));
      attempt.error = (error) => resolve(this.refusal(error));
      attempt.authenticate({ headers: request.headers } as never, {});
    });
  }

  private principal(claims: Record<string, unknown>): AuthVerdict {
    const id = [claims.sub, claims.user_id, claims.id].find((value) => typeof value === 'string' && value !== '') ??
      [claims.sub, claims.user_id, claims.id].find((value) => typeof value === 'number');
    if (id === undefined) {
      return AuthRefusal.rejected(this.name, 'The token names no user: it needs a "sub" (or "user_id", or "id") claim.', 'no subject claim');
    }
    return { userId: String(id), provider: this.name, trusted: this.trusted, claims };
  }

  private refusal(info: unknown): AuthRefusal {
    const error = info as { name?: unknown; message?: unknown } | undefined;
    const message = typeof error?.message === 'string' ? error.message : '';
    const name = typeof error?.name === 'string' ? error.name : 'Error';
    if (message === 'No auth token') return AuthRefusal.missing(this.name, 'a valid token as Authorization: Bearer <JWT>');
    const reason = JWT_REASONS.find((entry) => entry.test(name, message));
    if (!reason) {
      // Unknown failures: the library's message may quote the token (a JSON parse error does), so only its name is logged.
      return AuthRefusal.rejected(this.name, 'The token was not accepted: send a valid token as Authorization: Bearer <JWT>.', name);
    }
    if (reason.serverSide && !this.warnedAboutKey) {
      this.warnedAboutKey = true; // once: clients could otherwise flood the log
      JwtAuth.logger.warn(`JwtAuth cannot verify tokens: ${reason.phrase} (${name}). Check its secret / publicKey and algorithms options.`);
    }
    return new AuthRefusal({ provider: this.name, kind: reason.kind, message: reason.message, detail: `${name}: ${reason.phrase}` });
  }
}

/**
 * The key of a token from a JWKS, by its `kid`, through `jwks-rsa` (cached;
 * an unknown `kid` refetches, rate-limited). Loaded on first use.
 */
function jwksKeyProvider(jwksUri: string, requestsPerMinute: number): SecretOrKeyProvider {
  if (!/^https?:\/\//.test(jwksUri)) throw new TypeError(`JwtAuth: jwksUri must be an http(s) URL, got "${jwksUri}".`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { passportJwtSecret } = require('jwks-rsa') as typeof import('jwks-rsa');
  return passportJwtSecret({ jwksUri, cache: true, rateLimit: true, jwksRequestsPerMinute: requestsPerMinute, handleSigningKeyError: (error, done) => done(error) });
}

/** A jsonwebtoken failure, what the client is told, and the fixed phrase logged (never the library's full message). */
interface JwtReason {
  test(name: string, message: string): boolean;
  kind: AuthRefusalKind;
  message: string;
  phrase: string;
  serverSide?: boolean;
}

const startsWith =
  (...prefixes: string[]) =>
  (_name: string, message: string) =>
    prefixes.some((prefix) => message.startsWith(prefix));

const JWT_REASONS: JwtReason[] = [
  { test: (name) => name === 'TokenExpiredError', kind: 'rejected', message: 'The token has expired: get a new token and retry.', phrase: 'expired' },
  {
    test: (name) => name === 'NotBeforeError',
    kind: 'rejected',
    message: 'The token is not valid yet (its "nbf" time is in the future): retry later, or check the clocks of the issuer and this server.',
    phrase: 'not active yet',
  },
  {
    test: startsWith('jwt audience invalid'),
    kind: 'rejected',
    message: "The token's audience is not accepted: request a token issued for this service.",
    phrase: 'audience invalid',
  },
  {
    test: startsWith('jwt issuer invalid'),
    kind: 'rejected',
    message: "The token's issuer is not accepted: use a token from the issuer this service trusts.",
    phrase: 'issuer invalid',
  },
  {
    test: startsWith('invalid signature'),
    kind: 'rejected',
    message: "The token's signature is invalid: it was not signed with the key this service verifies with.",
    phrase: 'invalid signature',
  },
  {
    test: startsWith('invalid algorithm', 'jwt signature is required', 'please specify "none"'),
    kind: 'rejected',
    message: "The token's signing algorithm is not accepted: sign it with an algorithm this service accepts (never \"none\").",
    phrase: 'algorithm not accepted',
  },
  {
    test: startsWith('invalid exp value', 'invalid nbf value'),
    kind: 'rejected',
    message: 'The token\'s "exp" or "nbf" claim is not a number of seconds: fix how the token is issued.',
    phrase: 'invalid exp/nbf value',
  },
  {
    test: (name, message) => name === 'SyntaxError' || ['jwt malformed', 'invalid token', 'jwt must be'].some((prefix) => message.startsWith(prefix)),
    kind: 'unrecognized',
    message: 'The token is malformed: send a complete JWT (header.payload.signature) as Authorization: Bearer <JWT>.',
    phrase: 'malformed',
  },
  {
    test: (name) => name === 'SigningKeyNotFoundError',
    kind: 'rejected',
    message: "The token's key (kid) is not among the identity provider's keys: get a new token from it.",
    phrase: 'unknown kid',
  },
  {
    test: (name) => name === 'JwksError' || name === 'JwksRateLimitError',
    kind: 'rejected',
    message: "The token could not be verified: this service could not read its identity provider's keys; its operators can see why in the server log.",
    phrase: 'the JWKS could not be fetched',
    serverSide: true,
  },
  {
    test: startsWith('secret or public key', 'secretOrPublicKey', 'error in secret or public key'),
    kind: 'rejected',
    message: 'The token could not be verified: this service\'s JWT key does not fit the token\'s algorithm; its operators can see why in the server log.',
    phrase: 'the configured key does not fit the token algorithm',
    serverSide: true,
  },
];
