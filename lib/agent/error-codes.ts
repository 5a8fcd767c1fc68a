// Apart from errors.ts so that run-output.ts can name the codes without importing the
// error classes, which themselves carry a RunOutput (no import circle).

/**
 * Machine-readable codes of the failures a run can end with.
 *
 * - `model_auth`: the provider refused the credentials (401/403).
 * - `model_rate_limit`: the provider kept answering 429 after the retries.
 * - `model_unavailable`: the provider answered 5xx after the retries.
 * - `model_timeout`: the provider did not answer within the model's `timeout`, or went silent mid-answer for its `idleTimeout`.
 * - `model_connection`: the provider could not be reached.
 * - `model_bad_request`: the provider rejected the request (400/404/422).
 * - `model_stream_error`: the provider's stream carried an error.
 * - `model_stream_interrupted`: the provider's stream broke off (connection dropped, or ended without a `finish_reason`) before the answer was complete.
 * - `model_bad_response`: the provider's answer could not be understood (e.g. malformed tool-call JSON).
 * - `max_steps_exceeded`: the model kept calling tools past `maxSteps`.
 * - `output_validation`: the reply did not match `outputSchema`.
 * - `tools_unavailable`: a toolset (e.g. an MCP server of `mcpTools`) could not give its tools, or two tools share a name.
 * - `unsupported_media`: an input (image, audio, video) the model cannot take.
 * - `file_read`: a file could not be read (unknown type, too large, corrupt).
 * - `invalid_input`: the run's input or options are malformed.
 * - `session_forbidden`: a session store not keyed by user answered with another user's session.
 * - `session_store`: the session store failed.
 * - `cancelled`: the run's `signal` was aborted.
 * - `shutting_down`: the host (e.g. the Nest app) refused or cancelled the run because it is shutting down.
 * - `quota_exceeded`: a quota or budget of the host (requests per window, tokens or cost per day) is used up; `QuotaExceededError` says which and when to retry.
 * - `quota_unavailable`: the host could not read its quota store, and fails closed.
 * - `interrupted`: the process running the run stopped (a crash, or a deploy that could not wait) before the run ended; recorded by a run store.
 * - `internal`: a bug; please report it.
 */
export type AgentErrorCode =
  | 'model_auth'
  | 'model_rate_limit'
  | 'model_unavailable'
  | 'model_timeout'
  | 'model_connection'
  | 'model_bad_request'
  | 'model_stream_error'
  | 'model_stream_interrupted'
  | 'model_bad_response'
  | 'max_steps_exceeded'
  | 'output_validation'
  | 'tools_unavailable'
  | 'unsupported_media'
  | 'file_read'
  | 'invalid_input'
  | 'session_forbidden'
  | 'session_store'
  | 'cancelled'
  | 'shutting_down'
  | 'quota_exceeded'
  | 'quota_unavailable'
  | 'interrupted'
  | 'internal';
