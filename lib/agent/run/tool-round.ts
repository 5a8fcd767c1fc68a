import { whenAborted } from '../abort';
import { ModelError } from '../errors';
import type { ToolCallRequest } from '../messages';
import { executeToolCall, ToolOutcome } from '../tools/tool-executor';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import type { RunState } from './run-state';
import { truncate } from './truncate';

/**
 * One tool round: runs a model step's tool calls concurrently, records each
 * as it settles (yielding its events in stream mode), then adds the results
 * to the messages in the order of the calls.
 */
export async function* toolRound(setup: AgentSetup, run: RunState, sink: EventSink, calls: ToolCallRequest[]): Stage {
  const parsed = calls.map((call) => parseArguments(call));
  // Aborted when the run is cancelled, or when the consumer leaves the stream while tools run.
  const controller = new AbortController();
  const { signal } = run;
  const forward = () => controller.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  const outcomes: ToolOutcome[] = new Array(calls.length);
  const pending = new Map<number, Promise<number>>();
  calls.forEach((call, i) => {
    const ctx = {
      runId: run.runId,
      sessionId: run.sessionId,
      userId: run.userId,
      agentId: setup.id,
      toolCallId: call.id,
      signal: controller.signal,
      metadata: run.metadata,
    };
    const scope = run.probe?.begin({ kind: 'tool', name: call.name, callId: call.id, args: parsed[i] });
    const tool = run.tools.get(call.name);
    const execution = scope ? scope.within(() => executeToolCall(tool, call, parsed[i], ctx)) : executeToolCall(tool, call, parsed[i], ctx);
    pending.set(
      i,
      execution.then((outcome) => {
        outcomes[i] = outcome;
        scope?.end(outcome.ok ? { output: outcome.result } : { error: outcome.error });
        return i;
      }),
    );
  });
  const aborted = whenAborted(controller.signal);
  try {
    for (let i = 0; i < calls.length && sink.active; i++) {
      yield sink.event({ event: 'ToolCallStarted', toolName: calls[i].name, toolCallId: calls[i].id, args: parsed[i] });
    }
    while (pending.size > 0) {
      const i = await Promise.race([...pending.values(), aborted.promise]);
      pending.delete(i);
      const outcome = outcomes[i];
      const call = calls[i];
      run.toolCalls.push({
        id: call.id,
        name: call.name,
        args: outcome.args,
        ...(outcome.ok ? { result: outcome.result } : { error: outcome.error }),
        duration: outcome.duration,
      });
      if (sink.active) {
        yield outcome.ok
          ? sink.event({ event: 'ToolCallCompleted', toolName: call.name, toolCallId: call.id, result: outcome.result })
          : sink.event({ event: 'ToolCallError', toolName: call.name, toolCallId: call.id, error: outcome.error });
      }
    }
  } finally {
    aborted.dispose();
    signal?.removeEventListener('abort', forward);
    if (pending.size > 0) controller.abort(new Error('The run ended before its tools finished.'));
  }
  // Results go back in the order of the calls, whatever order they finished in.
  calls.forEach((call, i) => {
    const outcome = outcomes[i];
    run.messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: outcome.ok ? outcome.result : outcome.error });
  });
}

/** Malformed tool-call JSON is a provider failure: the model's answer cannot be understood. */
function parseArguments(call: ToolCallRequest): unknown {
  if (call.arguments.trim() === '') return {};
  try {
    return JSON.parse(call.arguments);
  } catch {
    throw new ModelError('model_bad_response', `The model sent malformed JSON arguments for tool "${call.name}": ${truncate(call.arguments, 200)}`);
  }
}
