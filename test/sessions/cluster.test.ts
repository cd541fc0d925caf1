/**
 * sessions.redis in Cluster mode against a real three-master Redis Cluster: the store contract, and
 * the key layout that makes it work there — a user's sessions and index share one slot (so the
 * create and revoke scripts are legal), while different users spread over slots and nodes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { userSlotTag } from '../../src/sessions/ids.js';
import { checkSlotLayout } from '../../src/sessions/redis-store.js';
import { makeTlsMaterial, startRedisCluster } from '../helpers/redis.js';
import { openRedisStores, redisFixture, samplePrincipal, sampleRecord, sessionStoreContract, type RedisStores } from './contract.js';

const cluster = await startRedisCluster({ masters: 3 });

type RedisInput = NonNullable<NonNullable<ConfigInput['sessions']>['redis']>;

function openStores(overrides: Partial<RedisInput> = {}): RedisStores {
  const keyPrefix = `t-${randomUUID().slice(0, 8)}:`;
  const config = configSchema.parse({
    sessions: { redis: { cluster: cluster.seeds.slice(0, 1), keyPrefix, connectTimeoutMs: 1000, commandTimeoutMs: 1000, ...overrides } },
  });
  return openRedisStores(config, createLogger('silent'));
}

sessionStoreContract('redis cluster', () => redisFixture(openStores()));

describe('redis cluster: key layout', () => {
  it('sessions of different users land on different slots and nodes; each user keeps one slot; no CROSSSLOT', async (t) => {
    const stores = openStores();
    t.after(() => stores.close());
    assert.match((await stores.sessions.health()).detail, /redis cluster ok/);
    const users = Array.from({ length: 30 }, (_, i) => `user${i}@contoso.com`);
    const slots = new Set<number>();
    const nodes = new Set<number>();
    const idsByUser = new Map<string, string[]>();
    for (const upn of users) {
      const principal = samplePrincipal({ userPrincipalName: upn });
      const ids = [
        await stores.sessions.create(sampleRecord(systemClock, { principal })),
        await stores.sessions.create(sampleRecord(systemClock, { principal: { ...principal, userPrincipalName: upn.toUpperCase() } })),
      ];
      idsByUser.set(upn, ids);
      const userKey = `${stores.keyPrefix}user:{${userSlotTag(upn)}}${upn}`;
      const slot = await cluster.slotOf(userKey);
      for (const id of ids) {
        const key = `${stores.keyPrefix}sess:{${id.slice(0, 3)}}${id.slice(3)}`;
        assert.equal(await cluster.slotOf(key), slot, 'session and index share a slot');
        const node = await cluster.nodeFor(key);
        assert.equal(typeof (await node.command('GET', key)), 'string', 'stored on the node serving the slot');
      }
      assert.equal(((await (await cluster.nodeFor(userKey)).command('SMEMBERS', userKey)) as string[]).length, 2);
      slots.add(slot);
      nodes.add((await cluster.nodeFor(userKey)).port);
    }
    t.diagnostic(`30 users: ${slots.size} slots on ${nodes.size} nodes`);
    assert.ok(slots.size >= 28, `users spread over slots (${slots.size} of 30)`);
    assert.equal(nodes.size, 3, 'every node holds sessions');

    // Multi-key scripts on every node: create (pruning the index), relying parties, revoke per user.
    for (const upn of users) {
      const [first, second] = idsByUser.get(upn)!;
      await stores.sessions.addRelyingParty(first!, 'urn:rp:cluster');
      await stores.sessions.destroy(second!);
      const third = await stores.sessions.create(sampleRecord(systemClock, { principal: samplePrincipal({ userPrincipalName: upn }) }));
      assert.equal(await stores.sessions.destroyForUser(upn), 2, upn);
      for (const id of [first!, second!, third]) assert.equal(await stores.sessions.get(id), undefined);
    }
  });

  it('the same two keys without the hash tag would be refused by the cluster (what the layout avoids)', async () => {
    const upn = 'alice@contoso.com';
    const id = 'Q'.repeat(43);
    const plain = [`openfed:sess:${id}`, `openfed:user:${upn}`];
    assert.notEqual(await cluster.slotOf(plain[0]!), await cluster.slotOf(plain[1]!));
    const reply = await (await cluster.nodeFor(plain[0]!)).command('EVAL', 'return 1', 2, ...plain);
    assert.ok(reply instanceof Error && /CROSSSLOT/.test(reply.message), String(reply));
    const tagged = [`openfed:sess:{${userSlotTag(upn)}}${id.slice(3)}`, `openfed:user:{${userSlotTag(upn)}}${upn}`];
    assert.equal(await (await cluster.nodeFor(tagged[0]!)).command('EVAL', 'return 1', 2, ...tagged), 1);
  });

  it('checkSlotLayout accepts ordinary prefixes and refuses one carrying a hash tag', () => {
    for (const prefix of ['openfed:', '', 'tenant-a:openfed:', 'ä:']) checkSlotLayout(prefix);
    for (const prefix of ['{openfed}:', 'open{fed', 'x}']) assert.throws(() => checkSlotLayout(prefix), /keyPrefix/);
  });
});

describe('redis cluster: TLS', () => {
  it('works with every node over TLS, verified against the configured CA', async (t) => {
    const tls = makeTlsMaterial();
    const tlsCluster = await startRedisCluster({ masters: 3, tls });
    const config = configSchema.parse({
      sessions: { redis: { cluster: tlsCluster.seeds.slice(0, 1), tls: { caFile: tls.caFile }, keyPrefix: 'tls:', connectTimeoutMs: 2000, commandTimeoutMs: 2000 } },
    });
    const stores = openRedisStores(config, createLogger('silent'));
    t.after(() => stores.close());
    const nodes = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const upn = `tls${i}@contoso.com`;
      const record = sampleRecord(systemClock, { principal: samplePrincipal({ userPrincipalName: upn }) });
      const id = await stores.sessions.create(record);
      assert.deepStrictEqual(await stores.sessions.get(id), record);
      nodes.add((await tlsCluster.nodeFor(`tls:user:{${userSlotTag(upn)}}${upn}`)).port);
      assert.equal(await stores.sessions.destroyForUser(upn), 1);
    }
    assert.ok(nodes.size >= 2, 'more than one node was reached through TLS redirects');
  });
});
