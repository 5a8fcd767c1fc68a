import { formatIssues } from '../json-schema';
import type { ToolCallRequest } from '../messages';
import type { Tool, ToolContext } from './tool';

/** The outcome of one tool call. */
export type ToolOutcome =
  | { ok: true; args: unknown; result: string; duration: number }
  | { ok: false; args: unknown; error: string; duration: number };

/**
 * Runs one tool call: parses and validates the arguments, calls `execute`,
 * and turns the result (or any failure) into the text the model gets back.
 * Never throws.
 */
export async function executeToolCall(
  tool: Tool | undefined,
  call: ToolCallRequest,
  args: unknown,
  ctx: ToolContext,
): Promise<ToolOutcome> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  if (!tool) {
    return { ok: false, args, error: `Unknown tool "${call.name}". Call one of the tools you were given.`, duration: seconds() };
  }
  const parsed = tool.parameters.safeParse(args);
  if (!parsed.success) {
    return { ok: false, args, error: `Invalid arguments for tool "${tool.name}": ${formatIssues(parsed.error)}`, duration: seconds() };
  }
  try {
    const value = await tool.execute(parsed.data, ctx);
    return { ok: true, args: parsed.data, result: stringifyResult(value), duration: seconds() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, args: parsed.data, error: `Tool "${tool.name}" failed: ${message}`, duration: seconds() };
  }
}

/** Tool results are strings for the model: strings pass through, everything else is JSON. */
export function stringifyResult(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
