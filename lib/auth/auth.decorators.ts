import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthContext as AuthContextType, AuthProvider } from './auth-provider';
import { AUTH_CONTEXT_PROPERTY, IS_PUBLIC_KEY, ROUTE_AUTH_KEY } from './auth.constants';

/**
 * Opens a route (or every route of a controller) guarded by
 * `DefinableAuthGuard` to unauthenticated requests.
 */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);

/** Reads and writes the auth of a route or controller (`@AgentAuth`, `@Webhook(path, { auth })`). */
export const RouteAuthMeta = Reflector.createDecorator<AuthProvider | false>({ key: ROUTE_AUTH_KEY });

/**
 * Sets the auth of every `DefinableAuthGuard` route of a controller (on the
 * class) or of one route (on a method): a provider replaces the module's,
 * `false` opens. The most specific wins: the route's (`@AgentAuth` on the
 * method, `@Webhook(path, { auth })`, `@Public()`), then the controller's,
 * then the module's — as `@nestjs/throttler`'s overrides do.
 *
 * @example
 * @AgentAuth(new ApiKeyAuth({ keys: [process.env.PARTNER_KEY!] }))
 * @Controller('partners')
 * class PartnerHooks {
 *   @Webhook('/orders') order(event: TriggerEvent) { return 'A partner order came in.'; }
 * }
 */
export function AgentAuth(auth: AuthProvider | false): ClassDecorator & MethodDecorator {
  if (auth !== false && (typeof auth !== 'object' || auth === null || typeof auth.authenticate !== 'function')) {
    throw new TypeError('@AgentAuth() takes an auth provider (ApiKeyAuth, JwtAuth, ...) or false to open the routes.');
  }
  return RouteAuthMeta(auth);
}

/** Who the request was authenticated as (see `@AuthContext()`). */
export type AuthContext = AuthContextType;

/**
 * Injects the request's {@link AuthContext} into a handler parameter
 * (`undefined` on a public route or when auth is off).
 *
 * @example
 * @Webhook('/ping') ping(event: TriggerEvent, @AuthContext() auth?: AuthContext) {}
 */
export const AuthContext = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthContextType | undefined =>
    ctx.switchToHttp().getRequest()?.[AUTH_CONTEXT_PROPERTY],
);

/**
 * The auth provider that applies to a route: the first level (handler, then
 * class) that says anything decides — `@Public()` or `false` opens it, a
 * provider replaces the module's — else the module's (`null`: none).
 */
export function resolveRouteAuth(reflector: Reflector, targets: Function[], moduleAuth: AuthProvider | null): AuthProvider | null {
  for (const target of targets) {
    if (reflector.get<boolean | undefined>(IS_PUBLIC_KEY, target)) return null;
    const own = reflector.get(RouteAuthMeta, target);
    if (own !== undefined) return own || null;
  }
  return moduleAuth;
}
