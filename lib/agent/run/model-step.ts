import { throwIfAborted } from '../abort';
import { AgentError } from '../errors';
import type { ToolCallRequest } from '../messages';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import type { RunState } from './run-state';

/**
 * One model call. Folds the chunks into the run as they arrive (content,
 * reasoning, usage, audio; content and reasoning deltas are yielded at once
 * in stream mode), then adds the assistant message. Returns the tool calls
 * the model asked for: none means the reply is final.
 */
export async function* modelStep(setup: AgentSetup, run: RunState, sink: EventSink): Stage<ToolCallRequest[]> {
  run.content = '';
  const calls: ToolCallRequest[] = [];
  for await (const chunk of setup.model.invoke({
    messages: run.system.length ? [...run.system, ...run.messages] : run.messages,
    tools: setup.toolDefinitions,
    responseFormat: run.responseFormat,
    // The model streams when events are wanted; run() takes its answer at once.
    stream: sink.active,
    signal: run.signal,
  })) {
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
        break;
      case 'audio':
        run.audio.push({ data: chunk.data, format: chunk.format, transcript: chunk.transcript });
        break;
    }
  }
  throwIfAborted(run.signal);
  const { content } = run;
  run.messages.push({ role: 'assistant', content: content === '' ? null : content, ...(calls.length ? { toolCalls: calls } : {}) });
  return calls;
}

/** The error that ends a run whose model still calls tools after `maxSteps` model calls. */
export function maxStepsExceeded(maxSteps: number): AgentError {
  return new AgentError(
    'max_steps_exceeded',
    `The model was still calling tools after ${maxSteps} model calls (maxSteps). Raise maxSteps, or check that the tools' results let the model finish.`,
  );
}
