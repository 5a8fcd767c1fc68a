import { Reflector } from '@nestjs/core';
import type { TriggerEvent } from './trigger-event';
import type { WebhookVerifier } from './webhook-signatures';

/** Stored metadata of `@Webhook`. */
export interface WebhookMetadata {
  path: string;
  method: string;
  agent?: string;
  /** Media types the body may have; default `['application/json']`. */
  contentTypes?: string[];
  /** The delivery's idempotency key (default: the `Idempotency-Key` header). */
  idempotencyKey?: (event: TriggerEvent) => string | string[] | undefined | null;
  /** Checks the delivery's signature over its raw body before the handler runs. */
  verify?: WebhookVerifier;
  /** `'async'`: answer 202 once the delivery is recorded; handle it from the durable queue. */
  mode?: 'sync' | 'async';
  maxAttempts?: number;
  retryDelay?: number;
}

/** Stored metadata of `@Cron`. */
export interface CronMetadata {
  expression: string;
  timezone?: string;
  overlap?: 'skip' | 'allow';
  name?: string;
  agent?: string;
}

/** Stored metadata of one `@OnEvent` (a method may carry several). */
export interface OnEventMetadata {
  event: string;
  agent?: string;
}

/** Stored metadata of `@BeforeRequest` / `@AfterResponse`. */
export interface HookMetadata {
  agent?: string;
}

// Fixed keys (not generated ones): they are stable across copies of the package and readable in a debugger.
/** Reads and writes `@Webhook` metadata. */
export const WebhookMeta = Reflector.createDecorator<WebhookMetadata>({ key: 'definable:webhook' });
/** Reads and writes `@Cron` metadata. */
export const CronMeta = Reflector.createDecorator<CronMetadata>({ key: 'definable:cron' });
/** Reads and writes `@OnEvent` metadata: a list, so the decorator stacks. */
export const OnEventMeta = Reflector.createDecorator<OnEventMetadata[]>({ key: 'definable:on-event' });
/** Reads and writes `@BeforeRequest` metadata. */
export const BeforeRequestMeta = Reflector.createDecorator<HookMetadata>({ key: 'definable:before-request' });
/** Reads and writes `@AfterResponse` metadata. */
export const AfterResponseMeta = Reflector.createDecorator<HookMetadata>({ key: 'definable:after-response' });

/** Where the webhook interceptor leaves the `TriggerEvent` on the request. */
export const TRIGGER_EVENT_PROPERTY = 'definableTriggerEvent';
