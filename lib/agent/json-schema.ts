import { z } from 'zod';

/** A JSON Schema document, as sent to a model. */
export type JsonSchema = Record<string, unknown>;

/**
 * Converts a zod schema to the JSON Schema a model is given (no `$schema`
 * key; types zod cannot express in JSON Schema become unconstrained).
 */
export function zodToJsonSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

/**
 * Whether a schema fits OpenAI's strict mode: every object lists all its
 * properties as required and forbids additional ones. Schemas with optional
 * fields are sent non-strict (the reply is still validated against the zod schema).
 */
export function isStrictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(isStrictCompatible);
  if (!schema || typeof schema !== 'object') return true;
  const node = schema as Record<string, unknown>;
  if (node.type === 'object' || node.properties) {
    const properties = (node.properties ?? {}) as Record<string, unknown>;
    const required = new Set((node.required as string[] | undefined) ?? []);
    if (node.additionalProperties !== false) return false;
    if (Object.keys(properties).some((key) => !required.has(key))) return false;
  }
  return Object.entries(node).every(([key, value]) => key === 'required' || key === 'enum' || key === 'const' || isStrictCompatible(value));
}

/** Whether a zod schema describes an object (tool parameters must). */
export function isObjectSchema(json: JsonSchema): boolean {
  return json.type === 'object';
}

/** Formats zod validation issues as one line: `path: message; path: message`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`).join('; ');
}
