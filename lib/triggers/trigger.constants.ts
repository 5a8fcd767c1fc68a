/** Metadata key of `@Webhook`. */
export const WEBHOOK_METADATA = 'definable:webhook';
/** Metadata key of `@Cron`. */
export const CRON_METADATA = 'definable:cron';
/** Metadata key of `@OnEvent`. */
export const ON_EVENT_METADATA = 'definable:on-event';
/** Metadata key of `@BeforeRequest`. */
export const BEFORE_REQUEST_METADATA = 'definable:before-request';
/** Metadata key of `@AfterResponse`. */
export const AFTER_RESPONSE_METADATA = 'definable:after-response';
/** Where the webhook interceptor leaves the {@link TriggerEvent} on the request. */
export const TRIGGER_EVENT_PROPERTY = 'definableTriggerEvent';
