import { Controller, Type } from '@nestjs/common';
import type { Agent, AgentTriggerHandler, TriggerEvent } from '../agent';
import { Webhook, WebhookOptions } from './trigger.decorators';

/** Handlers of `agent.on({ webhook })` that a module has mounted as routes. */
const mounted = new WeakSet<AgentTriggerHandler>();

/** Whether a webhook handler of `agent.on()` has been mounted as a route. */
export function isMountedWebhook(handler: AgentTriggerHandler): boolean {
  return mounted.has(handler);
}

/**
 * Builds a controller holding the webhooks declared with `agent.on()` by the
 * given agents (by their name in the module), decorated with `@Webhook`, so
 * they are mounted exactly like decorated ones: Nest routing, guards, filters.
 * Returns `undefined` when there are none.
 */
export function createDeclaredWebhooksController(agents: Record<string, Agent>): Type | undefined {
  class DeclaredWebhooks {}
  let count = 0;
  for (const [name, agent] of Object.entries(agents)) {
    for (const { trigger, handler } of agent.triggers) {
      if (!('webhook' in trigger)) continue;
      const methodName = `${name}:${trigger.method ?? 'POST'} ${trigger.webhook}`;
      Object.defineProperty(DeclaredWebhooks.prototype, methodName, {
        value: (event: TriggerEvent) => handler(event),
        writable: true,
        configurable: true,
      });
      const descriptor = Object.getOwnPropertyDescriptor(DeclaredWebhooks.prototype, methodName)!;
      const options: WebhookOptions = {
        method: trigger.method,
        agent: name,
        ...(trigger.auth !== undefined ? { auth: trigger.auth as WebhookOptions['auth'] } : {}),
        ...(trigger.idempotencyKey ? { idempotencyKey: trigger.idempotencyKey } : {}),
        ...(trigger.verify ? { verify: trigger.verify } : {}),
        ...(trigger.mode ? { mode: trigger.mode, maxAttempts: trigger.maxAttempts, retryDelay: trigger.retryDelay } : {}),
      };
      Webhook(trigger.webhook, options)(DeclaredWebhooks.prototype, methodName, descriptor);
      mounted.add(handler);
      count++;
    }
  }
  if (count === 0) return undefined;
  Controller()(DeclaredWebhooks);
  return DeclaredWebhooks;
}
