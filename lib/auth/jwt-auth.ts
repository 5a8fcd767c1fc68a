import type { Algorithm } from 'jsonwebtoken';
import { ExtractJwt, Strategy, StrategyOptionsWithoutRequest } from 'passport-jwt';
import { AuthContext, AuthProvider, AuthRequest } from './auth-provider';

/** Options of {@link JwtAuth}. */
export interface JwtAuthOptions {
  /** The HMAC secret (HS* algorithms). */
  secret?: string;
  /** The PEM public key (RS*, ES*, PS* algorithms). */
  publicKey?: string;
  /** Accepted algorithms. Default `['HS256']` with a secret, `['RS256']` with a public key. `none` is never accepted. */
  algorithms?: Algorithm[];
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
  readonly name = 'jwt';
  private readonly strategy: Strategy;
  private readonly trusted: boolean;

  constructor(options: JwtAuthOptions) {
    const key = options?.secret ?? options?.publicKey;
    if (!key) {
      throw new TypeError('JwtAuth needs a secret (HS256) or a publicKey (RS256): new JwtAuth({ secret: process.env.JWT_SECRET }).');
    }
    if (options.secret && options.publicKey) throw new TypeError('JwtAuth takes a secret or a publicKey, not both.');
    const algorithms = options.algorithms ?? [options.secret ? 'HS256' : 'RS256'];
    if (algorithms.length === 0 || algorithms.some((alg) => String(alg).toLowerCase() === 'none')) {
      throw new TypeError('JwtAuth: algorithms must list real signing algorithms; "none" is never accepted.');
    }
    const strategyOptions: StrategyOptionsWithoutRequest = {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: key,
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

  authenticate(request: AuthRequest): Promise<AuthContext | null> {
    return new Promise((resolve) => {
      // A per-call instance with passport's action callbacks, as passport itself does.
      const attempt = Object.create(this.strategy) as Strategy & {
        success(user: unknown): void;
        fail(): void;
        error(err: unknown): void;
      };
      attempt.success = (claims) => resolve(this.principal(claims as Record<string, unknown>));
      attempt.fail = () => resolve(null);
      attempt.error = () => resolve(null);
      attempt.authenticate({ headers: request.headers } as never, {});
    });
  }

  private principal(claims: Record<string, unknown>): AuthContext | null {
    const id = [claims.sub, claims.user_id, claims.id].find((value) => typeof value === 'string' && value !== '') ??
      [claims.sub, claims.user_id, claims.id].find((value) => typeof value === 'number');
    if (id === undefined) return null;
    return { userId: String(id), provider: this.name, trusted: this.trusted, claims };
  }
}
