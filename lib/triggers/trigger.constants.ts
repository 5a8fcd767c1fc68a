export const WEBHOOK_METADATA = 'definable:webhook';
export const CRON_METADATA = 'definable:cron';
export const ON_EVENT_METADATA = 'definable:on-event';
export const BEFORE_REQUEST_METADATA = 'definable:before-request';
export const AFTER_RESPONSE_METADATA = 'definable:after-response';
/** Where the webhook interceptor leaves the {@link TriggerEvent} on the request. */
export const TRIGGER_EVENT_PROPERTY = 'definableTriggerEvent';
