/**
 * The lockout store contract, for memory and for a real Redis: compare-and-set, expiry, delete,
 * aliases, the per-address throttle. Redis-specific: keys under the prefix, one hash with a TTL.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../src/clock.js';
import type { LockoutState } from '../../src/lockout/policy.js';
import type { LockoutStore } from '../../src/lockout/store.js';
import { silentLogger } from '../../src/log.js';
import { MemoryLockoutStore } from '../../src/lockout/memory-store.js';
import { RedisLockoutStore } from '../../src/lockout/redis-store.js';
import { openRedis, type RedisConnection, type RedisConnectionConfig } from '../../src/redis/connection.js';
import { startRedisCluster, startRedisSentinel, startRedisServer } from '../helpers/redis.js';

const redis = await startRedisServer();
const sentinel = await startRedisSentinel();
const cluster = await startRedisCluster();

const STATE: LockoutState = {
  unknownBadCount: 2,
  familiarBadCount: 1,
  lastBadAt: 1_767_225_600_123,
  familiarIps: [{ ip: '2001:db8::7', lastSuccessAt: 1_767_225_000_000 }, { ip: '10.0.0.5', lastSuccessAt: 1_767_000_000_000 }],
};

interface Fixture {
  store: LockoutStore;
  elapse(ms: number): Promise<void>;
}

function contract(name: string, make: (attempts: number) => Fixture) {
  describe(`lockout store contract: ${name}`, () => {
    test('absent until written; compare-and-set on the version', async () => {
      const { store } = make(0);
      assert.equal(await store.get('zoë@contoso.com'), undefined);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 5, STATE, 60_000), false, 'no record: only version 0 matches');
      assert.equal(await store.compareAndSet('zoë@contoso.com', 0, STATE, 60_000), true);
      const first = await store.get('zoë@contoso.com');
      assert.deepEqual(first?.state, STATE);
      assert.ok(first && first.version > 0);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 0, STATE, 60_000), false, 'stale version refused');
      const next = { ...STATE, unknownBadCount: 3 };
      assert.equal(await store.compareAndSet('zoë@contoso.com', first.version, next, 60_000), true);
      const second = await store.get('zoë@contoso.com');
      assert.equal(second?.state.unknownBadCount, 3);
      assert.notEqual(second?.version, first.version);
      assert.equal(await store.compareAndSet('zoë@contoso.com', first.version, STATE, 60_000), false);
    });

    test('concurrent writers: exactly one wins per version', async () => {
      const { store } = make(0);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.compareAndSet('race', 0, { ...STATE, unknownBadCount: i }, 60_000)));
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('records expire with their TTL; delete forgets them', async () => {
      const { store, elapse } = make(0);
      await store.compareAndSet('short', 0, STATE, 300);
      await store.compareAndSet('long', 0, STATE, 60_000);
      await elapse(400);
      assert.equal(await store.get('short'), undefined);
      assert.equal(await store.compareAndSet('short', 0, STATE, 60_000), true, 'an expired record counts as absent');
      assert.equal(await store.delete('long'), true);
      assert.equal(await store.delete('long'), false);
      assert.equal(await store.get('long'), undefined);
    });

    test('aliases, including the empty "not a directory user" marker, expire', async () => {
      const { store, elapse } = make(0);
      await store.setAlias('contoso\\alice', 'alice@contoso.com', 60_000);
      await store.setAlias('nobody', '', 300);
      assert.equal(await store.getAlias('contoso\\alice'), 'alice@contoso.com');
      assert.equal(await store.getAlias('nobody'), '');
      assert.equal(await store.getAlias('other'), undefined);
      await elapse(400);
      assert.equal(await store.getAlias('nobody'), undefined);
    });

    test('per-address throttle: allowed up to the limit, then a retry time; addresses are separate', async () => {
      const { store } = make(3);
      for (let i = 0; i < 3; i++) assert.equal((await store.consumeAddress('203.0.113.9')).allowed, true);
      const over = await store.consumeAddress('203.0.113.9');
      assert.equal(over.allowed, false);
      assert.ok(over.retryAfterSeconds >= 1 && over.retryAfterSeconds <= 60);
      assert.equal((await store.consumeAddress('198.51.100.1')).allowed, true);
      const off = make(0).store;
      for (let i = 0; i < 50; i++) assert.equal((await off.consumeAddress('203.0.113.9')).allowed, true, 'attempts 0 = off');
    });
  });
}

contract('memory', (attempts) => {
  const clock = new ManualClock();
  return { store: new MemoryLockoutStore({ attempts, windowSeconds: 60 }, clock), elapse: async (ms) => clock.advance(ms) };
});

const connections: RedisConnection[] = [];
let prefixes = 0;
type Where = Pick<RedisConnectionConfig, 'url' | 'sentinels' | 'name' | 'cluster'>;
function redisStore(attempts: number, keyPrefix = `t${++prefixes}:`, where: Where = { url: redis.url }): RedisLockoutStore {
  const connection = openRedis({ ...where, keyPrefix, connectTimeoutMs: 1000, commandTimeoutMs: 1000 }, silentLogger);
  connections.push(connection);
  return new RedisLockoutStore(connection, { attempts, windowSeconds: 60 });
}
after(async () => {
  await Promise.all(connections.map((c) => c.close()));
});

contract('redis', (attempts) => ({ store: redisStore(attempts), elapse: (ms) => sleep(ms) }));
contract('redis sentinel', (attempts) => ({
  store: redisStore(attempts, undefined, { sentinels: sentinel.sentinels, name: sentinel.name }),
  elapse: (ms) => sleep(ms),
}));
contract('redis cluster', (attempts) => ({ store: redisStore(attempts, undefined, { cluster: cluster.seeds }), elapse: (ms) => sleep(ms) }));

describe('redis lockout store specifics', () => {
  test('one hash per user under the prefix, with the TTL; aliases and throttle keys under the prefix too', async () => {
    const store = redisStore(5, 'farm:');
    await store.compareAndSet('alice@contoso.com', 0, STATE, 3_600_000);
    await store.setAlias('alice', 'alice@contoso.com', 60_000);
    await store.consumeAddress('203.0.113.9');
    assert.equal(await redis.command('TYPE', 'farm:lockout:user:alice@contoso.com'), 'hash');
    const ttl = await redis.command('PTTL', 'farm:lockout:user:alice@contoso.com');
    assert.ok(typeof ttl === 'number' && ttl > 3_590_000 && ttl <= 3_600_000, String(ttl));
    const keys = (await redis.command('KEYS', '*')) as string[];
    assert.ok(keys.includes('farm:lockout:alias:alice'));
    assert.ok(keys.some((k) => k.startsWith('farm:lockout:addr') && k.endsWith('203.0.113.9')), keys.join(' '));
    for (const key of keys.filter((k) => k.startsWith('farm'))) assert.ok(key.startsWith('farm:lockout:'), key);
  });

  test('two nodes (two connections) see one state and one throttle', async () => {
    const a = redisStore(2, 'shared:');
    const b = redisStore(2, 'shared:');
    await a.compareAndSet('bob@contoso.com', 0, STATE, 60_000);
    assert.deepEqual((await b.get('bob@contoso.com'))?.state, STATE);
    assert.equal((await a.consumeAddress('192.0.2.1')).allowed, true);
    assert.equal((await b.consumeAddress('192.0.2.1')).allowed, true);
    assert.equal((await a.consumeAddress('192.0.2.1')).allowed, false);
  });

  test('cluster: state, aliases and throttle counters of different users and addresses spread over the nodes', async () => {
    const store = redisStore(5, 'spread:', { cluster: cluster.seeds });
    const nodes = new Set<number>();
    for (let i = 0; i < 30; i++) {
      assert.equal(await store.compareAndSet(`user${i}@contoso.com`, 0, STATE, 60_000), true);
      await store.setAlias(`user${i}`, `user${i}@contoso.com`, 60_000);
      assert.equal((await store.consumeAddress(`192.0.2.${i}`)).allowed, true);
      nodes.add((await cluster.nodeFor(`spread:lockout:user:user${i}@contoso.com`)).port);
      assert.equal(await (await cluster.nodeFor(`spread:lockout:user:user${i}@contoso.com`)).command('TYPE', `spread:lockout:user:user${i}@contoso.com`), 'hash');
    }
    assert.equal(nodes.size, 3);
    assert.equal(await store.getAlias('user7'), 'user7@contoso.com');
    assert.deepEqual((await store.get('user7@contoso.com'))?.state, STATE);
  });

  test('a damaged hash reads as no familiar addresses rather than failing', async () => {
    const store = redisStore(0, 'damaged:');
    await redis.command('HSET', 'damaged:lockout:user:carol', 'v', '3', 'u', '2', 'f', 'x', 't', '5', 'ips', '{not json');
    assert.deepEqual(await store.get('carol'), {
      version: 3,
      state: { unknownBadCount: 2, familiarBadCount: 0, lastBadAt: 5, familiarIps: [] },
    });
  });

  test('Redis down: operations fail with StoreUnavailableError (the page answers 503)', async () => {
    const store = redisStore(5, 'down:');
    await store.get('x');
    redis.pause();
    try {
      await assert.rejects(store.consumeAddress('192.0.2.9'), { name: 'StoreUnavailableError' });
      await assert.rejects(store.get('x'), { name: 'StoreUnavailableError' });
    } finally {
      redis.resume();
    }
  });
});

