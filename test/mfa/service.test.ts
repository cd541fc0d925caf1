/**
 * MfaService with an injected clock, on the memory store and replay cache: enrolment, TOTP within
 * ±1 step (codes made by otplib's own generator for a given time), replay, recovery codes, the
 * wrong-code limit and its window, reset, sealed secrets, and what the audit trail says.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { beforeEach, describe, test } from 'node:test';
import { authenticator } from 'otplib';
import { createAuditLog, MemoryAuditLog } from '../../src/audit/audit.js';
import { ManualClock } from '../../src/clock.js';
import { MfaSecretError, MfaService, type MfaServiceOptions } from '../../src/mfa/service.js';
import { MemoryMfaStore } from '../../src/mfa/types.js';
import { MemoryReplayCache } from '../../src/sessions/memory.js';

const SECRET = 'a-test-encryption-secret-of-at-least-32-chars';
const CTX = { clientIp: '203.0.113.7', requestId: 'req-1' };
const STEP = 30_000;
const MINUTE = 60_000;

/** The code an authenticator app shows at `at` (epoch ms). */
function codeAt(secret: string, at: number): string {
  return authenticator.clone({ epoch: at }).generate(secret);
}

let clock: ManualClock;
let store: MemoryMfaStore;
let audit: MemoryAuditLog;
let replay: MemoryReplayCache;

function service(options: Partial<MfaServiceOptions> = {}): MfaService {
  return new MfaService({ store, replay, audit, clock, encryptionSecret: SECRET, issuer: 'Contoso', ...options });
}

/** Enrols `upn` now; returns the app's secret and the recovery codes, and moves past the confirming step. */
async function enrol(mfa: MfaService, upn = 'alice@contoso.com'): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begun = await mfa.beginEnrolment(upn);
  assert.ok(begun.ok);
  const confirmed = await mfa.confirmEnrolment(upn, codeAt(begun.secret, clock.now()), CTX);
  assert.ok(confirmed.ok, JSON.stringify(confirmed));
  clock.advance(3 * STEP); // out of the confirmation code's window: later codes are new steps
  return { secret: begun.secret, recoveryCodes: confirmed.recoveryCodes };
}

beforeEach(() => {
  clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 15)); // mid-step: ±1 step is ±30 s either way
  store = new MemoryMfaStore(clock);
  audit = new MemoryAuditLog();
  replay = new MemoryReplayCache({ clock });
});

describe('enrolment', () => {
  test('begin gives a base32 secret and an otpauth URI; the first code confirms it and returns 10 recovery codes once', async () => {
    const mfa = service();
    assert.equal((await mfa.status('Alice@Contoso.com')).enrolled, false);
    const begun = await mfa.beginEnrolment('Alice@Contoso.com');
    assert.ok(begun.ok);
    assert.match(begun.secret, /^[A-Z2-7]{32}$/, '160 bits of base32');
    const uri = new URL(begun.otpauthUri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/Contoso:Alice@Contoso.com');
    assert.deepEqual(Object.fromEntries(uri.searchParams), { secret: begun.secret, period: '30', digits: '6', algorithm: 'SHA1', issuer: 'Contoso' });
    assert.equal(begun.expiresAt, clock.now() + 10 * MINUTE);
    assert.equal((await mfa.status('alice@contoso.com')).pendingEnrolment, true);

    assert.deepEqual(await mfa.confirmEnrolment('alice@contoso.com', codeAt(begun.secret, clock.now() + 2 * STEP), CTX), { ok: false, reason: 'wrong_code' });
    const confirmed = await mfa.confirmEnrolment('alice@contoso.com', codeAt(begun.secret, clock.now()), CTX);
    assert.ok(confirmed.ok);
    assert.equal(confirmed.recoveryCodes.length, 10);
    for (const code of confirmed.recoveryCodes) assert.match(code, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    assert.equal(new Set(confirmed.recoveryCodes).size, 10);

    const status = await mfa.status('ALICE@contoso.com');
    assert.equal(status.enrolled, true);
    assert.equal(status.user, 'alice@contoso.com');
    assert.deepEqual(status.methods, [{ method: 'totp', addedAt: clock.now() }]);
    assert.equal(status.recoveryCodesLeft, 10);
    assert.equal(status.pendingEnrolment, false);
    assert.deepEqual(audit.events, [{ type: 'mfa.enrolled', user: 'alice@contoso.com', method: 'totp', clientIp: CTX.clientIp, requestId: 'req-1' }]);

    // Stored: neither the secret nor a recovery code in clear.
    const stored = JSON.stringify((await store.get('alice@contoso.com'))?.enrolment);
    assert.ok(!stored.includes(begun.secret));
    for (const code of confirmed.recoveryCodes) assert.ok(!stored.includes(code) && !stored.includes(code.replace('-', '')));
  });

  test('the confirming code is spent: it does not also answer a verify', async () => {
    const mfa = service();
    const begun = await mfa.beginEnrolment('alice@contoso.com');
    assert.ok(begun.ok);
    const code = codeAt(begun.secret, clock.now());
    assert.ok((await mfa.confirmEnrolment('alice@contoso.com', code, CTX)).ok);
    assert.deepEqual(await mfa.verify('alice@contoso.com', code, CTX), { ok: false, reason: 'replayed' });
  });

  test('enrolled users cannot begin again; a pending enrolment expires after 10 minutes; a new begin replaces the secret', async () => {
    const mfa = service();
    const first = await mfa.beginEnrolment('bob@contoso.com');
    const second = await mfa.beginEnrolment('bob@contoso.com');
    assert.ok(first.ok && second.ok);
    assert.notEqual(first.secret, second.secret);
    assert.deepEqual(await mfa.confirmEnrolment('bob@contoso.com', codeAt(first.secret, clock.now()), CTX), { ok: false, reason: 'wrong_code' });
    clock.advance(10 * MINUTE + 1);
    assert.deepEqual(await mfa.confirmEnrolment('bob@contoso.com', codeAt(second.secret, clock.now()), CTX), { ok: false, reason: 'no_pending' });

    await enrol(mfa);
    assert.deepEqual(await mfa.beginEnrolment('alice@contoso.com'), { ok: false, reason: 'already_enrolled' });
  });

  test('two confirmations at once: one enrolment', async () => {
    const mfa = service();
    const begun = await mfa.beginEnrolment('alice@contoso.com');
    assert.ok(begun.ok);
    const results = await Promise.all([
      mfa.confirmEnrolment('alice@contoso.com', codeAt(begun.secret, clock.now()), CTX),
      mfa.confirmEnrolment('alice@contoso.com', codeAt(begun.secret, clock.now() - STEP), CTX),
    ]);
    assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results));
  });
});

describe('verify: TOTP', () => {
  test('accepted now and one step either side; refused two steps away', async () => {
    const mfa = service();
    const { secret } = await enrol(mfa);
    const now = clock.now();
    assert.deepEqual(await mfa.verify('alice@contoso.com', codeAt(secret, now), CTX), { ok: true, via: 'totp' });
    assert.deepEqual(await mfa.verify('alice@contoso.com', codeAt(secret, now - STEP), CTX), { ok: true, via: 'totp' });
    assert.deepEqual(await mfa.verify('Alice@Contoso.com', codeAt(secret, now + STEP), CTX), { ok: true, via: 'totp' });
    assert.equal((await mfa.verify('alice@contoso.com', codeAt(secret, now - 2 * STEP), CTX)).ok, false);
    assert.deepEqual(await mfa.verify('alice@contoso.com', codeAt(secret, now + 2 * STEP), CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 3 });
    assert.deepEqual(
      audit.events.filter((e) => e.type.startsWith('mfa.')).map((e) => [e.type, 'reason' in e ? e.reason : 'method' in e ? e.method : '']),
      [['mfa.enrolled', 'totp'], ['mfa.succeeded', 'totp'], ['mfa.succeeded', 'totp'], ['mfa.succeeded', 'totp'], ['mfa.failed', 'wrong_code'], ['mfa.failed', 'wrong_code']],
    );
  });

  test('spaces in the code are fine ("123 456", as apps show it)', async () => {
    const mfa = service();
    const { secret } = await enrol(mfa);
    const code = codeAt(secret, clock.now());
    assert.equal((await mfa.verify('alice@contoso.com', `${code.slice(0, 3)} ${code.slice(3)}`, CTX)).ok, true);
  });

  test('a code is accepted once, also after its step has passed; a replay is audited and costs no attempt', async () => {
    const mfa = service();
    const { secret } = await enrol(mfa);
    const code = codeAt(secret, clock.now());
    assert.equal((await mfa.verify('alice@contoso.com', code, CTX)).ok, true);
    assert.deepEqual(await mfa.verify('alice@contoso.com', code, CTX), { ok: false, reason: 'replayed' });
    clock.advance(STEP); // the same code is now the previous step's, still inside the window
    assert.deepEqual(await mfa.verify('alice@contoso.com', code, CTX), { ok: false, reason: 'replayed' });
    assert.equal((await mfa.status('alice@contoso.com')).wrongCodes, 0);
    const failed = audit.events.filter((e) => e.type === 'mfa.failed');
    assert.deepEqual(failed.map((e) => ('reason' in e ? e.reason : '')), ['replayed', 'replayed']);
    // Two nodes (one shared replay cache) given the same fresh code at once: one wins.
    clock.advance(3 * STEP);
    const fresh = codeAt(secret, clock.now());
    const results = await Promise.all([mfa.verify('alice@contoso.com', fresh, CTX), mfa.verify('alice@contoso.com', fresh, CTX)]);
    assert.deepEqual(results.map((r) => r.ok).sort(), [false, true]);
  });

  test('codes of one user are not another\'s: replay keys are per user', async () => {
    const mfa = service();
    const alice = await enrol(mfa, 'alice@contoso.com');
    clock.advance(-3 * STEP);
    const bob = await enrol(mfa, 'bob@contoso.com');
    assert.equal((await mfa.verify('alice@contoso.com', codeAt(alice.secret, clock.now()), CTX)).ok, true);
    assert.equal((await mfa.verify('bob@contoso.com', codeAt(bob.secret, clock.now()), CTX)).ok, true, 'same step, other user');
    assert.equal((await mfa.verify('bob@contoso.com', codeAt(alice.secret, clock.now() + STEP), CTX)).ok, false);
  });

  test('not enrolled', async () => {
    const mfa = service();
    assert.deepEqual(await mfa.verify('nobody@contoso.com', '123456', CTX), { ok: false, reason: 'not_enrolled' });
    assert.deepEqual(audit.events, [{ type: 'mfa.failed', user: 'nobody@contoso.com', reason: 'not_enrolled', clientIp: CTX.clientIp, requestId: 'req-1' }]);
  });
});

describe('verify: recovery codes', () => {
  test('each works once, typed any case, with or without the dash; the count goes down', async () => {
    const mfa = service();
    const { recoveryCodes } = await enrol(mfa);
    const [first, second] = recoveryCodes as [string, string];
    assert.deepEqual(await mfa.verify('alice@contoso.com', first, CTX), { ok: true, via: 'recovery', recoveryCodesLeft: 9 });
    assert.deepEqual(await mfa.verify('alice@contoso.com', first, CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 4 });
    assert.deepEqual(await mfa.verify('alice@contoso.com', ` ${second.replace('-', '').toUpperCase()} `, CTX), { ok: true, via: 'recovery', recoveryCodesLeft: 8 });
    assert.equal((await mfa.status('alice@contoso.com')).recoveryCodesLeft, 8);
    const succeeded = audit.events.filter((e) => e.type === 'mfa.succeeded');
    assert.deepEqual(succeeded.map((e) => ('recoveryCodesLeft' in e ? e.recoveryCodesLeft : undefined)), [9, 8]);
  });

  test('the same code on two nodes at once: one succeeds', async () => {
    const mfa = service();
    const { recoveryCodes } = await enrol(mfa);
    const results = await Promise.all([0, 1, 2].map(() => mfa.verify('alice@contoso.com', recoveryCodes[3] as string, CTX)));
    assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results));
    assert.equal((await mfa.status('alice@contoso.com')).recoveryCodesLeft, 9);
  });

  test('a made-up code of the right shape is a wrong code', async () => {
    const mfa = service();
    await enrol(mfa);
    assert.deepEqual(await mfa.verify('alice@contoso.com', 'abcde-fghjk', CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 4 });
    assert.deepEqual(await mfa.verify('alice@contoso.com', 'not a code', CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 3 });
  });
});

describe('wrong-code limit', () => {
  test('5 wrong codes in 15 minutes: every code refused for the rest of the window, then accepted again', async () => {
    const mfa = service();
    const { secret, recoveryCodes } = await enrol(mfa);
    const windowStart = clock.now();
    for (let i = 1; i <= 5; i++) {
      assert.deepEqual(await mfa.verify('alice@contoso.com', '000000', CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 5 - i });
      clock.advance(MINUTE);
    }
    // Right codes too: a guess that happens to be right after the limit proves nothing.
    const refused = await mfa.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX);
    assert.deepEqual(refused, { ok: false, reason: 'too_many_attempts', retryAfterSeconds: 10 * 60 });
    assert.equal((await mfa.verify('alice@contoso.com', recoveryCodes[0] as string, CTX)).ok, false);
    const status = await mfa.status('alice@contoso.com');
    assert.equal(status.wrongCodes, 5);
    assert.equal(status.blockedForMs, windowStart + 15 * MINUTE - clock.now());
    assert.equal(status.recoveryCodesLeft, 10, 'a refused recovery code is not used up');

    clock.advance(windowStart + 15 * MINUTE - clock.now());
    assert.deepEqual(await mfa.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX), { ok: true, via: 'totp' });
    const tooMany = audit.events.filter((e) => e.type === 'mfa.failed' && e.reason === 'too_many_attempts');
    assert.equal(tooMany.length, 2);
    assert.deepEqual(tooMany[0], { type: 'mfa.failed', user: 'alice@contoso.com', reason: 'too_many_attempts', clientIp: CTX.clientIp, wrongCodes: 5, requestId: 'req-1' });
  });

  test('a success clears the count; limit and window are configurable', async () => {
    const mfa = service({ maxWrongCodes: 2, wrongCodeWindowMinutes: 1 });
    const { secret } = await enrol(mfa);
    await mfa.verify('alice@contoso.com', '111111', CTX);
    assert.equal((await mfa.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX)).ok, true);
    assert.equal((await mfa.status('alice@contoso.com')).wrongCodes, 0);
    await mfa.verify('alice@contoso.com', '111111', CTX);
    assert.deepEqual(await mfa.verify('alice@contoso.com', '222222', CTX), { ok: false, reason: 'wrong_code', attemptsLeft: 0 });
    assert.deepEqual(await mfa.verify('alice@contoso.com', '333333', CTX), { ok: false, reason: 'too_many_attempts', retryAfterSeconds: 60 });
    clock.advance(MINUTE);
    assert.equal((await mfa.verify('alice@contoso.com', codeAt(secret, clock.now() + STEP), CTX)).ok, true);
  });

  test('settings out of range are refused at construction', () => {
    assert.throws(() => service({ maxWrongCodes: 0 }), /maxWrongCodes/);
    assert.throws(() => service({ wrongCodeWindowMinutes: 0 }), /wrongCodeWindowMinutes/);
    assert.throws(() => service({ encryptionSecret: 'short' }), /keys\.encryptionSecret/);
  });

  test('without keys.encryptionSecret: status and reset work (the help desk can always reset), enrolling names the setting', async () => {
    const { secret } = await enrol(service());
    const without = service({ encryptionSecret: undefined });
    assert.equal((await without.status('alice@contoso.com')).enrolled, true);
    await assert.rejects(without.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX), /needs keys\.encryptionSecret/);
    await assert.rejects(without.beginEnrolment('bob@contoso.com'), /needs keys\.encryptionSecret/);
    assert.equal(await without.reset('alice@contoso.com', { by: 'helpdesk1' }), true);
  });
});

describe('reset', () => {
  test('forgets the enrolment, a pending one and the count; audited with who did it; the user enrols again', async () => {
    const mfa = service();
    await enrol(mfa);
    await mfa.verify('alice@contoso.com', '000000', CTX);
    assert.equal(await mfa.reset('Alice@Contoso.com', { by: 'helpdesk1' }), true);
    const status = await mfa.status('alice@contoso.com');
    assert.deepEqual([status.enrolled, status.wrongCodes, status.recoveryCodesLeft, status.pendingEnrolment], [false, 0, 0, false]);
    assert.deepEqual(audit.events.at(-1), { type: 'mfa.reset', user: 'alice@contoso.com', by: 'helpdesk1', requestId: undefined });
    assert.equal(await mfa.reset('alice@contoso.com', { by: 'helpdesk1' }), false);
    assert.equal((await mfa.beginEnrolment('alice@contoso.com')).ok, true);
  });
});

describe('secrets at rest', () => {
  test('a tampered blob does not open', async () => {
    const mfa = service();
    const { secret } = await enrol(mfa);
    const stored = await store.get('alice@contoso.com');
    assert.ok(stored);
    const credential = stored.enrolment.methods[0]!;
    const parts = credential.sealedSecret.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString('base64url');
    await store.compareAndSet('alice@contoso.com', stored.version, { ...stored.enrolment, methods: [{ ...credential, sealedSecret: parts.join('.') }] });
    await assert.rejects(mfa.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX), MfaSecretError);
  });

  test('a blob moved to another user does not open (the user is the associated data)', async () => {
    const mfa = service();
    const mallory = await enrol(mfa, 'mallory@contoso.com');
    clock.advance(-3 * STEP);
    await enrol(mfa, 'alice@contoso.com');
    const fromMallory = (await store.get('mallory@contoso.com'))!.enrolment;
    const alice = (await store.get('alice@contoso.com'))!;
    await store.compareAndSet('alice@contoso.com', alice.version, { ...alice.enrolment, methods: fromMallory.methods });
    // Mallory's own code, against Alice's account holding Mallory's secret: refused, loudly.
    await assert.rejects(mfa.verify('alice@contoso.com', codeAt(mallory.secret, clock.now()), CTX), (err: Error) => {
      assert.ok(err instanceof MfaSecretError);
      assert.match(err.message, /alice@contoso\.com/);
      return true;
    });
  });

  test('another keys.encryptionSecret says so, and never reads as "not enrolled"', async () => {
    const { secret } = await enrol(service());
    const other = service({ encryptionSecret: 'another-secret-on-a-misconfigured-node-0123' });
    assert.equal((await other.status('alice@contoso.com')).enrolled, true);
    await assert.rejects(other.verify('alice@contoso.com', codeAt(secret, clock.now()), CTX), (err: Error) => {
      assert.ok(err instanceof MfaSecretError);
      assert.match(err.message, /keys\.encryptionSecret does not decrypt the second-factor secret of alice@contoso\.com/);
      assert.match(err.message, /OPENFED_KEY_ENCRYPTION_SECRET/);
      assert.match(err.message, /openfed mfa reset alice@contoso\.com/);
      assert.ok(!err.message.includes(secret));
      return true;
    });
  });
});

describe('audit trail', () => {
  test('AD FS ids: 1202 for a second factor validated, 1203 for a failed one (not for "not enrolled"); no codes or secrets', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const mfa = service({ audit: createAuditLog(sink) });
    const begun = await mfa.beginEnrolment('alice@contoso.com');
    assert.ok(begun.ok);
    const confirmed = await mfa.confirmEnrolment('alice@contoso.com', codeAt(begun.secret, clock.now()), CTX);
    assert.ok(confirmed.ok);
    clock.advance(3 * STEP);
    const code = codeAt(begun.secret, clock.now());
    await mfa.verify('alice@contoso.com', code, CTX);
    await mfa.verify('alice@contoso.com', '999999', CTX);
    await mfa.verify('alice@contoso.com', confirmed.recoveryCodes[0] as string, CTX);
    await mfa.verify('nobody@contoso.com', '123456', CTX);
    await mfa.reset('alice@contoso.com', { by: 'helpdesk1' });
    await new Promise((resolve) => setImmediate(resolve));
    const events = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      events.map((e) => [e.type, e.adfsEventId]),
      [['mfa.enrolled', undefined], ['mfa.succeeded', 1202], ['mfa.failed', 1203], ['mfa.succeeded', 1202], ['mfa.failed', undefined], ['mfa.reset', undefined]],
    );
    const all = lines.join('');
    for (const secretValue of [begun.secret, code, '999999', ...confirmed.recoveryCodes]) assert.ok(!all.includes(secretValue), secretValue);
  });
});
