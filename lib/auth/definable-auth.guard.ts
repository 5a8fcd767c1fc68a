import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import type { AuthProvider } from './auth-provider';
import { AUTH_CONTEXT_PROPERTY, DEFINABLE_AUTH, IS_PUBLIC_KEY, ROUTE_AUTH_KEY } from './auth.constants';

const HINTS: Record<string, string> = {
  'api-key': 'an API key in the X-API-Key header (or Authorization: Bearer <key>)',
  jwt: 'a valid token as Authorization: Bearer <JWT>',
};

/**
 * Protects the built-in routes and every `@Webhook` with an auth provider:
 * the route's own (`@Webhook(path, { auth })`), else the module's
 * (`DefinableModule.forRoot({ auth })`). `@Public()` or `auth: false` opens a
 * route; with no provider at all, requests pass. On success the request carries
 * the {@link AuthContext} (read it with `@AuthContext()`); otherwise 401.
 */
@Injectable()
export class DefinableAuthGuard implements CanActivate {
  private auth?: AuthProvider | null;

  constructor(
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const routeAuth = this.reflector.getAllAndOverride<AuthProvider | false | undefined>(ROUTE_AUTH_KEY, targets);
    // Resolved app-wide, so a route in a module that does not import DefinableModule is still
    // protected; without the module at all this throws (fails closed) rather than letting requests in.
    if (routeAuth === undefined && this.auth === undefined) {
      this.auth = this.moduleRef.get<AuthProvider | null>(DEFINABLE_AUTH, { strict: false });
    }
    const provider = routeAuth === undefined ? this.auth : routeAuth;
    if (!provider) return true;
    const request = context.switchToHttp().getRequest();
    const principal = await provider.authenticate({
      platform: 'http',
      headers: request.headers ?? {},
      method: request.method,
      path: request.url,
    });
    if (!principal) {
      const hint = provider.name.split('|').map((name) => HINTS[name] ?? `credentials for ${name}`).join(', or ');
      throw new UnauthorizedException({ error: { code: 'unauthorized', message: `Authentication required: send ${hint}.` } });
    }
    request[AUTH_CONTEXT_PROPERTY] = principal;
    return true;
  }
}
