import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { Agent } from '../../lib';
import type { RunEvent, TriggerEvent } from '../../lib';
import { TestModel } from '../../lib/testing';

// These checks are made by the compiler: the suite does not build if a type is wrong.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const expectType = <T extends true>(_: T) => undefined;

describe('typed payloads', () => {
  it('stream() types RunCompleted.output.content by outputSchema, like run()', async () => {
    const schema = z.object({ city: z.string(), population: z.number() });
    const agent = new Agent({ model: new TestModel({ responses: ['{"city":"Paris","population":2100000}'] }) });
    let population = 0;
    for await (const event of agent.stream('Largest city?', { outputSchema: schema })) {
      if (event.event === 'RunCompleted') {
        expectType<Equal<typeof event.output.content, { city: string; population: number }>>(true);
        population = event.output.content.population;
      }
    }
    assert.equal(population, 2100000);
    const output = await new Agent({ model: new TestModel({ responses: ['{"city":"Oslo","population":1}'] }) }).run('x', { outputSchema: schema });
    expectType<Equal<typeof output.content, { city: string; population: number }>>(true);
  });

  it('stream() without a schema types content as text', async () => {
    const agent = new Agent({ model: new TestModel({ responses: ['hello'] }) });
    const events: RunEvent<string>[] = [];
    for await (const event of agent.stream('hi')) events.push(event);
    const completed = events.at(-1)!;
    assert.equal(completed.event, 'RunCompleted');
    if (completed.event === 'RunCompleted') {
      expectType<Equal<typeof completed.output.content, string>>(true);
      assert.equal(completed.output.content.toUpperCase(), 'HELLO');
    }
  });

  it('TriggerEvent bodies are unknown unless typed, and typed where declared', () => {
    const untyped = { body: { repo: 'acme' } as unknown, headers: {}, source: 'POST /x', timestamp: new Date(), raw: undefined } satisfies TriggerEvent;
    expectType<Equal<TriggerEvent['body'], unknown>>(true);
    // @ts-expect-error an untyped body must be checked before use
    assert.equal(untyped.body.repo, 'acme');
    const typed: TriggerEvent<{ repo: string }> = { ...untyped, body: { repo: 'acme' } };
    assert.equal(typed.body.repo.toUpperCase(), 'ACME');
  });

  it("agent.on<TBody>() hands its handler a typed event", () => {
    const agent = new Agent({ model: new TestModel({ responses: ['ok'] }) });
    agent.on<{ name: string }>({ event: 'user_signup' }, (event) => `Welcome ${event.body.name.trim()}`);
    const [entry] = agent.triggers;
    assert.equal(entry.handler({ body: { name: ' Ada ' }, headers: {}, source: 'event(user_signup)', timestamp: new Date(), raw: undefined }), 'Welcome Ada');
  });
});
