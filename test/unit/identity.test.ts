import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteIdentityResolver } from '../../lib';
import { tempDir } from '../support/fixtures';

const dir = tempDir();
after(() => dir.cleanup());

describe('SqliteIdentityResolver', () => {
  it('resolves unlinked accounts to <platform>:<id>, links and unlinks', async () => {
    const resolver = new SqliteIdentityResolver({ path: join(dir.path, 'a.db') });
    assert.equal(await resolver.resolve('telegram', '42'), 'telegram:42');
    await resolver.link('discord', '7', 'telegram:42');
    assert.equal(await resolver.resolve('discord', '7'), 'telegram:42');
    assert.deepEqual(await resolver.getIdentities('telegram:42'), [{ platform: 'discord', platformUserId: '7' }]);
    await resolver.unlink('discord', '7');
    assert.equal(await resolver.resolve('discord', '7'), 'discord:7');
    await resolver.close();
  });

  it('issues single-use codes of capital letters and digits that expire', async () => {
    const path = join(dir.path, 'b.db');
    const resolver = new SqliteIdentityResolver({ path });
    const code = await resolver.createLinkCode('telegram:1');
    assert.match(code, /^[A-Z0-9]{6,10}$/);
    const expired = await resolver.createLinkCode('telegram:2', -1);
    assert.equal(await resolver.redeemLinkCode(expired), null);
    await resolver.close();
    const reopened = new SqliteIdentityResolver({ path });
    assert.equal(await reopened.redeemLinkCode(code.toLowerCase()), 'telegram:1', 'codes survive a restart and are case-insensitive');
    assert.equal(await reopened.redeemLinkCode(code), null, 'single use');
    await reopened.close();
  });
});
