/**
 * Extranet smart lockout rules, as pure functions and through the guard with an in-memory store,
 * with a hand-moved clock: window, familiar vs unknown, reset on success, logOnly, off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import type { AuthResult, Principal } from '../../src/directory/types.js';
import { LockoutGuard, lockoutSettings } from '../../src/lockout/guard.js';
import { addressBlockOf, decide, EMPTY_STATE, MAX_FAMILIAR_IPS, recordSuccess, refund, reserve, type LockoutSettings } from '../../src/lockout/policy.js';
import { TooManyAttemptsError } from '../../src/lockout/guard.js';
import { silentLogger } from '../../src/log.js';
import { MemoryLockoutStore } from '../../src/lockout/memory-store.js';

const MIN = 60_000;
const DAY = 86_400_000;
const settings = (mode: LockoutSettings['mode'] = 'enforce'): LockoutSettings => ({
  mode,
  threshold: 3,
  observationWindowMs: 30 * MIN,
  familiarLocationMs: 14 * DAY,
});

describe('policy (pure)', () => {
  test('unknown address: refused at the threshold within the window, one try once the window has passed', () => {
    const s = settings();
    let state = EMPTY_STATE;
    let now = 1_000_000;
    for (let i = 0; i < 3; i++) {
      const d = decide(state, '203.0.113.9', now, s);
      assert.equal(d.refuse, false, `attempt ${i + 1}`);
      state = reserve(state, d.familiar, now).state;
      now += MIN;
    }
    assert.equal(state.unknownBadCount, 3);
    assert.deepEqual(decide(state, '203.0.113.9', now, s), { familiar: false, locked: true, refuse: true });
    assert.equal(decide(state, '198.51.100.1', state.lastBadAt + 29 * MIN, s).refuse, true, 'every unknown address');
    // The window counts from the last bad password: then exactly one attempt goes through.
    now = state.lastBadAt + 30 * MIN;
    const after = decide(state, '203.0.113.9', now, s);
    assert.equal(after.refuse, false);
    state = reserve(state, after.familiar, now).state;
    assert.equal(state.unknownBadCount, 4, 'counters do not decay with time');
    assert.equal(decide(state, '203.0.113.9', now + 1, s).refuse, true, 'refused again right after');
  });

  test('familiar addresses keep working while unknown ones are locked; they have their own counter', () => {
    const s = settings();
    let now = 5 * DAY;
    let state = recordSuccess(EMPTY_STATE, '10.0.0.5', now, s);
    for (let i = 0; i < 5; i++) state = reserve(state, false, (now += 1000)).state;
    assert.equal(decide(state, '203.0.113.9', now, s).refuse, true);
    assert.deepEqual(decide(state, '10.0.0.5', now, s), { familiar: true, locked: false, refuse: false });
    for (let i = 0; i < 3; i++) state = reserve(state, true, (now += 1000)).state;
    assert.equal(state.familiarBadCount, 3);
    assert.equal(decide(state, '10.0.0.5', now, s).refuse, true, 'the familiar counter has the same threshold');
  });

  test('an address is familiar for familiarLocationDays after its last success', () => {
    const s = settings();
    const state = recordSuccess(EMPTY_STATE, '10.0.0.5', 0, s);
    assert.equal(decide(state, '10.0.0.5', 14 * DAY - 1, s).familiar, true);
    assert.equal(decide(state, '10.0.0.5', 14 * DAY, s).familiar, false);
  });

  test('success clears both counters and the time, and adds the address (bounded, most recent first)', () => {
    const s = settings();
    let state = reserve(reserve(EMPTY_STATE, false, 10).state, true, 20).state;
    state = recordSuccess(state, '10.0.0.1', 30, s);
    assert.deepEqual({ ...state, familiarIps: undefined }, { unknownBadCount: 0, familiarBadCount: 0, lastBadAt: 0, familiarIps: undefined });
    for (let i = 0; i < MAX_FAMILIAR_IPS + 5; i++) state = recordSuccess(state, `10.0.1.${i}`, 100 + i, s);
    state = recordSuccess(state, '10.0.1.0', 1000, s);
    assert.equal(state.familiarIps.length, MAX_FAMILIAR_IPS);
    assert.equal(state.familiarIps[0]?.ip, '10.0.1.0');
    assert.equal(new Set(state.familiarIps.map((f) => f.ip)).size, MAX_FAMILIAR_IPS);
  });

  test('refund undoes exactly one reservation', () => {
    const r1 = reserve(EMPTY_STATE, false, 100);
    const r2 = reserve(r1.state, false, 200);
    assert.deepEqual(refund(r2.state, r2.reservation), r1.state);
    // A later bad password keeps its time when an earlier reservation is refunded.
    assert.equal(refund(r2.state, r1.reservation).lastBadAt, 200);
    assert.equal(refund(EMPTY_STATE, r1.reservation).unknownBadCount, 0);
  });

  test('logOnly: locked is reported, never refused; off: never locked', () => {
    let state = EMPTY_STATE;
    for (let i = 0; i < 10; i++) state = reserve(state, false, i).state;
    assert.deepEqual(decide(state, '203.0.113.9', 10, settings('logOnly')), { familiar: false, locked: true, refuse: false });
    assert.deepEqual(decide(state, '203.0.113.9', 10, settings('off')), { familiar: false, locked: false, refuse: false });
  });

  test('settings from config', () => {
    assert.deepEqual(
      lockoutSettings({ mode: 'enforce', threshold: 5, observationWindowMinutes: 30, familiarLocationDays: 14, perAddress: { attempts: 20, windowSeconds: 60 } }),
      { mode: 'enforce', threshold: 5, observationWindowMs: 30 * MIN, familiarLocationMs: 14 * DAY },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The guard around a fake password check, with aliases resolved by a fake directory.

const PASSWORD = 'Right-Passw0rd!';
const principal = { userPrincipalName: 'Alice@Contoso.com' } as Principal;
const NAMES = new Set(['alice', 'alice@contoso.com', 'contoso\\alice']);

function fixture(mode: LockoutSettings['mode'] = 'enforce', start = Date.UTC(2026, 0, 1)) {
  const clock = new ManualClock(start);
  const store = new MemoryLockoutStore({ attempts: 0, windowSeconds: 60 }, clock);
  const audit = new MemoryAuditLog();
  let binds = 0;
  let lookups = 0;
  const directory = {
    userPrincipalNameOf: async (name: string) => {
      lookups++;
      return NAMES.has(name.toLowerCase()) ? principal.userPrincipalName : undefined;
    },
  };
  const guard = new LockoutGuard({
    config: { mode, threshold: 3, observationWindowMinutes: 30, familiarLocationDays: 14, perAddress: { attempts: 0, windowSeconds: 60 } },
    store,
    directory,
    audit,
    logger: silentLogger,
    clock,
  });
  const bind = (name: string, password: string) => async (): Promise<AuthResult> => {
    binds++;
    if (!NAMES.has(name.toLowerCase())) return { ok: false, reason: 'invalid_credentials' };
    return password === PASSWORD ? { ok: true, principal } : { ok: false, reason: 'invalid_credentials' };
  };
  const attempt = (name: string, password: string, clientIp: string) =>
    guard.authenticate({ username: name, clientIp, requestId: 'r' }, bind(name, password));
  return { clock, store, audit, guard, attempt, binds: () => binds, lookups: () => lookups };
}

describe('guard', () => {
  test('enforce: spelling rotation counts against one user, and the directory is not asked once locked', async () => {
    const f = fixture();
    for (const name of ['alice', 'ALICE', 'CONTOSO\\alice', 'alice@contoso.com', 'Alice@Contoso.COM', 'alice']) {
      await f.attempt(name, 'wrong', '203.0.113.9');
    }
    assert.equal(f.binds(), 3, 'only threshold binds reach the directory');
    const state = await f.store.get('alice@contoso.com');
    assert.equal(state?.state.unknownBadCount, 3);
    const blocked = f.audit.events.filter((e) => e.type === 'lockout.blocked');
    assert.equal(blocked.length, 3);
    assert.deepEqual(blocked[0], { type: 'lockout.blocked', user: 'alice@contoso.com', clientIp: '203.0.113.9', familiar: false, requestId: 'r' });
    // The refused answer reads like a wrong password.
    const refused = await f.attempt('alice', PASSWORD, '203.0.113.9');
    assert.deepEqual(refused, { ok: false, reason: 'invalid_credentials', detail: 'refused by extranet lockout', lockedOut: true });
    assert.ok(f.lookups() <= 3, 'each spelling resolved once, then cached');
  });

  test('the real user signs in from a familiar address while unknown ones are locked; success resets', async () => {
    const f = fixture();
    assert.equal((await f.attempt('alice', PASSWORD, '10.0.0.5')).ok, true);
    for (let i = 0; i < 10; i++) await f.attempt('alice', 'wrong', '203.0.113.9');
    assert.equal((await f.attempt('alice', PASSWORD, '203.0.113.9')).ok, false, 'unknown address refused even with the right password');
    const home = await f.attempt('alice', PASSWORD, '10.0.0.5');
    assert.equal(home.ok, true);
    const state = (await f.store.get('alice@contoso.com'))?.state;
    assert.equal(state?.unknownBadCount, 0);
    assert.equal((await f.attempt('alice', PASSWORD, '203.0.113.9')).ok, true, 'and the unknown address works again');
  });

  test('window: one attempt per observation window once locked', async () => {
    const f = fixture();
    for (let i = 0; i < 3; i++) await f.attempt('alice', 'wrong', '203.0.113.9');
    const before = f.binds();
    f.clock.advance(29 * 60_000);
    await f.attempt('alice', 'wrong', '203.0.113.9');
    assert.equal(f.binds(), before);
    f.clock.advance(60_000);
    await f.attempt('alice', 'wrong', '203.0.113.9');
    await f.attempt('alice', 'wrong', '203.0.113.9');
    assert.equal(f.binds(), before + 1);
  });

  test('only a bad password counts: other failures and thrown errors are refunded', async () => {
    const f = fixture();
    for (const reason of ['account_disabled', 'password_expired', 'directory_unavailable', 'account_locked'] as const) {
      await f.guard.authenticate({ username: 'alice', clientIp: '203.0.113.9', requestId: 'r' }, async (): Promise<AuthResult> => ({ ok: false, reason }));
    }
    await assert.rejects(f.guard.authenticate({ username: 'alice', clientIp: '203.0.113.9', requestId: 'r' }, async () => Promise.reject(new Error('boom'))));
    const state = (await f.store.get('alice@contoso.com'))?.state;
    assert.equal(state?.unknownBadCount, 0);
    assert.equal(state?.lastBadAt, 0);
  });

  test('parallel attempts cannot overshoot the threshold (the count is reserved before the bind)', async () => {
    const f = fixture();
    await Promise.all(Array.from({ length: 50 }, () => f.attempt('alice', 'wrong', '203.0.113.9')));
    assert.equal(f.binds(), 3);
  });

  test('logOnly: audits and records but never refuses', async () => {
    const f = fixture('logOnly');
    for (let i = 0; i < 6; i++) await f.attempt('alice', 'wrong', '203.0.113.9');
    assert.equal(f.binds(), 6);
    assert.equal((await f.store.get('alice@contoso.com'))?.state.unknownBadCount, 6);
    assert.equal(f.audit.events.filter((e) => e.type === 'lockout.blocked').length, 3);
  });

  test('off: no state, no lookups', async () => {
    const f = fixture('off');
    for (let i = 0; i < 6; i++) await f.attempt('alice', 'wrong', '203.0.113.9');
    assert.equal(f.binds(), 6);
    assert.equal(f.lookups(), 0);
    assert.equal(await f.store.get('alice@contoso.com'), undefined);
  });

  test('unknown names are counted as typed and kept for the window only', async () => {
    const f = fixture();
    for (let i = 0; i < 5; i++) await f.attempt('Nobody', 'wrong', '203.0.113.9');
    assert.equal(f.binds(), 3);
    assert.equal((await f.store.get('nobody'))?.state.unknownBadCount, 3);
    f.clock.advance(30 * 60_000);
    assert.equal(await f.store.get('nobody'), undefined);
  });
});

describe('per-address throttle: what counts as one address', () => {
  const cases: Array<[string, string]> = [
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:0:0:0:9', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['::1', '0:0:0:0::/64'],
    ['', ''],
    ['not an address', 'not an address'],
  ];
  for (const [ip, block] of cases) {
    test(`${ip || '(empty)'} → ${block || '(empty)'}`, () => assert.equal(addressBlockOf(ip), block));
  }

  test('addresses of one IPv6 /64 share one budget; the next /64 and IPv4 have their own', async () => {
    const store = new MemoryLockoutStore({ attempts: 3, windowSeconds: 60 }, new ManualClock(Date.UTC(2026, 0, 1)));
    const guard = new LockoutGuard({
      config: { mode: 'enforce', threshold: 3, observationWindowMinutes: 30, familiarLocationDays: 14, perAddress: { attempts: 3, windowSeconds: 60 } },
      store,
      directory: { userPrincipalNameOf: async () => undefined },
      audit: new MemoryAuditLog(),
      logger: silentLogger,
      clock: new ManualClock(Date.UTC(2026, 0, 1)),
    });
    for (const ip of ['2001:db8:7:7::1', '2001:db8:7:7:a:b:c:d', '2001:db8:7:7:ffff:ffff:ffff:ffff']) await guard.throttleAddress(ip);
    await assert.rejects(guard.throttleAddress('2001:db8:7:7::42'), TooManyAttemptsError, 'a fourth address in the same /64 is over the limit');
    await guard.throttleAddress('2001:db8:7:8::1');
    await guard.throttleAddress('192.0.2.7');
  });
});
