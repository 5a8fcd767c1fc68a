import { Body, Controller, Headers, HttpCode, Post, Type } from '@nestjs/common';
import type { MessagingInterface } from './messaging-interface';

/** Interfaces whose routes a module has mounted. */
const mounted = new WeakSet<MessagingInterface>();

/** Whether `DefinableModule.forRoot()` mounted this interface's routes. */
export function areRoutesMounted(platform: MessagingInterface): boolean {
  return mounted.has(platform);
}

/**
 * A controller holding the HTTP routes the interfaces need (Telegram's webhook),
 * so they live inside Nest routing on the app's own server. `undefined` when
 * no interface needs one.
 */
export function createInterfaceRoutesController(interfaces: MessagingInterface[]): Type | undefined {
  class InterfaceRoutes {}
  let count = 0;
  for (const platform of interfaces) {
    const routes = platform.routes?.() ?? [];
    for (const route of routes) {
      const name = `${platform.name}:${route.method} ${route.path}`;
      Object.defineProperty(InterfaceRoutes.prototype, name, {
        value: (body: unknown, headers: Record<string, string | string[] | undefined>) => route.handle(body, headers),
        writable: true,
        configurable: true,
      });
      const descriptor = Object.getOwnPropertyDescriptor(InterfaceRoutes.prototype, name)!;
      Post(route.path)(InterfaceRoutes.prototype, name, descriptor);
      HttpCode(200)(InterfaceRoutes.prototype, name, descriptor);
      Body()(InterfaceRoutes.prototype, name, 0);
      Headers()(InterfaceRoutes.prototype, name, 1);
      count++;
    }
    if (routes.length) mounted.add(platform);
  }
  if (count === 0) return undefined;
  Controller()(InterfaceRoutes);
  return InterfaceRoutes;
}
