// What the chat approval tests share: the gated refund tool and the fake model's script.
import { z } from 'zod';
import { defineTool } from '../../lib';
import type { FakeOpenAIServer } from '../../lib/testing';

/** A refund tool that waits for a person above 100, and the refunds it made. */
export function refundTool(refunds: number[]) {
  return defineTool({
    name: 'refund',
    description: 'Refunds an order',
    parameters: z.object({ order: z.string(), amount: z.number() }),
    approval: ({ amount }) => amount > 100,
    execute: ({ order, amount }) => {
      refunds.push(amount);
      return `refunded ${amount} on order ${order}`;
    },
  });
}

/** The fake model calls the refund tool, then answers once it has the tool's result. */
export function scriptRefund(fake: FakeOpenAIServer, answer = 'Done: refunded.'): void {
  fake.enqueue({ content: 'Refunding.', toolCalls: [{ id: 'call_r', name: 'refund', arguments: { order: '42', amount: 250 } }] }, { content: answer });
}

/** The tool message the model got in its last request. */
export function lastToolMessage(fake: FakeOpenAIServer): string | undefined {
  const messages: any[] = (fake.requests.at(-1)?.body as any)?.messages ?? [];
  return messages.find((message) => message.role === 'tool')?.content;
}
