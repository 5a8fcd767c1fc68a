import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { AuthContext as AuthContextType } from './auth-provider';
import { AUTH_CONTEXT_PROPERTY, IS_PUBLIC_KEY } from './auth.constants';

/**
 * Opens a route (or every route of a controller) guarded by
 * `DefinableAuthGuard` to unauthenticated requests.
 */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);

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
