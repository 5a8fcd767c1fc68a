import { z } from 'zod';
import { defineTool, Tool } from '../tools/tool';
import { Knowledge, KnowledgeReference } from './knowledge';

/**
 * The `search_knowledge` tool of an agent with `knowledgeMode: 'tool'`. What
 * it finds is added to `references` under the calling run's id, for that
 * run's output.
 */
export function searchKnowledgeTool(knowledge: Knowledge, references: ReadonlyMap<string, KnowledgeReference[]>): Tool {
  return defineTool({
    name: 'search_knowledge',
    description: 'Search the knowledge base for passages relevant to a query. Use it before answering questions it may cover.',
    parameters: z.object({ query: z.string().describe('What to look for') }),
    execute: async ({ query }, ctx) => {
      const found = await knowledge.search(query);
      const collected = references.get(ctx.runId);
      if (collected) collected.push(...found);
      return found.length ? Knowledge.context(found) : 'Nothing relevant was found.';
    },
  });
}
