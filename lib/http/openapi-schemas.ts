/**
 * OpenAPI 3.0 descriptions of the built-in routes' bodies, written from
 * `RunRequestBody`, `WireRunOutput` and `ErrorBody` (keep them in step).
 * Plain objects: no `@nestjs/swagger` needed to hold them.
 */

/** A schema object, in the OpenAPI 3.0 dialect. */
type Schema = Record<string, unknown>;

const nullableString = (description: string): Schema => ({ type: 'string', minLength: 1, nullable: true, description });

/** `POST /run`'s body (`RunRequestBody`). */
export const RUN_REQUEST_SCHEMA: Schema = {
  type: 'object',
  required: ['input'],
  properties: {
    input: { type: 'string', minLength: 1, description: 'The message to the agent.', example: 'What is the capital of France?' },
    session_id: nullableString('Continue this session; a new one is created when left out.'),
    user_id: nullableString('Run for this user. With auth on: your own id, unless you are a trusted service (API keys are).'),
    agent: nullableString('A named agent of the module; default: the default agent.'),
    stream: { type: 'boolean', nullable: true, description: 'Answer with Server-Sent Events (as `Accept: text/event-stream` does).' },
    background: { type: 'boolean', nullable: true, description: 'Start the run and answer 202 `{ run_id, session_id, status }` at once; follow it with `GET /runs/{id}` and `GET /runs/{id}/events`.' },
    metadata: { type: 'object', additionalProperties: true, nullable: true, description: 'Free-form data handed to hooks and tools.' },
  },
};

/** The `error` object of {@link ERROR_BODY_SCHEMA}, also a failed run's `error`. */
const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: 'Stable, machine-readable, e.g. `invalid_request`, `unauthorized`, `model_timeout`.' },
    message: { type: 'string', description: 'What went wrong and what to do.' },
  },
};

/** `/run`'s JSON answer and the `output` of the `RunCompleted` event (`WireRunOutput`). */
export const RUN_OUTPUT_SCHEMA: Schema = {
  type: 'object',
  required: [
    'content',
    'content_type',
    'reasoning_content',
    'run_id',
    'session_id',
    'user_id',
    'agent',
    'status',
    'model',
    'metrics',
    'tool_calls',
    'references',
  ],
  properties: {
    content: { description: 'The answer: text, or the structured output when the agent has an output schema (`content_type: "json"`).' },
    content_type: { type: 'string', enum: ['text', 'json'] },
    reasoning_content: { type: 'string', nullable: true },
    run_id: { type: 'string' },
    session_id: { type: 'string' },
    user_id: { type: 'string', nullable: true },
    agent: { type: 'string', description: 'The name of the agent that ran.' },
    status: { type: 'string', enum: ['completed', 'error', 'cancelled', 'paused'] },
    model: { type: 'string' },
    metrics: {
      type: 'object',
      required: ['input_tokens', 'output_tokens', 'total_tokens', 'reasoning_tokens', 'cost', 'duration', 'time_to_first_token'],
      properties: {
        input_tokens: { type: 'integer' },
        output_tokens: { type: 'integer' },
        total_tokens: { type: 'integer' },
        reasoning_tokens: { type: 'integer', nullable: true },
        cost: { type: 'number', nullable: true, description: 'In US dollars, when the model has a known price.' },
        duration: { type: 'number', description: 'Seconds.' },
        time_to_first_token: { type: 'number', nullable: true, description: 'Seconds.' },
      },
    },
    tool_calls: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'name', 'args'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          args: { description: 'The arguments the model passed.' },
          result: { type: 'string' },
          error: { type: 'string' },
        },
      },
    },
    references: {
      type: 'array',
      description: 'Knowledge passages the answer drew on.',
      items: {
        type: 'object',
        required: ['id', 'score', 'text'],
        properties: { id: { type: 'string' }, score: { type: 'number' }, source: { type: 'string' }, text: { type: 'string' } },
      },
    },
    error: { ...ERROR_SCHEMA, description: 'Why a run that did not complete ended.' },
    pending_approvals: {
      type: 'array',
      items: { type: 'object' },
      description: 'When `status` is `paused`: the tool calls waiting for a decision (`POST /runs/{run_id}/approvals/{approval_id}`; their shape as in `GET /approvals`).',
    },
  },
};

/** Every error's body (`ErrorBody`): `{ "error": { "code", "message" } }`. */
export const ERROR_BODY_SCHEMA: Schema = {
  type: 'object',
  required: ['error'],
  properties: { error: ERROR_SCHEMA },
};

/** `GET /health`'s answer; the module's `health` option adds fields. */
export const HEALTH_SCHEMA: Schema = {
  type: 'object',
  required: ['status', 'agent', 'agents', 'model', 'uptime_s', 'interfaces'],
  additionalProperties: true,
  properties: {
    status: { type: 'string', example: 'ok' },
    agent: { type: 'string', description: 'The default agent.' },
    agents: { type: 'array', items: { type: 'string' } },
    model: { type: 'string', description: "The default agent's model." },
    uptime_s: { type: 'integer' },
    interfaces: {
      type: 'array',
      description: 'Each messaging interface and its state.',
      items: {
        type: 'object',
        required: ['name', 'platform', 'state', 'restarts', 'pending'],
        properties: {
          name: { type: 'string' },
          platform: { type: 'string' },
          state: { type: 'string' },
          restarts: { type: 'integer' },
          nextAttemptAt: { type: 'string', format: 'date-time' },
          lastError: { type: 'string' },
          pending: { type: 'integer' },
        },
      },
    },
  },
};

const SSE_SCHEMA: Schema = {
  type: 'string',
  description:
    'One Server-Sent Event per run event: `id:<n>`, `event:<name>` (RunStarted, RunContent, ToolCallStarted, …) and `data:<JSON, snake_case>`, ' +
    'ending with RunCompleted (its `output` is the JSON answer, without a text `content`, which the RunContent deltas carried), RunError or RunCancelled. ' +
    'The run ids come in RunStarted and the terminal event only.',
  example: 'id:2\nevent:RunContent\ndata:{"content":"Paris."}\n\n',
};

/** A response entry as `@ApiResponse` stores it (without its status). */
export interface ResponseDoc {
  description: string;
  content?: Record<string, { schema: Schema; example?: unknown }>;
}

const errorResponse = (description: string, code: string, message: string): ResponseDoc => ({
  description,
  content: { 'application/json': { schema: ERROR_BODY_SCHEMA, example: { error: { code, message } } } },
});

/** `/run`'s responses by status, 401 aside (it depends on the app's auth, see {@link UNAUTHORIZED_RESPONSE}). */
export const RUN_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: {
    description:
      'The run\'s output as JSON; or, with `"stream": true` or `Accept: text/event-stream`, its events as Server-Sent Events (the status is sent before the run starts).',
    content: { 'application/json': { schema: RUN_OUTPUT_SCHEMA }, 'text/event-stream': { schema: SSE_SCHEMA } },
  },
  400: errorResponse(
    'Bad request: malformed JSON (`invalid_json`), a missing, empty or mistyped field (`invalid_request`), an unknown agent (`unknown_agent`), bad input or media (`invalid_input`, `unsupported_media`, `file_read`).',
    'invalid_request',
    '"input" is required and must be a string.',
  ),
  202: {
    description: 'With `"background": true`: the run was started; follow it with `GET /runs/{run_id}/events`.',
    content: {
      'application/json': {
        schema: { type: 'object', properties: { run_id: { type: 'string' }, session_id: { type: 'string' }, status: { type: 'string', enum: ['queued', 'running', 'completed', 'error', 'cancelled', 'interrupted', 'failed'] } } },
      },
    },
  },
  403: errorResponse(
    'A body `user_id` that is not yours (`forbidden`). Sessions are keyed per user: another user\'s `session_id` is a new session of yours (`session_forbidden` only from a custom session store written before per-user keys).',
    'forbidden',
    '"user_id" must be your own or left out; only trusted services may act for other users.',
  ),
  409: errorResponse(
    'The `Idempotency-Key` was used before with a different request (`idempotency_mismatch`).',
    'idempotency_mismatch',
    'This Idempotency-Key was already used with a different request: use a new key for a new request, or resend the same body to get the first answer.',
  ),
  413: errorResponse('The body is over the module\'s `bodyLimit` (`payload_too_large`).', 'payload_too_large', 'The request body is too large.'),
  415: errorResponse('The body is not JSON (`unsupported_media_type`): send `Content-Type: application/json`.', 'unsupported_media_type', 'Unsupported Media Type'),
  500: errorResponse('A bug (`internal`); the server log has the details.', 'internal', 'Internal error; the server log has the details.'),
  502: errorResponse(
    'The model provider failed or misbehaved (`model_*`, `max_steps_exceeded`, `output_validation`).',
    'model_timeout',
    'The model did not answer in time.',
  ),
  503: errorResponse(
    'The server is shutting down (`shutting_down`: retry against another instance) or the session store failed (`session_store`).',
    'shutting_down',
    'The server is shutting down; retry against another instance.',
  ),
};

/** The 401 of a route protected by an auth provider. */
export const UNAUTHORIZED_RESPONSE: ResponseDoc = errorResponse(
  'No or bad credentials (`unauthorized`); the message says what to send.',
  'unauthorized',
  'Authentication required: send an API key in the X-API-Key header (or Authorization: Bearer <key>).',
);

/** `/health`'s responses by status. */
export const HEALTH_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: { description: 'The service is up: its agents, model, uptime and messaging interfaces.', content: { 'application/json': { schema: HEALTH_SCHEMA } } },
};

/** `GET /runs/{id}`'s answer (`WireRun`). */
export const RUN_RECORD_SCHEMA: Schema = {
  type: 'object',
  required: ['run_id', 'status', 'agent', 'user_id', 'session_id', 'trigger', 'background', 'created_at', 'ended_at', 'last_event_id', 'output', 'error'],
  properties: {
    run_id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'paused', 'completed', 'error', 'cancelled', 'interrupted', 'failed'] },
    agent: { type: 'string' },
    user_id: { type: 'string', nullable: true },
    session_id: { type: 'string' },
    trigger: { type: 'string', description: 'The entry point: `POST /run`, a webhook route, `cron(...)`, `event(...)`, `telegram(<chat>)`…' },
    background: { type: 'boolean' },
    created_at: { type: 'integer', description: 'Milliseconds since the epoch.' },
    ended_at: { type: 'integer', nullable: true },
    last_event_id: { type: 'integer', description: 'The id of its last event so far (`Last-Event-ID` to resume after it).' },
    output: { ...RUN_OUTPUT_SCHEMA, nullable: true },
    error: { ...ERROR_SCHEMA, nullable: true },
  },
};

const RUN_NOT_FOUND = errorResponse(
  'No run with this id that you can see (`run_not_found`): unknown, deleted by retention, or another user\'s.',
  'run_not_found',
  'No run "…" that you can see: check the run_id (runs are kept for a limited time).',
);

/** `GET /runs/{id}` and `POST /runs/{id}/cancel`'s responses by status. */
export const RUN_RECORD_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: { description: 'The run: status, trigger, times, and its output once it ended.', content: { 'application/json': { schema: RUN_RECORD_SCHEMA } } },
  404: RUN_NOT_FOUND,
};

/** `GET /runs/{id}/events`'s responses by status. */
export const RUN_EVENTS_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: {
    description: 'The run\'s events as Server-Sent Events, recorded then live, until its end; each frame has `id: <seq>` (send `Last-Event-ID` to get only the events after it).',
    content: { 'text/event-stream': { schema: SSE_SCHEMA } },
  },
  400: errorResponse('A `Last-Event-ID` that is not a whole number (`invalid_request`).', 'invalid_request', 'Last-Event-ID must be the id of an event of this run.'),
  404: RUN_NOT_FOUND,
};

/** An approval (`WireApproval`). */
export const APPROVAL_SCHEMA: Schema = {
  type: 'object',
  required: ['approval_id', 'run_id', 'agent', 'session_id', 'user_id', 'tool_name', 'tool_call_id', 'args', 'status', 'requested_at', 'expires_at'],
  properties: {
    approval_id: { type: 'string', description: '8 characters of Crockford base32.' },
    run_id: { type: 'string' },
    agent: { type: 'string' },
    session_id: { type: 'string' },
    user_id: { type: 'string', nullable: true, description: "The run's user: by default the one who may decide." },
    tool_name: { type: 'string' },
    tool_call_id: { type: 'string' },
    args: { description: 'The arguments the model called the tool with.' },
    status: { type: 'string', enum: ['pending', 'approved', 'rejected', 'expired'] },
    requested_at: { type: 'integer', description: 'Milliseconds since the epoch.' },
    expires_at: { type: 'integer', description: 'Milliseconds since the epoch; undecided by then, the call is rejected as expired.' },
    decided_at: { type: 'integer' },
    decided_by: { type: 'string' },
    reason: { type: 'string' },
  },
};

/** The body of `POST /runs/{id}/approvals/{approvalId}`. */
export const DECISION_REQUEST_SCHEMA: Schema = {
  type: 'object',
  required: ['approve'],
  properties: {
    approve: { type: 'boolean' },
    reason: { type: 'string', maxLength: 2000, description: 'Given to the model with a rejection: "The user rejected this call: <reason>".' },
  },
};

const APPROVAL_NOT_FOUND = errorResponse(
  'No such approval on this run that you can see (`approval_not_found`): unknown, the run went on already, or another user\'s.',
  'approval_not_found',
  'No approval "4F2K7Q9Z" on run "…" that you can see: check both ids (GET /approvals lists yours).',
);

/** `POST /runs/{id}/approvals/{approvalId}`'s responses by status. */
export const DECISION_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: {
    description: 'Decided. `continued`: every approval of the run is decided and it went on (follow it with `GET /runs/{id}/events`).',
    content: {
      'application/json': {
        schema: { type: 'object', required: ['approval', 'continued'], properties: { approval: APPROVAL_SCHEMA, continued: { type: 'boolean' } } },
      },
    },
  },
  400: errorResponse('A body that is not `{ "approve": true | false, "reason"? }` (`invalid_request`).', 'invalid_request', '"approve" is required and must be true or false.'),
  403: errorResponse("The server's `approvals.approver` rule does not let you decide it (`approval_forbidden`).", 'approval_forbidden', 'You may not decide approval "4F2K7Q9Z".'),
  404: APPROVAL_NOT_FOUND,
  409: errorResponse('Decided already, or expired: a decision is taken once (`approval_decided`).', 'approval_decided', 'Approval "4F2K7Q9Z" was approved by alice: a decision is taken once.'),
  415: errorResponse('The body is not JSON (`unsupported_media_type`).', 'unsupported_media_type', 'Unsupported Media Type'),
};

/** `GET /approvals`'s responses by status. */
export const APPROVALS_RESPONSES: Readonly<Record<string, ResponseDoc>> = {
  200: {
    description: 'The approvals you may decide (your runs\', all for a trusted caller, those the approver rule allows), oldest first, at most 100.',
    content: { 'application/json': { schema: { type: 'object', required: ['approvals'], properties: { approvals: { type: 'array', items: APPROVAL_SCHEMA } } } } },
  },
  400: errorResponse('A `status` other than pending, approved, rejected or expired (`invalid_request`).', 'invalid_request', '"status" must be pending, approved, rejected or expired.'),
};
