import { Inject, Injectable, Optional } from '@nestjs/common';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { RunEvent } from '../../agent';
import { errorMessage } from '../../agent/errors';
import type { ProbedEnd, ProbedStep, ProbeScope } from '../../agent/run/run-probe';
import { DEFINABLE_OPTIONS } from '../definable.module-definition';
import type { DefinableModuleOptions } from '../definable-module.options';
import type { TracingOptions } from './tracing-options';

/** Who a traced run is: what the run span is named and tagged with. */
export interface TracedRun {
  agent: string;
  agentId: string;
  model: string;
  provider: string;
  trigger: string;
  runId: string;
  sessionId: string;
  input: string;
  /** Incoming headers carrying a W3C trace context (`traceparent`), used when no span is current. */
  carrier?: Record<string, unknown>;
}

const TRACER_NAME = 'nestjs-definable';

/**
 * The module's OpenTelemetry traces, on `@opentelemetry/api` only: the app
 * installs and registers the SDK and its exporter. One trace per run — the
 * `invoke_agent <agent>` span, a child of the current span (an instrumented
 * HTTP request's) or of an incoming `traceparent`, with a `chat <model>` span
 * per model call, an `execute_tool <tool>` span per tool call and spans for
 * memory recall and update and knowledge search — named and tagged after the
 * OpenTelemetry GenAI semantic conventions, plus `definable.*` attributes.
 * Chat messages get a `<platform> message` span around the run and the reply.
 */
@Injectable()
export class RunTracing {
  private readonly tracer: Tracer;
  private readonly enabled: boolean;
  private readonly recordContent: boolean;

  constructor(@Optional() @Inject(DEFINABLE_OPTIONS) options?: DefinableModuleOptions) {
    const tracing = options?.tracing ?? {};
    this.enabled = tracing.enabled !== false;
    this.recordContent = tracing.recordContent === true;
    this.tracer = trace.getTracer(TRACER_NAME);
  }

  /** The run's span and the probe that adds its children; `undefined` when nothing records (no SDK, or tracing off). */
  begin(run: TracedRun): RunTrace | undefined {
    if (!this.enabled) return undefined;
    let parent = context.active();
    if (run.carrier && trace.getSpan(parent) === undefined) parent = propagation.extract(parent, run.carrier);
    // Attributes only once the span records: without an SDK this is one no-op span and nothing else.
    const span = this.tracer.startSpan(`invoke_agent ${run.agent}`, { kind: SpanKind.INTERNAL }, parent);
    if (!span.isRecording()) return undefined;
    span.setAttributes({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': run.agent,
      'gen_ai.agent.id': run.agentId,
      'gen_ai.conversation.id': run.sessionId,
      'gen_ai.request.model': run.model,
      'gen_ai.provider.name': run.provider,
      'definable.agent': run.agent,
      'definable.trigger': run.trigger,
      'definable.run_id': run.runId,
      'definable.session_id': run.sessionId,
    });
    if (this.recordContent) span.setAttribute('gen_ai.input.messages', JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: run.input }] }]));
    return new RunTrace(this.tracer, span, trace.setSpan(parent, span), this.recordContent);
  }

  /**
   * Runs `fn` inside a new span (a child of the current one, or a root), ended
   * when `fn` settles; a rejection sets the span's error status. Without an
   * SDK it just runs `fn`. The chat pipeline wraps each message and its reply.
   */
  async inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
    if (!this.enabled) return fn();
    const span = this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes });
    if (!span.isRecording()) return fn();
    try {
      return await context.with(trace.setSpan(context.active(), span), fn);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
}

/** One traced run: its span, and the probe hook that makes its children. */
export class RunTrace {
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    /** The context with the run's span current. */
    readonly context: Context,
    private readonly recordContent: boolean,
  ) {}

  /** Starts the span of a step of the run (a child of the run's span). */
  begin(step: ProbedStep): ProbeScope {
    const { name, kind, attributes } = this.describe(step);
    const span = this.tracer.startSpan(name, { kind, attributes }, this.context);
    const inside = trace.setSpan(this.context, span);
    return {
      within: (fn) => context.with(inside, fn),
      end: (outcome) => {
        this.finish(span, step, outcome);
        span.end();
      },
    };
  }

  /** Ends the run's span with its terminal event's figures and status. */
  end(event: RunEvent): void {
    if (event.event === 'RunCompleted' || event.event === 'RunError' || event.event === 'RunCancelled') {
      const { output } = event;
      const { metrics } = output;
      this.span.setAttributes({
        'gen_ai.response.model': output.model,
        'gen_ai.usage.input_tokens': metrics.inputTokens,
        'gen_ai.usage.output_tokens': metrics.outputTokens,
        'definable.status': output.status,
        'definable.tool_calls': output.toolCalls.length,
        ...(metrics.cost === null ? {} : { 'definable.cost_usd': metrics.cost }),
        ...(metrics.timeToFirstToken === null ? {} : { 'definable.time_to_first_token': metrics.timeToFirstToken }),
      });
      if (this.recordContent && event.event === 'RunCompleted') {
        const content = typeof output.content === 'string' ? output.content : JSON.stringify(output.content);
        this.span.setAttribute('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content }] }]));
      }
      if (event.event === 'RunError') {
        this.span.setAttribute('error.type', event.error.code);
        this.span.setStatus({ code: SpanStatusCode.ERROR, message: event.error.message });
      }
    }
    this.span.end();
  }

  /** Ends the run's span for a run that ended without a terminal event: its stream was left (`cancelled`), or it failed outside the loop. */
  abandon(status: 'cancelled' | 'error', error?: unknown): void {
    this.span.setAttribute('definable.status', status);
    if (status === 'error') failed(this.span, error);
    this.span.end();
  }

  private describe(step: ProbedStep): { name: string; kind: SpanKind; attributes: Attributes } {
    switch (step.kind) {
      case 'model':
        return {
          name: `chat ${step.model}`,
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': step.model,
            'gen_ai.provider.name': step.provider,
            'definable.step': step.step,
            'definable.stream': step.stream,
          },
        };
      case 'tool':
        return {
          name: `execute_tool ${step.name}`,
          kind: SpanKind.INTERNAL,
          attributes: {
            'gen_ai.operation.name': 'execute_tool',
            'gen_ai.tool.name': step.name,
            'gen_ai.tool.call.id': step.callId,
            'gen_ai.tool.type': 'function',
            ...(this.recordContent ? { 'gen_ai.tool.call.arguments': JSON.stringify(step.args) ?? '' } : {}),
          },
        };
      case 'knowledge':
        return {
          name: 'definable.knowledge.search',
          kind: SpanKind.INTERNAL,
          attributes: this.recordContent ? { 'definable.knowledge.query': step.query } : {},
        };
      case 'memory.recall':
      case 'memory.update':
        return { name: `definable.${step.kind}`, kind: SpanKind.INTERNAL, attributes: {} };
    }
  }

  private finish(span: Span, step: ProbedStep, outcome: ProbedEnd): void {
    if (outcome.usage) {
      span.setAttributes({ 'gen_ai.usage.input_tokens': outcome.usage.inputTokens, 'gen_ai.usage.output_tokens': outcome.usage.outputTokens });
      if (outcome.usage.cost !== null) span.setAttribute('definable.cost_usd', outcome.usage.cost);
    }
    if (outcome.finishReasons) span.setAttribute('gen_ai.response.finish_reasons', outcome.finishReasons);
    if (outcome.count !== undefined) span.setAttribute('definable.count', outcome.count);
    if (this.recordContent && outcome.output !== undefined) {
      span.setAttribute(step.kind === 'tool' ? 'gen_ai.tool.call.result' : 'gen_ai.output.messages', step.kind === 'tool' ? outcome.output : JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: outcome.output }] }]));
    }
    if (outcome.error !== undefined) failed(span, outcome.error);
  }
}

/** Marks a span failed: error status, `error.type` (the error's code or class), and the exception event. */
function failed(span: Span, error: unknown): void {
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
  span.setAttribute('error.type', code ?? (error instanceof Error ? error.name : 'tool_error'));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  if (error instanceof Error) span.recordException(error);
}
