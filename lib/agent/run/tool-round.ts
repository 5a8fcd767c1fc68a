import { randomBytes } from 'node:crypto';
import { whenAborted } from '../abort';
import type { ApprovalRecord, PausedRunState } from '../approvals/approval-store';
import { errorMessage, ModelError } from '../errors';
import type { ToolCallRequest } from '../messages';
import type { Tool, ToolContext } from '../tools/tool';
import { executeToolCall, ToolOutcome } from '../tools/tool-executor';
import type { AgentSetup } from './agent-setup';
import type { EventSink, Stage } from './event-sink';
import type { RunState } from './run-state';
import { truncate } from './truncate';

/** A tool round that waits for approvals: its calls, those that ran with their results, those waiting with their approval ids. */
export type PausedRound = PausedRunState['round'];

/** One call of a round, with its parsed arguments. */
interface RoundCall {
  call: ToolCallRequest;
  args: unknown;
}

/**
 * One tool round: runs a model step's tool calls concurrently, records each
 * as it settles (yielding its events in stream mode), then adds the results
 * to the messages in the order of the calls. A call whose tool wants
 * approval for it is not run: it gets an approval id
 * (`ToolApprovalRequested`), the others run, and the round is returned
 * unfinished for the run to pause on.
 */
export async function* toolRound(setup: AgentSetup, run: RunState, sink: EventSink, calls: ToolCallRequest[]): Stage<PausedRound | undefined> {
  const round: RoundCall[] = calls.map((call) => ({ call, args: parseArguments(call) }));
  // Most rounds call no tool with an approval rule: they pay nothing for approvals.
  const gated = round.some(({ call }) => run.tools.get(call.name)?.approval) ? await needingApproval(setup, run, round) : round.map(() => false);
  const outcomes = yield* runCalls(
    run,
    sink,
    round.filter((_, i) => !gated[i]),
    round.map((entry, i) => (gated[i] ? undefined : entry)),
  );
  if (!gated.some(Boolean)) {
    pushResults(run, round.map(({ call }, i) => ({ call, outcome: outcomes[i]! })));
    return undefined;
  }
  const paused: PausedRound = [];
  const expiresAt = Date.now() + setup.approvalTtl;
  for (const [i, { call, args }] of round.entries()) {
    const outcome = outcomes[i];
    if (outcome) {
      paused.push({ id: call.id, name: call.name, args: outcome.args, ...(outcome.ok ? { result: outcome.result } : { error: outcome.error }) });
      continue;
    }
    const approvalId = newApprovalId();
    paused.push({ id: call.id, name: call.name, args, approvalId, expiresAt });
    if (sink.active) yield sink.event({ event: 'ToolApprovalRequested', approvalId, toolName: call.name, toolCallId: call.id, args, expiresAt });
  }
  return paused;
}

/**
 * Finishes the round a paused run stopped at, its approvals decided: the
 * approved calls run now, a rejected (or expired) one goes back to the model
 * as "The user rejected this call", and every result of the round joins the
 * messages in the order of the calls.
 */
export async function* finishRound(run: RunState, sink: EventSink, round: PausedRound, decisions: ApprovalRecord[]): Stage {
  const byId = new Map(decisions.map((decision) => [decision.approvalId, decision]));
  const approved = round.map((entry) =>
    entry.approvalId && byId.get(entry.approvalId)?.status === 'approved' ? { call: { id: entry.id, name: entry.name, arguments: JSON.stringify(entry.args ?? {}) }, args: entry.args } : undefined,
  );
  const outcomes = yield* runCalls(
    run,
    sink,
    approved.filter((entry): entry is RoundCall => entry !== undefined),
    approved,
  );
  const results: { call: ToolCallRequest; outcome: ToolOutcome }[] = [];
  for (const [i, entry] of round.entries()) {
    const call = { id: entry.id, name: entry.name, arguments: '' };
    let outcome = outcomes[i];
    if (!outcome && entry.approvalId) {
      const decision = byId.get(entry.approvalId);
      const error = rejection(decision);
      outcome = { ok: false, args: entry.args, error, duration: 0 };
      run.toolCalls.push({ id: entry.id, name: entry.name, args: entry.args, error, duration: 0 });
      if (sink.active) yield sink.event({ event: 'ToolCallError', toolName: entry.name, toolCallId: entry.id, error });
    }
    outcome ??= entry.error !== undefined ? { ok: false, args: entry.args, error: entry.error, duration: 0 } : { ok: true, args: entry.args, result: entry.result ?? '', duration: 0 };
    results.push({ call, outcome });
  }
  pushResults(run, results);
}

/** What the model is told of a call a person did not approve. */
function rejection(decision: ApprovalRecord | undefined): string {
  if (decision?.status === 'expired') return 'The user rejected this call: nobody approved it in time (expired).';
  return `The user rejected this call${decision?.reason ? `: ${decision.reason}` : '.'}`;
}

/**
 * Runs `calls` concurrently and records each as it settles; `slots` places
 * each outcome at its call's index in the round (undefined for calls not run here).
 */
async function* runCalls(run: RunState, sink: EventSink, calls: RoundCall[], slots: (RoundCall | undefined)[]): Stage<(ToolOutcome | undefined)[]> {
  const outcomes: (ToolOutcome | undefined)[] = new Array(slots.length);
  if (calls.length === 0) return outcomes;
  // Aborted when the run is cancelled, or when the consumer leaves the stream while tools run.
  const controller = new AbortController();
  const { signal } = run;
  const forward = () => controller.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  const pending = new Map<number, Promise<number>>();
  slots.forEach((entry, i) => {
    if (!entry) return;
    const { call, args } = entry;
    const scope = run.probe?.begin({ kind: 'tool', name: call.name, callId: call.id, args });
    const tool = run.tools.get(call.name);
    const ctx = toolContext(run, call, controller.signal);
    const execution = scope ? scope.within(() => executeToolCall(tool, call, args, ctx)) : executeToolCall(tool, call, args, ctx);
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
    if (sink.active) {
      for (const { call, args } of calls) yield sink.event({ event: 'ToolCallStarted', toolName: call.name, toolCallId: call.id, args });
    }
    while (pending.size > 0) {
      const i = await Promise.race([...pending.values(), aborted.promise]);
      pending.delete(i);
      const outcome = outcomes[i]!;
      const { call } = slots[i]!;
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
  return outcomes;
}

/** The results go back in the order of the calls, whatever order they finished in. */
function pushResults(run: RunState, results: { call: ToolCallRequest; outcome: ToolOutcome }[]): void {
  for (const { call, outcome } of results) {
    run.messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: outcome.ok ? outcome.result : outcome.error });
  }
}

/**
 * Which calls wait for a person: those whose tool has `approval` (true, or a
 * function of the validated arguments that says so — one that throws counts
 * as yes). Calls with invalid arguments run, to fail like any such call.
 */
async function needingApproval(setup: AgentSetup, run: RunState, round: RoundCall[]): Promise<boolean[]> {
  return Promise.all(
    round.map(async ({ call, args }) => {
      const tool: Tool | undefined = run.tools.get(call.name);
      if (!tool?.approval) return false;
      const parsed = tool.parameters.safeParse(args);
      if (!parsed.success) return false;
      if (tool.approval === true) return true;
      try {
        return (await tool.approval(parsed.data, toolContext(run, call, run.signal ?? new AbortController().signal))) === true;
      } catch (error) {
        setup.logger.error(`The approval rule of tool "${tool.name}" failed (the call waits for approval): ${errorMessage(error)}`);
        return true;
      }
    }),
  );
}

function toolContext(run: RunState, call: ToolCallRequest, signal: AbortSignal): ToolContext {
  return { runId: run.runId, sessionId: run.sessionId, userId: run.userId, agentId: run.agentId, toolCallId: call.id, signal, metadata: run.metadata };
}

/** An approval's id: 8 characters of Crockford base32 (40 random bits), short enough to type in a chat reply. */
function newApprovalId(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const bytes = randomBytes(5);
  let bits = 0;
  let value = 0;
  let id = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      id += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return id;
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
