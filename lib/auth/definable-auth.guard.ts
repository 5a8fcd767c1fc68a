import { CanActivate, ExecutionContext, Inject, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthProvider, AuthRefusal, verifyAuth } from './auth-provider';
import { AUTH_CONTEXT_PROPERTY, DEFINABLE_AUTH } from './auth.constants';
import { resolveRouteAuth } from './auth.decorators';

/**
 * Protects the built-in routes and every `@Webhook` with an auth provider:
 * the route's own (`@Webhook(path, { auth })`, `@AgentAuth` on the method),
 * else the controller's (`@AgentAuth` on the class), else the module's
 * (`DefinableModule.forRoot({ auth })`). `@Public()` or `false` opens a route
 * or a controller; with no provider at all, requests pass. On success the request carries
 * the {@link AuthContext} (read it with `@AuthContext()`); otherwise 401 with
 * the provider's reason (see `AuthProvider.verify`), also logged at debug level
 * under `Definable:Auth`.
 */
@Injectable()
export class DefinableAuthGuard implements CanActivate {
  private readonly logger = new Logger('Definable:Auth');

  // DEFINABLE_AUTH comes from DefinableModule, global by default; a route whose module cannot see it
  // fails bootstrap with Nest's "can't resolve dependencies" (fails closed) rather than letting requests in.
  constructor(
    private readonly reflector: Reflector,
    @Inject(DEFINABLE_AUTH) private readonly auth: AuthProvider | null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const provider = resolveRouteAuth(this.reflector, [context.getHandler(), context.getClass()], this.auth);
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
