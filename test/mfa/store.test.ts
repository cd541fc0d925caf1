/**
 * The MFA store contract, one suite for every backend: memory, the data-directory files, and a real
 * Redis (standalone and Cluster). Enrolments are compare-and-set on a version; pending enrolments
 * and the wrong-code window expire; users are separate; a damaged record fails clearly rather than
 * reading as "not enrolled". Backend specifics (file modes, Redis keys) follow the contract.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { FileMfaStore } from '../../src/mfa/file-store.js';
import { openMfaStore } from '../../src/mfa/index.js';
import { RedisMfaStore } from '../../src/mfa/redis-store.js';
import { MemoryMfaStore, MfaRecordError, type MfaEnrolment, type MfaStore } from '../../src/mfa/types.js';
import { openRedis, type RedisConnection, type RedisConnectionConfig } from '../../src/redis/connection.js';
import { startRedisCluster, startRedisServer } from '../helpers/redis.js';

const redis = await startRedisServer();
const cluster = await startRedisCluster();
const dirs: string[] = [];
const connections: RedisConnection[] = [];
after(async () => {
  await Promise.all(connections.map((c) => c.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ENROLMENT: MfaEnrolment = {
  methods: [{ method: 'totp', sealedSecret: 'v1.sealed-secret', addedAt: 1_767_225_600_000 }],
  recovery: { salt: 'c2FsdA', hashes: ['aGFzaDE', 'aGFzaDI'], issuedAt: 1_767_225_600_000 },
  enrolledAt: 1_767_225_600_000,
};
const PENDING = { method: 'totp' as const, sealedSecret: 'v1.pending', createdAt: 1_767_225_600_000 };

interface Fixture {
  store: MfaStore;
  /** Lets `ms` pass as the store sees it: a ManualClock moved, or a real wait (Redis expiry). */
  elapse(ms: number): Promise<void>;
}

function contract(name: string, make: () => Fixture) {
  describe(`mfa store contract: ${name}`, () => {
    test('absent until written; compare-and-set on the version; delete', async () => {
      const { store } = make();
      assert.equal(await store.get('zoë@contoso.com'), undefined);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 3, ENROLMENT), false, 'no record: only version 0 matches');
      assert.equal(await store.compareAndSet('zoë@contoso.com', 0, ENROLMENT), true);
      const first = await store.get('zoë@contoso.com');
      assert.deepEqual(first?.enrolment, ENROLMENT);
      assert.equal(first?.version, 1);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 0, ENROLMENT), false, 'create-only write refused once enrolled');
      const fewer = { ...ENROLMENT, recovery: { ...ENROLMENT.recovery, hashes: ['aGFzaDI'] } };
      assert.equal(await store.compareAndSet('zoë@contoso.com', 1, fewer), true);
      assert.deepEqual((await store.get('zoë@contoso.com'))?.enrolment.recovery.hashes, ['aGFzaDI']);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 1, ENROLMENT), false, 'stale version refused');
      assert.equal(await store.get('other@contoso.com'), undefined, 'users are separate');
      assert.equal(await store.delete('zoë@contoso.com'), true);
      assert.equal(await store.delete('zoë@contoso.com'), false);
      assert.equal(await store.get('zoë@contoso.com'), undefined);
      assert.equal(await store.compareAndSet('zoë@contoso.com', 0, ENROLMENT), true, 'enrol again after a reset');
    });

    test('concurrent writers: exactly one wins per version', async () => {
      const { store } = make();
      const results = await Promise.all(Array.from({ length: 8 }, () => store.compareAndSet('race@contoso.com', 0, ENROLMENT)));
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('a pending enrolment is replaced, deleted, and expires', async () => {
      const { store, elapse } = make();
      assert.equal(await store.getPending('ann@contoso.com'), undefined);
      await store.putPending('ann@contoso.com', PENDING, 60_000);
      assert.deepEqual(await store.getPending('ann@contoso.com'), PENDING);
      await store.putPending('ann@contoso.com', { ...PENDING, sealedSecret: 'v1.newer' }, 300);
      assert.equal((await store.getPending('ann@contoso.com'))?.sealedSecret, 'v1.newer');
      await store.putPending('bob@contoso.com', PENDING, 60_000);
      await elapse(450);
      assert.equal(await store.getPending('ann@contoso.com'), undefined, 'expired');
      assert.deepEqual(await store.getPending('bob@contoso.com'), PENDING);
      await store.deletePending('bob@contoso.com');
      await store.deletePending('bob@contoso.com');
      assert.equal(await store.getPending('bob@contoso.com'), undefined);
    });

    test('wrong codes count in a window begun by the first; it ends, and clear forgets it', async () => {
      const { store, elapse } = make();
      assert.deepEqual(await store.wrongCodes('carl@contoso.com'), { count: 0, ttlMs: 0 });
      assert.equal((await store.addWrongCode('carl@contoso.com', 600)).count, 1);
      await elapse(200);
      const second = await store.addWrongCode('carl@contoso.com', 600);
      assert.equal(second.count, 2);
      assert.ok(second.ttlMs > 0 && second.ttlMs <= 400, `the window is not extended by later codes: ${second.ttlMs}`);
      const read = await store.wrongCodes('carl@contoso.com');
      assert.equal(read.count, 2);
      assert.ok(read.ttlMs > 0 && read.ttlMs <= 400);
      assert.equal((await store.wrongCodes('dora@contoso.com')).count, 0, 'users are separate');
      await elapse(500);
      assert.deepEqual(await store.wrongCodes('carl@contoso.com'), { count: 0, ttlMs: 0 });
      assert.equal((await store.addWrongCode('carl@contoso.com', 60_000)).count, 1, 'a new window after the last one ended');
      await store.clearWrongCodes('carl@contoso.com');
      assert.equal((await store.wrongCodes('carl@contoso.com')).count, 0);
    });
  });
}

contract('memory', () => {
  const clock = new ManualClock();
  return { store: new MemoryMfaStore(clock), elapse: async (ms) => clock.advance(ms) };
});

function fileStore(clock = new ManualClock()): FileMfaStore {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-mfa-'));
  dirs.push(dir);
  return new FileMfaStore(join(dir, 'mfa'), clock);
}

contract('file', () => {
  const clock = new ManualClock();
  return { store: fileStore(clock), elapse: async (ms) => clock.advance(ms) };
});

let prefixes = 0;
function redisStore(keyPrefix = `t${++prefixes}:`, where: Pick<RedisConnectionConfig, 'url' | 'cluster'> = { url: redis.url }): RedisMfaStore {
  const connection = openRedis({ ...where, keyPrefix, connectTimeoutMs: 2000, commandTimeoutMs: 2000 }, silentLogger);
  connections.push(connection);
  return new RedisMfaStore(connection);
}

contract('redis', () => ({ store: redisStore(), elapse: (ms) => sleep(ms) }));
contract('redis cluster', () => ({ store: redisStore(undefined, { cluster: cluster.seeds }), elapse: (ms) => sleep(ms) }));

describe('file mfa store specifics', () => {
  test('one owner-only file per user, named by a hash (no UPN in a path), gone when empty', async () => {
    const store = fileStore();
    await store.compareAndSet('../evil@contoso.com', 0, ENROLMENT);
    await store.putPending('ann@contoso.com', PENDING, 60_000);
    const files = readdirSync(store.dir);
    assert.equal(files.length, 2);
    for (const file of files) {
      assert.match(file, /^[0-9a-f]{64}\.json$/);
      assert.equal(statSync(join(store.dir, file)).mode & 0o777, 0o600);
    }
    assert.equal(statSync(store.dir).mode & 0o777, 0o700);
    await store.deletePending('ann@contoso.com');
    assert.equal(readdirSync(store.dir).length, 1, 'a file with nothing left is removed');
  });

  test('a damaged file, or one copied onto another user, fails clearly', async () => {
    const store = fileStore();
    await store.compareAndSet('alice@contoso.com', 0, ENROLMENT);
    await store.compareAndSet('mallory@contoso.com', 0, ENROLMENT);
    const [aliceFile] = readdirSync(store.dir).filter((f) => readFileSync(join(store.dir, f), 'utf8').includes('alice@'));
    const [malloryFile] = readdirSync(store.dir).filter((f) => readFileSync(join(store.dir, f), 'utf8').includes('mallory@'));
    assert.ok(aliceFile && malloryFile);
    writeFileSync(join(store.dir, aliceFile), readFileSync(join(store.dir, malloryFile)));
    await assert.rejects(store.get('alice@contoso.com'), (err: Error) => err instanceof MfaRecordError && /not the second-factor record of alice@contoso\.com/.test(err.message));
    writeFileSync(join(store.dir, aliceFile), '{not json');
    await assert.rejects(store.get('alice@contoso.com'), MfaRecordError);
  });

  test('openMfaStore without Redis: files under <dataDir>/mfa', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'openfed-mfa-data-'));
    dirs.push(dataDir);
    const store = openMfaStore({ dataDir, sessions: { lifetimeMinutes: 480 } } as Parameters<typeof openMfaStore>[0], silentLogger);
    assert.equal(store.kind, 'file');
    assert.equal((store as FileMfaStore).dir, join(dataDir, 'mfa'));
  });
});

describe('redis mfa store specifics', () => {
  test('keys under the prefix: a hash per enrolment (no expiry), expiring pending and wrong-code keys', async () => {
    const store = redisStore('farm:');
    await store.compareAndSet('alice@contoso.com', 0, ENROLMENT);
    await store.putPending('bob@contoso.com', PENDING, 60_000);
    await store.addWrongCode('alice@contoso.com', 900_000);
    assert.equal(await redis.command('TYPE', 'farm:mfa:user:alice@contoso.com'), 'hash');
    assert.equal(await redis.command('PTTL', 'farm:mfa:user:alice@contoso.com'), -1);
    const pendingTtl = await redis.command('PTTL', 'farm:mfa:pending:bob@contoso.com');
    assert.ok(typeof pendingTtl === 'number' && pendingTtl > 59_000 && pendingTtl <= 60_000, String(pendingTtl));
    const wrongTtl = await redis.command('PTTL', 'farm:mfa:wrong:alice@contoso.com');
    assert.ok(typeof wrongTtl === 'number' && wrongTtl > 899_000 && wrongTtl <= 900_000, String(wrongTtl));
    const keys = ((await redis.command('KEYS', 'farm:*')) as string[]).sort();
    assert.deepEqual(keys, ['farm:mfa:pending:bob@contoso.com', 'farm:mfa:user:alice@contoso.com', 'farm:mfa:wrong:alice@contoso.com']);
  });

  test('two nodes (two connections) share enrolments and counts; a damaged record fails clearly', async () => {
    const a = redisStore('shared:');
    const b = redisStore('shared:');
    await a.compareAndSet('bob@contoso.com', 0, ENROLMENT);
    assert.deepEqual((await b.get('bob@contoso.com'))?.enrolment, ENROLMENT);
    await a.addWrongCode('bob@contoso.com', 60_000);
    assert.equal((await b.addWrongCode('bob@contoso.com', 60_000)).count, 2);
    await redis.command('HSET', 'shared:mfa:user:carol@contoso.com', 'v', '1', 'doc', '{"methods":[]}');
    await assert.rejects(b.get('carol@contoso.com'), MfaRecordError);
  });

  test('Redis down: operations fail with StoreUnavailableError (the page answers 503)', async () => {
    const store = redisStore('down:');
    await store.get('x');
    redis.pause();
    try {
      await assert.rejects(store.get('x'), { name: 'StoreUnavailableError' });
      await assert.rejects(store.addWrongCode('x', 1000), { name: 'StoreUnavailableError' });
    } finally {
      redis.resume();
    }
  });
});
