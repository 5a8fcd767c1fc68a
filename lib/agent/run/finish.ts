import type { z } from 'zod';
import { abortReason } from '../abort';
import { AgentError, errorMessage, toAgentError } from '../errors';
import { formatIssues } from '../json-schema';
import type { Memory } from '../memory/memory';
import type { Message } from '../messages';
import type { ApprovalRecord } from '../approvals/approval-store';
import type { RunEvent } from '../run-events';
import type { RunOutput } from '../run-output';
import type { PausedRound } from './tool-round';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import { runHooks } from './hooks';
import type { RunState } from './run-state';
import { truncate } from './truncate';

/**
 * Completes a run whose model gave its final reply: parses the structured
 * output, stores the new turn, updates the user's memory, runs the
 * `afterResponse` hooks and yields `RunCompleted`.
 */
export async function* completeRun(setup: AgentSetup, run: RunState, sink: EventSink): Stage {
  const { content } = run;
  const schema = run.options.outputSchema;
  const value = schema ? parseStructured(content, schema) : content;
  if (sink.active) yield sink.event({ event: 'RunContentCompleted', content });
  const newTurn = run.messages.slice(run.newTurnStart);
  await run.store.append(run.sessionId, run.userId, newTurn);
  if (setup.memory && run.userId !== null) yield* updateMemory(setup, run, sink, setup.memory, run.userId, newTurn);
  const result = run.output('completed', value);
  run.ended = true;
  if (setup.afterHooks.length) await runHooks(setup, 'afterResponse', setup.afterHooks, result);
  yield sink.event({ event: 'RunCompleted', output: result });
}

/**
 * Pauses a run whose tool round waits for approvals: keeps what it needs to
 * go on in the agent's approval store and ends its stream with `RunPaused`
 * (status `paused`, the pending approvals). The `afterResponse` hooks wait
 * for the run's real end, in its continuation.
 */
export async function pauseRun(setup: AgentSetup, run: RunState, sink: EventSink, round: PausedRound, step: number): Promise<RunEvent> {
  const now = Date.now();
  const approvals: ApprovalRecord[] = round
    .filter((entry) => entry.approvalId !== undefined)
    .map((entry) => ({
      approvalId: entry.approvalId!,
      runId: run.runId,
      agentName: setup.name,
      sessionId: run.sessionId,
      userId: run.userId,
      toolName: entry.name,
      toolCallId: entry.id,
      args: entry.args,
      status: 'pending',
      // Asked for when its round ended (the event said so with its expiry).
      requestedAt: (entry.expiresAt ?? now + setup.approvalTtl) - setup.approvalTtl,
      expiresAt: entry.expiresAt ?? now + setup.approvalTtl,
    }));
  await setup.approvals.savePaused({
    runId: run.runId,
    agentName: setup.name,
    sessionId: run.sessionId,
    userId: run.userId,
    pausedAt: now,
    status: 'paused',
    state: run.pausedState(round, step),
    approvals,
  });
  const result: RunOutput = { ...run.output('paused', run.content), pendingApprovals: approvals };
  run.ended = true;
  run.paused = true;
  return sink.event({ event: 'RunPaused', pendingApprovals: approvals, output: result });
}

/**
 * Ends a run that threw: `RunCancelled` when its signal aborted, `RunError`
 * otherwise, each with the output so far, after the `afterResponse` hooks.
 */
export async function failRun(setup: AgentSetup, run: RunState, sink: EventSink, thrown: unknown, timedOut = false): Promise<RunEvent> {
  if (run.signal?.aborted && !timedOut) {
    const reason = abortReason(run.signal);
    const result = run.output('cancelled', run.content, new AgentError('cancelled', reason));
    run.ended = true;
    await runHooks(setup, 'afterResponse', setup.afterHooks, result);
    return sink.event({ event: 'RunCancelled', reason, output: result });
  }
  const error = toAgentError(thrown);
  if (error.code === 'internal') setup.logger.error(`Run ${run.runId} failed unexpectedly: ${error.stack ?? error.message}`);
  const result = run.output('error', run.content, error);
  run.ended = true;
  await runHooks(setup, 'afterResponse', setup.afterHooks, result);
  return sink.event({ event: 'RunError', error: { code: error.code, message: error.message }, output: result });
}

/**
 * Updates the user's memory from the new turn, after the reply: a stream has
 * its content already and waits to report the changes; run() does not wait
 * at all (`agent.idle()` does).
 */
async function* updateMemory(
  setup: AgentSetup,
  run: RunState,
  sink: EventSink,
  memory: Memory,
  userId: string,
  newTurn: Message[],
): Stage {
  const scope = run.probe?.begin({ kind: 'memory.update', userId });
  const updating = scope ? scope.within(() => memory.update(userId, newTurn, setup.model)) : memory.update(userId, newTurn, setup.model);
  const update = updating.then(
    (changes) => {
      scope?.end({ count: changes.length });
      return changes;
    },
    (error) => {
      scope?.end({ error });
      setup.logger.error(`Memory update after run ${run.runId} failed: ${errorMessage(error)}`);
      return errorMessage(error);
    },
  );
  if (sink.active) {
    yield sink.event({ event: 'MemoryUpdateStarted', userId });
    const changes = await update;
    yield sink.event({ event: 'MemoryUpdateCompleted', userId, ...(typeof changes === 'string' ? { changes: [], error: changes } : { changes }) });
  } else {
    setup.background.add(update);
    void update.then(() => setup.background.delete(update));
  }
}

function parseStructured(text: string, schema: z.ZodType): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgentError('output_validation', `The model's reply is not valid JSON for outputSchema: ${truncate(text, 200)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new AgentError('output_validation', `The model's reply does not match outputSchema: ${formatIssues(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * A stream whose consumer left before the end (`break` out of `for await`):
 * the `afterResponse` hooks still see the run, as `cancelled`.
 */
export async function abandonRun(setup: AgentSetup, run: RunState): Promise<void> {
  if (run.ended) return;
  run.ended = true;
  if (setup.afterHooks.length === 0) return;
  const result = run.output('cancelled', run.content, new AgentError('cancelled', 'The stream was left before the run ended.'));
  await runHooks(setup, 'afterResponse', setup.afterHooks, result);
}
