import { CanActivate, ExecutionContext, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { AuthProvider, AuthRefusal, verifyAuth } from './auth-provider';
import { AUTH_CONTEXT_PROPERTY, DEFINABLE_AUTH, IS_PUBLIC_KEY, ROUTE_AUTH_KEY } from './auth.constants';

/**
 * Protects the built-in routes and every `@Webhook` with an auth provider:
 * the route's own (`@Webhook(path, { auth })`), else the module's
 * (`DefinableModule.forRoot({ auth })`). `@Public()` or `auth: false` opens a
 * route; with no provider at all, requests pass. On success the request carries
 * the {@link AuthContext} (read it with `@AuthContext()`); otherwise 401 with
 * the provider's reason (see `AuthProvider.verify`), also logged at debug level
 * under `Definable:Auth`.
 */
@Injectable()
export class DefinableAuthGuard implements CanActivate {
  private readonly logger = new Logger('Definable:Auth');
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
    const verdict = await verifyAuth(provider, {
      platform: 'http',
      headers: request.headers ?? {},
      method: request.method,
      path: request.url,
    });
    if (AuthRefusal.is(verdict)) {
      // The path without its query string, which may carry secrets.
      const path = String(request.originalUrl ?? request.url ?? '').split('?')[0];
      this.logger.debug(
        `401 for ${request.method} ${path}: ${verdict.provider} refused (${verdict.kind}): ${verdict.message}${verdict.detail ? ` [${verdict.detail}]` : ''}`,
      );
      throw new UnauthorizedException({ error: { code: 'unauthorized', message: verdict.message } });
    }
    request[AUTH_CONTEXT_PROPERTY] = verdict;
    return true;
  }
}
