export type { TriggerEvent, TriggerResult } from './trigger-event';
export { AfterResponse, AgentCron, AgentEvent, BeforeRequest, Cron, OnEvent, TriggerEventParam, Webhook } from './trigger.decorators';
export type { CronOptions, HookOptions, OnEventOptions, WebhookMetadata, WebhookOptions } from './trigger.decorators';
export { TriggerExecutor, TriggerResultError } from './trigger.executor';
export { TriggerExplorer } from './trigger.explorer';
export { TriggerRegistry } from './trigger.registry';
export type { TriggerInfo } from './trigger.registry';
export { WebhookInterceptor } from './webhook.interceptor';
