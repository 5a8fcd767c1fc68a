import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeDiscord } from '../../lib/testing';

const TOKEN = 'discord-test-token';

describe('the fake Discord keeps components as Discord does', { timeout: 30_000 }, () => {
  it('keeps the components a PATCH omits, removes them with components: [], and answers an interaction once', async () => {
    const fake = await startFakeDiscord({ token: TOKEN });
    const rest = async (method: string, path: string, body?: unknown, auth = true) => {
      const response = await fetch(`${fake.api}/v10${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bot ${TOKEN}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (response.status === 204 ? undefined : await response.json()) as any };
    };
    try {
      const row = { type: 1, components: [{ type: 2, style: 3, label: 'Go', custom_id: 'go' }] };
      const channelId = fake.guild.channelId;
      const sent = await rest('POST', `/channels/${channelId}/messages`, { content: 'first', components: [row] });
      assert.deepEqual(sent.body.components, [row]);
      const kept = await rest('PATCH', `/channels/${channelId}/messages/${sent.body.id}`, { content: 'second' });
      assert.deepEqual(kept.body.components, [row], 'an edit without components keeps them');
      assert.equal(fake.message(channelId, sent.body.id)!.content, 'second');
      assert.equal((await rest('PATCH', `/channels/${channelId}/messages/1`, { content: 'x' })).body.code, 10008, 'unknown message');

      // No gateway client here: the press is dispatched to nobody, the callback is answered all the same.
      const interactionId = fake.pressButton({ channelId, messageId: sent.body.id, userId: '5', label: 'Go' });
      const callback = `/interactions/${interactionId}/interaction-token-${interactionId}/callback`;
      assert.equal((await rest('POST', `/interactions/${interactionId}/wrong-token/callback`, { type: 6 }, false)).body.code, 10062);
      assert.equal((await rest('POST', callback, { type: 7, data: { content: 'done', components: [] } }, false)).status, 204, 'no bot token needed');
      assert.deepEqual(fake.message(channelId, sent.body.id), { id: sent.body.id, channelId, content: 'done', components: [], edited: true });
      assert.equal((await rest('POST', callback, { type: 7, data: { content: 'again' } }, false)).body.code, 40060, 'answered once');
      assert.deepEqual(await fake.waitForInteractionResponse(interactionId), { type: 7, data: { content: 'done', components: [] }, ephemeral: false });
      assert.throws(() => fake.pressButton({ channelId, messageId: sent.body.id, userId: '5', label: 'Go' }), /has no button "Go"/);
    } finally {
      await fake.close();
    }
  });
});
