import { throwIfAborted } from '../abort';
import { AgentError } from '../errors';
import type { ToolCallRequest } from '../messages';
import type { ModelRequest, ModelUsage } from '../models/model';
import { iterateWithin } from './run-probe';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import type { RunState } from './run-state';

/**
 * One model call. Folds the chunks into the run as they arrive (content,
 * reasoning, usage, audio; content and reasoning deltas are yielded at once
 * in stream mode), then adds the assistant message. Returns the tool calls
 * the model asked for: none means the reply is final.
 */
export async function* modelStep(setup: AgentSetup, run: RunState, sink: EventSink, step: number): Stage<ToolCallRequest[]> {
  const { probe } = run;
  if (probe?.beforeModelCall) await probe.beforeModelCall(step);
  const scope = probe?.begin({ kind: 'model', step, model: setup.model.id, provider: setup.model.provider, stream: sink.active });
  run.content = '';
  const calls: ToolCallRequest[] = [];
  const request: ModelRequest = {
    messages: run.system.length ? [...run.system, ...run.messages] : run.messages,
    tools: run.toolDefinitions,
    responseFormat: run.responseFormat,
    // The model streams when events are wanted; run() takes its answer at once.
    stream: sink.active,
    signal: run.signal,
  };
  // What this call alone used, for the probe (the run's usage adds up every call).
  let usage: ModelUsage | undefined;
  let finish: string | undefined;
  let ended = false;
  try {
    for await (const chunk of scope ? iterateWithin(() => setup.model.invoke(request), scope) : setup.model.invoke(request)) {
      switch (chunk.type) {
        case 'content':
          run.firstTokenAt ??= performance.now();
          run.content += chunk.delta;
          if (sink.active) yield sink.event({ event: 'RunContent', content: chunk.delta });
          break;
        case 'reasoning':
          run.firstTokenAt ??= performance.now();
          run.reasoning += chunk.delta;
          if (sink.active) yield sink.event({ event: 'ReasoningStep', content: chunk.delta });
          break;
        case 'tool_call':
          calls.push({ id: chunk.id, name: chunk.name, arguments: chunk.arguments });
          break;
        case 'usage':
          run.usageReported = true;
          run.usage.inputTokens += chunk.usage.inputTokens;
          run.usage.outputTokens += chunk.usage.outputTokens;
          if (chunk.usage.reasoningTokens !== undefined) run.reasoningTokens = (run.reasoningTokens ?? 0) + chunk.usage.reasoningTokens;
          if (scope) usage = addUsage(usage, chunk.usage);
          break;
        case 'audio':
          run.audio.push({ data: chunk.data, format: chunk.format, transcript: chunk.transcript });
          break;
        case 'finish':
          finish = chunk.reason;
          break;
      }
    }
    throwIfAborted(run.signal);
    if (scope) {
      ended = true;
      scope.end({
        usage: usage && { ...usage, cost: setup.model.cost(usage) },
        finishReasons: [finish ?? (calls.length ? 'tool_calls' : 'stop')],
        output: run.content,
      });
    }
  } catch (error) {
    if (scope) {
      ended = true;
      scope.end({ error, usage: usage && { ...usage, cost: setup.model.cost(usage) } });
    }
    throw error;
  } finally {
    // The consumer left the stream mid-answer.
    if (scope && !ended) scope.end({ error: new AgentError('cancelled', 'The stream was left during the model call.') });
  }
  const { content } = run;
  run.messages.push({ role: 'assistant', content: content === '' ? null : content, ...(calls.length ? { toolCalls: calls } : {}) });
  return calls;
}

function addUsage(total: ModelUsage | undefined, usage: ModelUsage): ModelUsage {
  if (!total) return { ...usage };
  return {
    inputTokens: total.inputTokens + usage.inputTokens,
    outputTokens: total.outputTokens + usage.outputTokens,
    ...(usage.reasoningTokens !== undefined || total.reasoningTokens !== undefined ? { reasoningTokens: (total.reasoningTokens ?? 0) + (usage.reasoningTokens ?? 0) } : {}),
  };
}

/** The error that ends a run whose model still calls tools after `maxSteps` model calls. */
export function maxStepsExceeded(maxSteps: number): AgentError {
  return new AgentError(
    'max_steps_exceeded',
    `The model was still calling tools after ${maxSteps} model calls (maxSteps). Raise maxSteps, or check that the tools' results let the model finish.`,
  );
}
