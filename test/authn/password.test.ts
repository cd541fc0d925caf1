/**
 * The one password path (src/authn/password.ts) with the real extranet lockout in front of it: when
 * no domain controller answers — whether at the bind or already at the lockout's lookup of whose name
 * was typed — the attempt is refused with 503 and still audited (and so counted in the metrics), never
 * lost between the two layers. Pure: a fake directory, memory stores, a hand-moved clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { PasswordSignIns } from '../../src/authn/password.js';
import { ManualClock } from '../../src/clock.js';
import type { AuthResult } from '../../src/directory/types.js';
import { ServiceUnavailableError, StoreUnavailableError } from '../../src/errors.js';
import { LockoutGuard } from '../../src/lockout/guard.js';
import { MemoryLockoutStore } from '../../src/lockout/memory-store.js';
import { silentLogger } from '../../src/log.js';

const noDc = () => new ServiceUnavailableError('directory_unavailable', 'no domain controller answered');

function fixture(lookUp: (name: string) => Promise<string | undefined>) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const audit = new MemoryAuditLog();
  const lockout = new LockoutGuard({
    config: { mode: 'enforce', threshold: 3, observationWindowMinutes: 30, familiarLocationDays: 14, perAddress: { attempts: 0, windowSeconds: 60 } },
    store: new MemoryLockoutStore({ attempts: 0, windowSeconds: 60 }, clock),
    directory: { userPrincipalNameOf: lookUp },
    audit,
    logger: silentLogger,
    clock,
  });
  const signIns = new PasswordSignIns({ config: { web: { maxUsernameLength: 256, maxPasswordLength: 256 } } as never, lockout, audit });
  let binds = 0;
  const signIn = (bind: () => Promise<AuthResult>) =>
    signIns.signIn({ username: 'alice', password: 'Passw0rd!', clientIp: '203.0.113.9', requestId: 'req-1', log: silentLogger, endpoint: 'form' }, () => {
      binds++;
      return bind();
    });
  return { audit, signIn, binds: () => binds };
}

describe('password sign-in with no domain controller', () => {
  const cases: { name: string; lookUp: () => Promise<string | undefined>; bind: () => Promise<AuthResult>; binds: number }[] = [
    { name: 'at the bind', lookUp: async () => 'alice@contoso.com', bind: async () => ({ ok: false, reason: 'directory_unavailable', detail: 'no DC' }), binds: 1 },
    // A name the lockout has not resolved before: the DC is asked whose it is before any bind.
    { name: "at the lockout's lookup of the name", lookUp: async () => Promise.reject(noDc()), bind: async () => ({ ok: true, principal: { userPrincipalName: 'alice@contoso.com' } as never }), binds: 0 },
  ];
  for (const c of cases) {
    test(`${c.name}: 503, audited as signin.failed directory_unavailable`, async () => {
      const f = fixture(c.lookUp);
      await assert.rejects(f.signIn(c.bind), (err: unknown) => err instanceof ServiceUnavailableError && err.messageId === 'directory_unavailable');
      assert.deepEqual(
        f.audit.events.map((e) => [e.type, (e as { reason?: string }).reason]),
        [['signin.failed', 'directory_unavailable']],
      );
      assert.equal(f.binds(), c.binds);
    });
  }

  test('Redis down at the lookup is not the directory: the store error goes on up, and no sign-in is audited', async () => {
    const f = fixture(async () => Promise.reject(new StoreUnavailableError('Redis unavailable')));
    await assert.rejects(f.signIn(async () => ({ ok: false, reason: 'invalid_credentials' })), StoreUnavailableError);
    assert.deepEqual(f.audit.events, []);
  });
});
