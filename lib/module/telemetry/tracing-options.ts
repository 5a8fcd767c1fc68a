/** Options of the module's OpenTelemetry traces (`DefinableModule.forRoot({ tracing })`). */
export interface TracingOptions {
  /**
   * Make spans. Default `true`: a run is traced whenever the app registered an
   * OpenTelemetry SDK (without one, `@opentelemetry/api` is a no-op and the
   * module makes nothing). `false` turns tracing off even with an SDK.
   */
  enabled?: boolean;
  /**
   * Record message contents on spans: the run's input and reply
   * (`gen_ai.input.messages` / `gen_ai.output.messages`), each model call's
   * reply, tool arguments and results, the knowledge query. Default `false`:
   * contents can hold personal data; spans carry ids, names and figures only.
   */
  recordContent?: boolean;
}
