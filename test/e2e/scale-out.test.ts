import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startFakeOpenAI } from '../../lib/testing';
import type { FakeOpenAIServer } from '../../lib/testing';
import { killHard } from '../support/child-process';
import { redisPrefix, Replica, startReplica, stopReplicas } from '../support/replicas';

/** The instants (ms) of the ticks the fake model was asked about, each with how many runs asked. */
function tickRuns(openai: FakeOpenAIServer): Map<number, number> {
  const runs = new Map<number, number>();
  for (const request of openai.requests) {
    const text = request.body?.messages?.at(-1)?.content;
    const match = typeof text === 'string' ? /^tick (\S+)$/.exec(text) : null;
    if (match) runs.set(Date.parse(match[1]), (runs.get(Date.parse(match[1])) ?? 0) + 1);
  }
  return runs;
}

const until = (time: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));

// Hang guards, not timing assertions: 60 ticks of a job every second take a minute.
describe('three replicas on one Redis (each a child process; one killed with SIGKILL)', { timeout: 240_000 }, () => {
  const replicas: (Replica | undefined)[] = [];
  const keys = redisPrefix();
  let openai: FakeOpenAIServer;
  after(async () => {
    await stopReplicas(replicas);
    await openai?.close();
    await keys.cleanup();
  });

  it('runs each of 60 ticks of a `* * * * * *` job exactly once (60 runs, not 180), while one replica is SIGKILLed and restarted midway', { timeout: 200_000 }, async () => {
    openai = await startFakeOpenAI();
    const env = { REPLICA_OPENAI_URL: openai.baseURL, REPLICA_PREFIX: keys.prefix, REPLICA_JOBS: 'cron' };
    replicas.push(...(await Promise.all([0, 1, 2].map(() => startReplica(env)))));
    // The window: 60 whole seconds from the second after all three run.
    const first = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const window = Array.from({ length: 60 }, (_, index) => first + index * 1000);
    // Half-way between two ticks, so no tick is between its claim and its model call when the replica dies.
    await until(first + 20_500);
    await killHard(replicas[1]!.child);
    await until(first + 35_500);
    replicas[1] = await startReplica(env);
    // The last tick's run has time to reach the model.
    await until(first + 62_000);
    const runs = tickRuns(openai);
    const counts = window.map((instant) => runs.get(instant) ?? 0);
    const wrong = window.flatMap((instant, index) => (counts[index] === 1 ? [] : [`${new Date(instant).toISOString()}: ${counts[index]}`]));
    assert.deepEqual(wrong, [], 'every tick in the window ran once');
    assert.equal(counts.reduce((sum, count) => sum + count, 0), 60);
  });
});
