/** Metadata key of `@Public()`. */
export const IS_PUBLIC_KEY = 'definable:public';
/** Metadata key of a route's own auth provider (or `false` for none). */
export const ROUTE_AUTH_KEY = 'definable:route-auth';
/** Where the guard leaves the authenticated {@link AuthContext} on the request. */
export const AUTH_CONTEXT_PROPERTY = 'definableAuth';
/** DI token of the module-wide auth provider (`null` when auth is off). */
export const DEFINABLE_AUTH = Symbol('DEFINABLE_AUTH');
