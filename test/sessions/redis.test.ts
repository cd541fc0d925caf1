import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/clock.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/log.js';
import { makeTlsMaterial, startRedisServer } from '../helpers/redis.js';
import { userSlotTag } from '../../src/sessions/ids.js';
import { EMPTY_STATE } from '../../src/lockout/policy.js';
import { openRedisStores, redisFixture, samplePrincipal, sampleRecord, sessionStoreContract, type RedisStores } from './contract.js';

const redis = await startRedisServer();
const tlsMaterial = makeTlsMaterial();
const tlsRedis = await startRedisServer({ tls: tlsMaterial });

type RedisInput = NonNullable<NonNullable<ConfigInput['sessions']>['redis']>;

function openStores(url: string, logger: Logger, redisOverrides: Partial<RedisInput> = {}): RedisStores {
  const keyPrefix = `t-${randomUUID().slice(0, 8)}:`;
  const config = configSchema.parse({
    sessions: { redis: { url, keyPrefix, connectTimeoutMs: 500, commandTimeoutMs: 500, ...redisOverrides } },
  });
  return openRedisStores(config, logger);
}

function captureLogs(): { logger: Logger; lines: () => { level: number; msg: string }[]; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void raw.push(line) });
  return {
    logger,
    lines: () => raw.map((line) => JSON.parse(line) as { level: number; msg: string }),
    text: () => raw.join(''),
  };
}

/** Awaits `operation`, asserts it failed with StoreUnavailableError within `withinMs`; returns ms taken. */
async function assertUnavailable(operation: Promise<unknown>, withinMs: number, what: string): Promise<number> {
  const started = performance.now();
  await assert.rejects(operation, StoreUnavailableError, what);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < withinMs, `${what} took ${Math.round(elapsed)} ms (limit ${withinMs})`);
  return elapsed;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await condition().catch(() => false)) return performance.now() - started;
    await sleep(50);
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

sessionStoreContract('redis', () => redisFixture(openStores(redis.url, createLogger('silent'))));

describe('redis: storage layout', () => {
  let stores: ReturnType<typeof openStores>;
  before(() => {
    stores = openStores(redis.url, createLogger('silent'));
  });
  after(() => stores.close());

  it('stores compact JSON under <prefix>sess:{<user tag>}<id> with the record lifetime as PX, indexed per user', async () => {
    const record = sampleRecord(systemClock, { expiresAt: Date.now() + 3_600_000 });
    const id = await stores.sessions.create(record);
    const tag = userSlotTag('zoe.nunez@contoso.com');
    assert.equal(id.slice(0, 3), tag, 'the id starts with the user slot tag');
    const key = `${stores.keyPrefix}sess:{${tag}}${id.slice(3)}`;
    const pttl = Number(await redis.command('PTTL', key));
    assert.ok(pttl > 3_590_000 && pttl <= 3_600_000, `PTTL ${pttl}`);
    const stored = await redis.command('GET', key);
    assert.equal(typeof stored, 'string');
    assert.ok(!String(stored).includes('\n'), 'compact');

    const userKey = `${stores.keyPrefix}user:{${tag}}zoe.nunez@contoso.com`;
    assert.deepStrictEqual(await redis.command('SMEMBERS', userKey), [id]);
    const userTtl = Number(await redis.command('PTTL', userKey));
    assert.ok(userTtl >= pttl - 1000, 'the index lives as long as the longest session');
    assert.equal(calculateSlot(key), calculateSlot(userKey), 'one Redis Cluster slot for the session and its index');
  });

  it('costs at most 1 KB of Redis memory per SSO session (principal with 5 groups), key included', async (t) => {
    // The default prefix: its length is part of every key, hence of what a session costs.
    const sized = openStores(redis.url, createLogger('silent'), { keyPrefix: 'openfed:' });
    t.after(() => sized.close());
    const usage = async (groups: number) => {
      const base = sampleRecord(systemClock).principal.groups;
      const principal = samplePrincipal({
        groups: Array.from({ length: groups }, (_, i) => {
          const g = base[i % base.length]!;
          return { ...g, name: `${g.name} ${i}`, ...(g.sid && { sid: `S-1-5-21-1004336348-1177238915-682003330-${1100 + i}` }) };
        }),
      });
      const id = await sized.sessions.create(sampleRecord(systemClock, { principal }));
      // A typical session: 2 extra attributes and the relying party it was made for.
      await sized.sessions.addRelyingParty(id, 'https://app.contoso.com/saml/metadata');
      const key = `openfed:sess:{${id.slice(0, 3)}}${id.slice(3)}`;
      const json = await redis.command('GET', key);
      assert.equal(typeof json, 'string');
      const bytes = Number(await redis.command('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      t.diagnostic(`${groups} groups: ${Buffer.byteLength(String(json))} bytes of JSON, MEMORY USAGE ${bytes} bytes`);
      return bytes;
    };
    const five = await usage(5);
    assert.ok(five <= 1024, `${five} bytes per session with 5 groups`);
    assert.ok((await usage(0)) < five);
    assert.ok((await usage(20)) > five);
  });

  it('reads a record of another format version or a damaged one as signed out, with a warning', async (t) => {
    const logs = captureLogs();
    const own = openStores(redis.url, logs.logger);
    t.after(() => own.close());
    const id = await own.sessions.create(sampleRecord(systemClock));
    const key = `${own.keyPrefix}sess:{${id.slice(0, 3)}}${id.slice(3)}`;
    const stored = String(await redis.command('GET', key));
    for (const damaged of [stored.replace('"v":2', '"v":1'), stored.replace('"ds":"', '"dz":"'), stored.slice(0, -5), 'null']) {
      await redis.command('SET', key, damaged);
      assert.equal(await own.sessions.get(id), undefined, damaged.slice(0, 40));
    }
    assert.ok(logs.lines().some((l) => l.level === 40 && /unknown format/.test(l.msg)));
  });

  it('prunes index entries of destroyed and expired sessions on the next create', async () => {
    const principal = sampleRecord(systemClock).principal;
    principal.userPrincipalName = 'prune@contoso.com';
    const gone = await stores.sessions.create(sampleRecord(systemClock, { principal }));
    const expiring = await stores.sessions.create(sampleRecord(systemClock, { principal, expiresAt: Date.now() + 50 }));
    await stores.sessions.destroy(gone);
    await sleep(100);
    const live = await stores.sessions.create(sampleRecord(systemClock, { principal }));
    const members = await redis.command('SMEMBERS', `${stores.keyPrefix}user:{${userSlotTag('prune@contoso.com')}}prune@contoso.com`);
    assert.deepStrictEqual(members, [live]);
    assert.equal(await stores.sessions.get(expiring), undefined);
  });

  it('runs its scripts by SHA (EVALSHA), and still after Redis lost them (SCRIPT FLUSH, as after a restart)', async () => {
    const calls = async () => {
      const stats = String(await redis.command('INFO', 'commandstats'));
      const count = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return { eval: count('eval'), evalsha: count('evalsha') };
    };
    await stores.sessions.create(sampleRecord(systemClock)); // the script is known from here on
    const before = await calls();
    for (let i = 0; i < 5; i++) await stores.sessions.create(sampleRecord(systemClock));
    const known = await calls();
    assert.equal(known.evalsha - before.evalsha, 5, 'five creates, five EVALSHA');
    assert.equal(known.eval, before.eval, 'no script body sent again');

    await redis.command('SCRIPT', 'FLUSH');
    const id = await stores.sessions.create(sampleRecord(systemClock));
    assert.ok(await stores.sessions.get(id), 'created after the flush');
    const after = await calls();
    assert.equal(after.eval - known.eval, 1, 'the body sent once, after NOSCRIPT');
  });

  it('a fresh connection runs its first scripts while other commands share their pipeline (concurrent sign-ins right after start)', async (t) => {
    // ioredis builds an auto-pipeline per tick; a script defined after that pipeline was made is
    // missing from it, which once turned the first concurrent sign-ins of a new worker into 503s.
    const fresh = openStores(redis.url, createLogger('silent'));
    t.after(() => fresh.close());
    const id = await fresh.sessions.create(sampleRecord(systemClock)); // connected; CREATE now known
    const results = await Promise.allSettled([
      fresh.sessions.get(id),
      fresh.lockout.consumeAddress('192.0.2.7'), // the limiter's own script (rate-limiter-flexible)
      fresh.sessions.addRelyingParty(id, 'urn:first'),
      fresh.sessions.create(sampleRecord(systemClock)),
      fresh.sessions.destroyForUser('nobody@contoso.com'),
      fresh.lockout.compareAndSet('fresh@contoso.com', 0, EMPTY_STATE, 60_000),
    ]);
    assert.deepStrictEqual(results.map((r) => r.status === 'rejected' ? String(r.reason?.cause ?? r.reason) : 'ok'), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  });
});

describe('redis: failure and recovery', () => {
  it('fails fast with StoreUnavailableError while Redis is down, and heals by itself when it returns', async (t) => {
    const logs = captureLogs();
    const stores = openStores(redis.url, logs.logger);
    t.after(() => stores.close());
    const unhandled: unknown[] = [];
    const originalConsoleError = console.error;
    console.error = (...args: unknown[]) => void unhandled.push(args); // ioredis's "Unhandled error event"
    t.after(() => {
      console.error = originalConsoleError;
    });

    const id = await stores.sessions.create(sampleRecord(systemClock));
    const pendingId = await stores.pending.put({ path: '/resume' }, 60_000);

    await redis.stop();
    const id2 = 'B'.repeat(43);
    let slowest = 0;
    for (let round = 0; round < 3; round++) {
      for (const [what, operation] of [
        ['get', () => stores.sessions.get(id)],
        ['create', () => stores.sessions.create(sampleRecord(systemClock))],
        ['addRelyingParty', () => stores.sessions.addRelyingParty(id, 'urn:rp')],
        ['destroy', () => stores.sessions.destroy(id2)],
        ['destroyForUser', () => stores.sessions.destroyForUser('zoe.nunez@contoso.com')],
        ['pending.put', () => stores.pending.put({ path: '/' }, 1000)],
        ['pending.take', () => stores.pending.take(pendingId)],
      ] as const) {
        slowest = Math.max(slowest, await assertUnavailable(operation(), 1000, what));
      }
      await sleep(300); // let a few reconnect attempts fail in between
    }
    t.diagnostic(`slowest failure while Redis was down: ${slowest.toFixed(1)} ms`);
    // Malformed ids never reach Redis, so they do not even notice it is gone.
    assert.equal(await stores.sessions.get('not-an-id'), undefined);
    const health = await stores.sessions.health();
    assert.equal(health.ok, false);
    assert.match(health.detail, /redis unavailable/);

    await redis.restart();
    const recoveredMs = await waitUntil(async () => (await stores.sessions.get(id)) === undefined, 10_000, 'recovery');
    t.diagnostic(`recovered ${Math.round(recoveredMs)} ms after redis-server came back`);
    const fresh = await stores.sessions.create(sampleRecord(systemClock));
    assert.ok(await stores.sessions.get(fresh));
    assert.equal((await stores.sessions.health()).ok, true);

    assert.deepStrictEqual(unhandled, [], 'nothing reached stderr');
    const warnings = logs.lines().filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, `one warning for the outage, got: ${warnings.map((w) => w.msg).join(' | ')}`);
    assert.match(warnings[0]?.msg ?? '', /^Redis lost/);
    assert.equal(logs.lines().filter((l) => /^Redis back/.test(l.msg)).length, 1);
  });

  it('a hung Redis (no answer at all) fails commands after commandTimeoutMs instead of hanging', async (t) => {
    const stores = openStores(redis.url, createLogger('silent'), { commandTimeoutMs: 300 });
    t.after(() => stores.close());
    const id = await stores.sessions.create(sampleRecord(systemClock));
    redis.pause();
    try {
      await assertUnavailable(stores.sessions.get(id), 1500, 'get against a frozen server');
      await assertUnavailable(stores.pending.take(id), 1500, 'take against a frozen server');
    } finally {
      redis.resume();
    }
    await waitUntil(async () => (await stores.sessions.get(id)) !== undefined, 10_000, 'recovery after resume');
  });

  it('starting while Redis is unreachable: operations fail quickly, nothing crashes', async (t) => {
    const nowhere = await startRedisServer();
    const url = nowhere.url;
    await nowhere.stop();
    const logs = captureLogs();
    const stores = openStores(url, logs.logger);
    t.after(() => stores.close());
    await assertUnavailable(stores.sessions.get('C'.repeat(43)), 1500, 'first get');
    await sleep(500);
    await assertUnavailable(stores.pending.put({ path: '/' }, 1000), 1000, 'later put');
    assert.equal(logs.lines().filter((l) => l.level === 40 && /^Redis unreachable/.test(l.msg)).length, 1);
  });

  it('never puts the Redis password in errors or logs', async (t) => {
    const secret = 'S3cret-pa55word-!';
    const guarded = await startRedisServer({ args: ['--requirepass', secret] });

    const wrong = 'Wrong-pa55word-?';
    const logs = captureLogs();
    const bad = openStores(`redis://:${encodeURIComponent(wrong)}@127.0.0.1:${guarded.port}`, logs.logger);
    t.after(() => bad.close());
    const error = await bad.sessions.get('D'.repeat(43)).then(
      () => assert.fail('expected an error'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof StoreUnavailableError);
    await sleep(300);
    const health = await bad.sessions.health();
    assert.equal(health.ok, false);
    for (const text of [error.message, error.stack ?? '', health.detail, logs.text()]) {
      assert.ok(!text.includes(wrong) && !text.includes(encodeURIComponent(wrong)), `password leaked: ${text}`);
    }

    const good = openStores(`redis://:${encodeURIComponent(secret)}@127.0.0.1:${guarded.port}`, createLogger('silent'));
    t.after(() => good.close());
    const id = await good.sessions.create(sampleRecord(systemClock));
    assert.ok(await good.sessions.get(id));
  });
});

describe('redis: TLS (rediss://)', () => {
  const tlsUrl = `rediss://127.0.0.1:${tlsRedis.tlsPort}`;

  it('works over TLS with the configured CA, verifying the certificate', async (t) => {
    const stores = openStores(tlsUrl, createLogger('silent'), { tls: { caFile: tlsMaterial.caFile } });
    t.after(() => stores.close());
    const record = sampleRecord(systemClock);
    const id = await stores.sessions.create(record);
    assert.deepStrictEqual(await stores.sessions.get(id), record);
    assert.equal((await stores.sessions.health()).ok, true);
    const key = `${stores.keyPrefix}sess:{${id.slice(0, 3)}}${id.slice(3)}`;
    assert.equal(typeof (await tlsRedis.command('GET', key)), 'string', 'the server behind the TLS port has it');
  });

  it('a certificate from another CA fails closed (503), unless verification is turned off', async (t) => {
    const logs = captureLogs();
    const wrongCa = openStores(tlsUrl, logs.logger, { tls: { caFile: tlsMaterial.otherCaFile } });
    t.after(() => wrongCa.close());
    await assert.rejects(wrongCa.sessions.get('E'.repeat(43)), StoreUnavailableError);
    await sleep(200);
    assert.match((await wrongCa.sessions.health()).detail, /redis unavailable: .*(certificate|self.signed|issuer)/i);

    const lab = openStores(tlsUrl, createLogger('silent'), { tls: { caFile: tlsMaterial.otherCaFile, rejectUnauthorized: false } });
    t.after(() => lab.close());
    assert.ok(await lab.sessions.get(await lab.sessions.create(sampleRecord(systemClock))));
  });

  it('an unreadable CA file is one clear error naming the key', () => {
    assert.throws(() => openStores(tlsUrl, createLogger('silent'), { tls: { caFile: '/nonexistent/ca.pem' } }), {
      message: 'configuration key sessions.redis.tls.caFile: /nonexistent/ca.pem cannot be read (ENOENT)',
    });
  });
});
