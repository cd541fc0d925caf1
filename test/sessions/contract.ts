/**
 * The behaviour every SessionStore/PendingStore must have, whatever holds the data. memory.test.ts
 * and redis.test.ts run these same cases; backend-specific cases live in those files.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { systemClock, type Clock } from '../../src/clock.js';
import type { Config } from '../../src/config/schema.js';
import type { Principal } from '../../src/directory/types.js';
import { RedisLockoutStore } from '../../src/lockout/redis-store.js';
import type { LockoutStore } from '../../src/lockout/store.js';
import type { Logger } from '../../src/log.js';
import { openRedis, type RedisConnection } from '../../src/redis/connection.js';
import { isWellFormedId } from '../../src/sessions/ids.js';
import { createSessionStores, type SessionStores } from '../../src/sessions/index.js';
import type { PendingStore, ReplayCache, SessionRecord, SessionStore } from '../../src/sessions/types.js';

export interface StoreFixture {
  sessions: SessionStore;
  pending: PendingStore;
  replay: ReplayCache;
  clock: Clock;
  /** Lets `ms` pass as the store sees it: moves a ManualClock, or really waits. */
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
}

const HOUR = 3_600_000;

/**
 * Resolves once a freshly opened Redis-backed store answers, so the contract cases test the store
 * rather than the race with its first connection on a loaded machine (which the Redis test files
 * cover on their own). Fails after `timeoutMs`.
 */
export async function connected(sessions: SessionStore, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await sessions.health();
    if (health.ok) return;
    if (Date.now() > deadline) assert.fail(`store not reachable within ${timeoutMs} ms: ${health.detail}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The session and lockout stores of a process on its one Redis connection, as server.ts wires them. */
export interface RedisStores extends SessionStores {
  redis: RedisConnection;
  lockout: LockoutStore;
  keyPrefix: string;
  /** Closes the stores, then the connection (as server.ts does). */
  close(): Promise<void>;
}

export function openRedisStores(config: Config, logger: Logger): RedisStores {
  const redisConfig = config.sessions.redis;
  if (!redisConfig) throw new Error('openRedisStores: the config has no sessions.redis');
  const redis = openRedis(redisConfig, logger);
  const stores = createSessionStores(redis, logger, systemClock);
  return {
    ...stores,
    redis,
    lockout: new RedisLockoutStore(redis, config.lockout.perAddress),
    keyPrefix: redisConfig.keyPrefix,
    close: async () => {
      await stores.close();
      await redis.close();
    },
  };
}

/** The contract fixture for a Redis-backed set of stores on real time, once it answers. */
export async function redisFixture(stores: Pick<SessionStores, 'sessions' | 'pending' | 'replay' | 'close'>): Promise<StoreFixture> {
  await connected(stores.sessions);
  return {
    sessions: stores.sessions,
    pending: stores.pending,
    replay: stores.replay,
    clock: systemClock,
    elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: stores.close,
  };
}

export function samplePrincipal(overrides: Partial<Principal> = {}): Principal {
  return {
    dn: 'CN=Zoë Ñúñez-Øster,OU=Führung,DC=contoso,DC=com',
    objectGuid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
    consistencyGuid: Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x00, 0x01, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0]),
    userPrincipalName: 'Zoe.Nunez@contoso.com',
    sAMAccountName: 'znunez',
    netbiosDomain: 'CONTOSO',
    mail: 'zoë@contoso.com',
    displayName: 'Zoë Ñúñez-Øster 🌍 東京',
    givenName: 'Zoë',
    sn: 'Ñúñez-Øster',
    groups: [
      { name: 'Domain Users', sid: 'S-1-5-21-1004336348-1177238915-682003330-513' },
      { name: 'Entwicklung', sid: 'S-1-5-21-1004336348-1177238915-682003330-1105', dn: 'CN=Entwicklung,OU=Gruppen,DC=contoso,DC=com' },
      { name: 'Vertrieb "EU"', sid: 'S-1-5-21-1004336348-1177238915-682003330-1106', dn: 'CN=Vertrieb \\"EU\\",OU=Gruppen,DC=contoso,DC=com' },
      { name: 'VPN-Users', sid: 'S-1-5-21-1004336348-1177238915-682003330-1107' },
      { name: 'Verteiler Ärzte', sid: '' },
    ],
    attributes: { department: ['Forschung & Entwicklung'], proxyAddresses: ['SMTP:zoe@contoso.com', 'smtp:zn@contoso.com'] },
    ...overrides,
  };
}

export function sampleRecord(clock: Clock, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    principal: samplePrincipal(),
    authnInstant: clock.now(),
    authnMethod: 'password',
    clientIp: '2001:db8::7',
    persistent: false,
    relyingParties: [],
    expiresAt: clock.now() + 8 * HOUR,
    ...overrides,
  };
}

function userRecord(clock: Clock, upn: string): SessionRecord {
  return sampleRecord(clock, { principal: samplePrincipal({ userPrincipalName: upn }) });
}

const MALFORMED_IDS = [
  '',
  'abc',
  '*',
  'x'.repeat(10_000),
  'A'.repeat(42),
  'A'.repeat(44),
  'A'.repeat(42) + ':',
  'A'.repeat(42) + '*',
  'A'.repeat(42) + '=',
  'A'.repeat(21) + '\n' + 'A'.repeat(21),
  '../' + 'A'.repeat(40),
];

export function sessionStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  describe(`${name}: SessionStore / PendingStore contract`, () => {
    let f: StoreFixture;
    beforeEach(async () => {
      f = await open();
    });
    afterEach(async () => {
      await f.close();
    });

    it('round-trips a record exactly: Buffers, non-ASCII names, groups, attributes', async () => {
      const record = sampleRecord(f.clock, { persistent: true, relyingParties: ['urn:already:there'] });
      const id = await f.sessions.create(record);
      const got = await f.sessions.get(id);
      assert.deepStrictEqual(got, record);
      assert.ok(Buffer.isBuffer(got?.principal.objectGuid), 'objectGuid comes back as a Buffer');
      assert.ok(Buffer.isBuffer(got?.principal.consistencyGuid), 'consistencyGuid comes back as a Buffer');
    });

    it('round-trips a minimal record: optional fields stay absent, empty lists stay empty', async () => {
      const principal = samplePrincipal({ groups: [], attributes: {} });
      delete principal.consistencyGuid;
      delete principal.mail;
      delete principal.displayName;
      delete principal.givenName;
      delete principal.sn;
      const record = sampleRecord(f.clock, { principal, authnMethod: 'certificate' });
      const got = await f.sessions.get(await f.sessions.create(record));
      assert.deepStrictEqual(got, record);
      assert.equal(got !== undefined && 'consistencyGuid' in got.principal, false);
    });

    it('hands out copies: changing a returned record does not change the session', async () => {
      const record = sampleRecord(f.clock);
      const id = await f.sessions.create(record);
      record.relyingParties.push('urn:mutated:input');
      const got = await f.sessions.get(id);
      assert.ok(got);
      got.principal.groups.length = 0;
      got.principal.objectGuid.fill(0);
      assert.deepStrictEqual(await f.sessions.get(id), sampleRecord(f.clock, { authnInstant: record.authnInstant, expiresAt: record.expiresAt }));
    });

    it('unknown id: get is undefined, the other operations are harmless no-ops', async () => {
      const unknown = 'A'.repeat(43);
      assert.equal(isWellFormedId(unknown), true);
      assert.equal(await f.sessions.get(unknown), undefined);
      await f.sessions.addRelyingParty(unknown, 'urn:rp');
      assert.equal(await f.sessions.get(unknown), undefined, 'addRelyingParty must not create a session');
      await f.sessions.destroy(unknown);
      assert.equal(await f.pending.take(unknown), undefined);
    });

    it('malformed ids are rejected without error', async () => {
      const id = await f.sessions.create(sampleRecord(f.clock));
      for (const bad of [...MALFORMED_IDS, id + 'A', id.slice(1), ` ${id}`]) {
        assert.equal(isWellFormedId(bad), false, JSON.stringify(bad.slice(0, 50)));
        assert.equal(await f.sessions.get(bad), undefined);
        await f.sessions.addRelyingParty(bad, 'urn:rp');
        await f.sessions.destroy(bad);
        assert.equal(await f.pending.take(bad), undefined);
      }
      assert.ok(await f.sessions.get(id), 'the real session is untouched');
    });

    it('refuses a record that has already expired (a units bug, not a session)', async () => {
      await assert.rejects(f.sessions.create(sampleRecord(f.clock, { expiresAt: f.clock.now() })), RangeError);
      await assert.rejects(
        f.sessions.create(sampleRecord(f.clock, { expiresAt: Math.floor(f.clock.now() / 1000) + 3600 })),
        RangeError,
      );
      await assert.rejects(f.pending.put({ path: '/x' }, 0), RangeError);
    });

    it('sessions and pending requests expire; addRelyingParty keeps the expiry', async () => {
      const plain = await f.sessions.create(sampleRecord(f.clock, { expiresAt: f.clock.now() + 1200 }));
      const withRp = await f.sessions.create(sampleRecord(f.clock, { expiresAt: f.clock.now() + 1200 }));
      const longLived = await f.sessions.create(sampleRecord(f.clock));
      const pendingId = await f.pending.put({ path: '/adfs/ls/?x=1' }, 1200);

      await f.elapse(500);
      await f.sessions.addRelyingParty(withRp, 'urn:rp:one');
      assert.deepStrictEqual((await f.sessions.get(withRp))?.relyingParties, ['urn:rp:one']);
      assert.ok(await f.sessions.get(plain));

      await f.elapse(1000);
      assert.equal(await f.sessions.get(plain), undefined);
      assert.equal(await f.sessions.get(withRp), undefined, 'adding a relying party must not extend the session');
      assert.equal(await f.pending.take(pendingId), undefined);
      assert.ok(await f.sessions.get(longLived));
      await f.sessions.addRelyingParty(withRp, 'urn:rp:two');
      assert.equal(await f.sessions.get(withRp), undefined, 'addRelyingParty must not revive an expired session');
    });

    it('addRelyingParty is idempotent and keeps order, also for characters JSON must escape', async () => {
      const id = await f.sessions.create(sampleRecord(f.clock));
      const tricky = 'https://rp.example/ä?q="x"&y=\\z\u0001]}';
      for (const rp of ['urn:rp:a', 'urn:rp:a', tricky, 'urn:rp:a', tricky, 'urn:rp:b']) {
        await f.sessions.addRelyingParty(id, rp);
      }
      const got = await f.sessions.get(id);
      assert.deepStrictEqual(got?.relyingParties, ['urn:rp:a', tricky, 'urn:rp:b']);
      assert.deepStrictEqual({ ...got, relyingParties: [] }, { ...sampleRecord(f.clock), authnInstant: got?.authnInstant, expiresAt: got?.expiresAt });
    });

    it('concurrent addRelyingParty calls lose no update', async () => {
      const id = await f.sessions.create(sampleRecord(f.clock));
      const rps = Array.from({ length: 20 }, (_, i) => `urn:rp:${i}`);
      await Promise.all(rps.map((rp) => f.sessions.addRelyingParty(id, rp)));
      assert.deepStrictEqual([...((await f.sessions.get(id))?.relyingParties ?? [])].sort(), [...rps].sort());
    });

    it('destroy ends one session only, and is idempotent', async () => {
      const a = await f.sessions.create(sampleRecord(f.clock));
      const b = await f.sessions.create(sampleRecord(f.clock));
      await f.sessions.destroy(a);
      await f.sessions.destroy(a);
      assert.equal(await f.sessions.get(a), undefined);
      assert.ok(await f.sessions.get(b));
    });

    it("destroyForUser ends all of a user's sessions (UPN case-insensitively) and only theirs", async () => {
      const alice1 = await f.sessions.create(userRecord(f.clock, 'Alice@Contoso.com'));
      const alice2 = await f.sessions.create(userRecord(f.clock, 'alice@contoso.com'));
      const alice3 = await f.sessions.create(userRecord(f.clock, 'ALICE@CONTOSO.COM'));
      const bob = await f.sessions.create(userRecord(f.clock, 'bob@contoso.com'));
      const alicia = await f.sessions.create(userRecord(f.clock, 'alice@contoso.com.evil'));
      await f.sessions.destroy(alice3);

      assert.equal(await f.sessions.destroyForUser('aLiCe@contoso.COM'), 2, 'counts live sessions only');
      for (const id of [alice1, alice2, alice3]) assert.equal(await f.sessions.get(id), undefined);
      assert.ok(await f.sessions.get(bob));
      assert.ok(await f.sessions.get(alicia));
      assert.equal(await f.sessions.destroyForUser('alice@contoso.com'), 0);
      assert.equal(await f.sessions.destroyForUser('nobody@contoso.com'), 0);

      const again = await f.sessions.create(userRecord(f.clock, 'alice@contoso.com'));
      assert.ok(await f.sessions.get(again), 'the user can sign in again afterwards');
      assert.equal(await f.sessions.destroyForUser('alice@contoso.com'), 1);
    });

    it('ids are unique, long and random-looking', async () => {
      const ids = new Set<string>();
      const creates: Promise<string>[] = [];
      for (let i = 0; i < 1000; i++) creates.push(f.sessions.create(userRecord(f.clock, `user${i}@contoso.com`)));
      for (let i = 0; i < 200; i++) creates.push(f.pending.put({ path: '/' }, 60_000));
      for (const id of await Promise.all(creates)) {
        assert.ok(id.length >= 22, `id too short: ${id}`);
        assert.match(id, /^[A-Za-z0-9_-]+$/);
        assert.ok(isWellFormedId(id));
        ids.add(id);
      }
      assert.equal(ids.size, 1200);
      // Crude randomness check: every base64url character shows up somewhere.
      assert.equal(new Set([...ids].join('')).size, 64);
    });

    it('a pending request can be taken once only, even by two racing requests', async () => {
      const value = {
        path: '/adfs/ls/?SAMLRequest=resume',
        state: { requestId: '_abc', relayState: 'Zoë/東京', nested: { n: 1, list: [true, null] } },
        forceAuthn: true,
        loginHint: 'zoë@contoso.com',
      };
      const id = await f.pending.put(value, 60_000);
      assert.deepStrictEqual(await f.pending.take(id), value);
      assert.equal(await f.pending.take(id), undefined);

      const raced = await f.pending.put({ path: '/once' }, 60_000);
      const results = await Promise.all([f.pending.take(raced), f.pending.take(raced), f.pending.take(raced)]);
      assert.equal(results.filter((r) => r !== undefined).length, 1);
    });

    it('reports healthy', async () => {
      const health = await f.sessions.health();
      assert.equal(health.ok, true, health.detail);
    });

    it('replay cache: a key is new once, a replay within the window is caught, and forgotten after it', async () => {
      const key = `https://sp.example.com|_${Math.random().toString(36).slice(2)}`;
      assert.equal(await f.replay.firstUse(key, 1500), true);
      assert.equal(await f.replay.firstUse(key, 1500), false);
      assert.equal(await f.replay.firstUse(`${key}x`, 1500), true, 'another id is not a replay');
      assert.equal(await f.replay.firstUse('é'.repeat(10_000), 1500), true, 'long keys are fine');
      await f.elapse(1700);
      assert.equal(await f.replay.firstUse(key, 1500), true);
    });
  });
}
