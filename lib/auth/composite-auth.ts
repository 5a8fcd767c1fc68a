import { AuthContext, AuthProvider, AuthRefusal, AuthRefusalKind, AuthRequest, AuthVerdict, OpenApiSecurityScheme, verifyAuth } from './auth-provider';

const RANK: Record<AuthRefusalKind, number> = { missing: 0, unrecognized: 1, rejected: 2 };

/**
 * Tries providers in order; the first that authenticates wins. When none
 * does, it reports the most telling refusal: credentials that were presented
 * and refused (a wrong `X-API-Key`, an expired JWT) beat a value that may be
 * meant for another provider, which beats "nothing presented"; when nothing
 * was presented at all, the message lists what each provider accepts.
 *
 * @example
 * new CompositeAuth(new ApiKeyAuth({ keys }), new JwtAuth({ secret }))
 */
export class CompositeAuth implements AuthProvider {
  readonly name: string;
  /** Every provider's OpenAPI schemes, as alternatives (any one authenticates); `undefined` when none has any. */
  readonly securitySchemes?: Readonly<Record<string, OpenApiSecurityScheme>>;
  private readonly providers: AuthProvider[];

  constructor(...providers: AuthProvider[]) {
    if (providers.length === 0 || providers.some((provider) => typeof provider?.authenticate !== 'function')) {
      throw new TypeError('CompositeAuth needs one or more auth providers, e.g. new CompositeAuth(apiKeyAuth, jwtAuth).');
    }
    this.providers = providers;
    this.name = providers.map((provider) => provider.name).join('|');
    const schemes = Object.assign({}, ...providers.map((provider) => provider.securitySchemes ?? {}));
    if (Object.keys(schemes).length > 0) this.securitySchemes = schemes;
  }

  /** The first provider's principal, or `null` (see {@link CompositeAuth.verify} for why). */
  async authenticate(request: AuthRequest): Promise<AuthContext | null> {
    const verdict = await this.verify(request);
    return AuthRefusal.is(verdict) ? null : verdict;
  }

  /** The first provider's principal, or the most telling refusal among them all. */
  async verify(request: AuthRequest): Promise<AuthVerdict> {
    const refusals: AuthRefusal[] = [];
    for (const provider of this.providers) {
      const verdict = await verifyAuth(provider, request);
      if (!AuthRefusal.is(verdict)) return verdict;
      refusals.push(verdict);
    }
    // On a tie the earlier provider's refusal stays.
    const best = refusals.reduce((kept, refusal) => (RANK[refusal.kind] > RANK[kept.kind] ? refusal : kept));
    if (best.kind !== 'missing') return best;
    const hints = refusals.map((refusal) => refusal.hint ?? `credentials for ${refusal.provider}`);
    return new AuthRefusal({ provider: this.name, kind: 'missing', hint: hints.join(', or ') });
  }
}
