import type { z } from 'zod';
import { isObjectSchema, JsonSchema, zodToJsonSchema } from '../json-schema';
import type { ToolDefinition } from '../models/model';

/** What a tool's `execute` receives besides its arguments. */
export interface ToolContext {
  runId: string;
  sessionId: string;
  userId: string | null;
  agentId: string;
  /** The model's id for this call. */
  toolCallId: string;
  /** Aborted when the run is cancelled: pass it on to fetch or other I/O. */
  signal: AbortSignal;
  /** The run's `metadata`. */
  metadata: Record<string, unknown>;
}

/** The definition passed to {@link defineTool}. */
export interface ToolConfig<S extends z.ZodType> {
  /** 1 to 64 characters of `a-z A-Z 0-9 _ -`; unique within an agent. */
  name: string;
  /** What the tool does and when to use it: the model reads this. */
  description: string;
  /** A `z.object(...)` schema of the arguments: sent to the model as JSON Schema and used to validate its arguments. */
  parameters: S;
  /**
   * Runs the tool. The result goes back to the model: strings as they are,
   * anything else JSON-serialised. A thrown error's message goes back to the
   * model as the tool's result, and the run continues.
   */
  execute: (args: z.output<S>, ctx: ToolContext) => unknown;
  /**
   * Whether a call needs a person's approval before it runs: `true` for every
   * call, or a function of the validated arguments deciding per call (e.g.
   * `({ amount }) => amount > 100`). A call needing approval pauses the run
   * (`ToolApprovalRequested`, then `RunPaused`) until it is decided; a
   * rejected call goes back to the model as "The user rejected this call".
   * A function that throws counts as `true`. Default: no approval.
   */
  approval?: boolean | ((args: z.output<S>, ctx: ToolContext) => boolean | Promise<boolean>);
}

/** A tool an agent can call; create one with {@link defineTool}. */
export interface Tool<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly parameters: S;
  /** The JSON Schema sent to the model. */
  readonly jsonSchema: JsonSchema;
  readonly execute: (args: z.output<S>, ctx: ToolContext) => unknown;
  /** Whether (or for which arguments) a call needs a person's approval; see {@link ToolConfig.approval}. */
  readonly approval?: boolean | ((args: z.output<S>, ctx: ToolContext) => boolean | Promise<boolean>);
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Defines a tool from a zod schema. The schema is converted to JSON Schema
 * once, here; the model's arguments are validated against it before `execute`.
 *
 * @example
 * const getWeather = defineTool({
 *   name: 'get_weather',
 *   description: 'Current weather of a city',
 *   parameters: z.object({ city: z.string() }),
 *   execute: async ({ city }) => ({ city, tempC: 21 }),
 * });
 */
export function defineTool<S extends z.ZodType>(config: ToolConfig<S>): Tool<S> {
  if (!config || typeof config.name !== 'string' || !TOOL_NAME.test(config.name)) {
    throw new TypeError(
      `Tool name ${JSON.stringify(config?.name)} is invalid: use 1 to 64 letters, digits, "_" or "-" (e.g. "get_weather").`,
    );
  }
  if (typeof config.description !== 'string' || config.description.trim() === '') {
    throw new TypeError(`Tool "${config.name}" needs a description: the model reads it to decide when to call the tool.`);
  }
  if (typeof config.execute !== 'function') {
    throw new TypeError(`Tool "${config.name}" needs an execute(args, ctx) function.`);
  }
  if (config.approval !== undefined && typeof config.approval !== 'boolean' && typeof config.approval !== 'function') {
    throw new TypeError(`Tool "${config.name}": approval must be true, false or a function (args, ctx) => boolean.`);
  }
  if (!config.parameters || typeof (config.parameters as { safeParse?: unknown }).safeParse !== 'function') {
    throw new TypeError(`Tool "${config.name}" needs parameters as a zod schema, e.g. z.object({ city: z.string() }).`);
  }
  const jsonSchema = zodToJsonSchema(config.parameters);
  if (!isObjectSchema(jsonSchema)) {
    throw new TypeError(`Tool "${config.name}": parameters must be a z.object(...) schema (models take named arguments).`);
  }
  return Object.freeze({
    name: config.name,
    description: config.description,
    parameters: config.parameters,
    jsonSchema,
    execute: config.execute,
    ...(config.approval ? { approval: config.approval } : {}),
  });
}

/** What the model is told of each tool: its name, description and JSON Schema. */
export function toolDefinitions(tools: Iterable<Tool>): ToolDefinition[] {
  return [...tools].map((tool) => ({ name: tool.name, description: tool.description, parameters: tool.jsonSchema }));
}
