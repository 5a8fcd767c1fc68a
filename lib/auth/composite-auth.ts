import { AuthContext, AuthProvider, AuthRequest } from './auth-provider';

/**
 * Tries providers in order; the first that authenticates wins.
 *
 * @example
 * new CompositeAuth(new ApiKeyAuth({ keys }), new JwtAuth({ secret }))
 */
export class CompositeAuth implements AuthProvider {
  readonly name: string;
  private readonly providers: AuthProvider[];

  constructor(...providers: AuthProvider[]) {
    if (providers.length === 0 || providers.some((provider) => typeof provider?.authenticate !== 'function')) {
      throw new TypeError('CompositeAuth needs one or more auth providers, e.g. new CompositeAuth(apiKeyAuth, jwtAuth).');
    }
    this.providers = providers;
    this.name = providers.map((provider) => provider.name).join('|');
  }

  async authenticate(request: AuthRequest): Promise<AuthContext | null> {
    for (const provider of this.providers) {
      const principal = await provider.authenticate(request);
      if (principal) return principal;
    }
    return null;
  }
}
