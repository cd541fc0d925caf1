/**
 * sessions.redis in Sentinel mode against real processes: a master, its replica and a sentinel.
 * The store contract runs through the sentinel; then the master dies, the sentinel promotes the
 * replica, and the same stores carry on (503 meanwhile) without a restart.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/clock.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { startRedisSentinel } from '../helpers/redis.js';
import { openRedisStores, redisFixture, sampleRecord, sessionStoreContract, type RedisStores } from './contract.js';

const PASSWORD = 'Data-n0de-pa55!';
const SENTINEL_PASSWORD = 'Sentinel-pa55?';
const setup = await startRedisSentinel({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD, downAfterMs: 1000 });

type RedisInput = NonNullable<NonNullable<ConfigInput['sessions']>['redis']>;

function openStores(logger: Logger, overrides: Partial<RedisInput> = {}): RedisStores {
  const keyPrefix = `t-${randomUUID().slice(0, 8)}:`;
  const config = configSchema.parse({
    sessions: {
      redis: {
        sentinels: setup.sentinels,
        name: setup.name,
        password: PASSWORD,
        sentinelPassword: SENTINEL_PASSWORD,
        keyPrefix,
        connectTimeoutMs: 1000,
        commandTimeoutMs: 1000,
        ...overrides,
      },
    },
  });
  return openRedisStores(config, logger);
}

function captureLogs(): { logger: Logger; text: () => string; lines: () => { level: number; msg: string }[] } {
  const raw: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void raw.push(line) });
  return { logger, text: () => raw.join(''), lines: () => raw.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

sessionStoreContract('redis sentinel', () => redisFixture(openStores(createLogger('silent'))));

describe('redis sentinel', () => {
  it('writes go to the master the sentinel names, and reach the replica', async (t) => {
    const stores = openStores(createLogger('silent'));
    t.after(() => stores.close());
    assert.match((await stores.sessions.health()).detail, /redis sentinel ok/);
    const id = await stores.sessions.create(sampleRecord(systemClock));
    const key = `${stores.keyPrefix}sess:{${id.slice(0, 3)}}${id.slice(3)}`;
    assert.equal(await setup.masterPort(), setup.master.port);
    assert.equal(typeof (await setup.master.command('GET', key)), 'string');
    await waitUntil(async () => typeof (await setup.replica.command('GET', key)) === 'string', 5000, 'replication');
  });

  it('a wrong sentinel password fails with StoreUnavailableError and leaks no password', async (t) => {
    const logs = captureLogs();
    const wrong = 'Wr0ng-sentinel-pa55';
    const stores = openStores(logs.logger, { sentinelPassword: wrong, password: 'Wr0ng-data-pa55' });
    t.after(() => stores.close());
    const error = await stores.sessions.get('A'.repeat(43)).then(
      () => assert.fail('expected an error'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof StoreUnavailableError);
    const health = await stores.sessions.health();
    assert.equal(health.ok, false);
    for (const text of [String(error.message), String(error.stack), health.detail, logs.text()]) {
      for (const secret of [wrong, 'Wr0ng-data-pa55', PASSWORD, SENTINEL_PASSWORD]) assert.ok(!text.includes(secret), `password leaked: ${text}`);
    }
  });
});

// Last: it changes who the master is.
describe('redis sentinel: failover', () => {
  it('the master dies, the sentinel promotes the replica, and the same stores work again (503 meanwhile)', async (t) => {
    const logs = captureLogs();
    const stores = openStores(logs.logger);
    t.after(() => stores.close());
    const record = sampleRecord(systemClock);
    const id = await stores.sessions.create(record);
    const pendingId = await stores.pending.put({ path: '/resume' }, 120_000);
    const key = `${stores.keyPrefix}sess:{${id.slice(0, 3)}}${id.slice(3)}`;
    // Replication is asynchronous: only what reached the replica survives the failover.
    await waitUntil(async () => typeof (await setup.replica.command('GET', key)) === 'string', 5000, 'replication');

    await setup.master.stop(); // SIGKILL, as a crash
    const started = performance.now();
    let outageErrors = 0;
    let back: Awaited<ReturnType<typeof stores.sessions.get>>;
    for (;;) {
      try {
        back = await stores.sessions.get(id);
        if (back !== undefined) break;
      } catch (err) {
        // During the outage every operation fails the one way pages turn into 503.
        assert.ok(err instanceof StoreUnavailableError, String(err));
        outageErrors++;
      }
      assert.ok(performance.now() - started < 30_000, 'no failover within 30 s');
      await sleep(100);
    }
    t.diagnostic(`sessions readable again ${Math.round(performance.now() - started)} ms after the master died (${outageErrors} refused meanwhile)`);
    assert.deepStrictEqual(back, record, 'the replicated session survived');
    assert.equal(await setup.masterPort(), setup.replica.port, 'the sentinel promoted the replica');

    const fresh = await stores.sessions.create(sampleRecord(systemClock));
    await stores.sessions.addRelyingParty(fresh, 'urn:rp:after-failover');
    assert.deepStrictEqual((await stores.sessions.get(fresh))?.relyingParties, ['urn:rp:after-failover']);
    assert.deepStrictEqual(await stores.pending.take(pendingId), { path: '/resume' });
    assert.equal(await stores.sessions.destroyForUser(record.principal.userPrincipalName), 2);
    assert.equal((await stores.sessions.health()).ok, true);
    assert.equal(typeof (await setup.replica.command('GET', `${stores.keyPrefix}pend:${pendingId}`)), 'object', 'taken on the new master');
    assert.ok(!logs.text().includes(PASSWORD) && !logs.text().includes(SENTINEL_PASSWORD));

    // Nodes started after the failover find the new master through the sentinel.
    const later = openStores(createLogger('silent'), { keyPrefix: stores.keyPrefix });
    t.after(() => later.close());
    assert.equal(await later.sessions.get(id), undefined, 'revoked above');
    assert.ok(await later.sessions.get(await later.sessions.create(sampleRecord(systemClock))));
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await condition().catch(() => false)) return;
    await sleep(50);
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}
