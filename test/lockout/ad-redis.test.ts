/**
 * Extranet smart lockout end to end: HTTP sign-ins against the Samba AD DC (lockoutThreshold 5) with
 * the state in a real Redis. Client addresses are simulated with X-Forwarded-For from a trusted proxy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { ConfigInput } from '../../src/config/schema.js';
import { badPwdCount, ldapConfig, loadAdFacts, unlockUser, type AdFacts } from '../helpers/ad.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const redis = await startRedisServer();
const ad: AdFacts = loadAdFacts();
const FAMILIAR = '198.51.100.10';
const GENERIC = /Incorrect user ID or password/;

function config(keyPrefix: string, lockout: ConfigInput['lockout']): ConfigInput {
  return {
    directory: { ldap: ldapConfig(ad) },
    sessions: { redis: { url: redis.url, keyPrefix } },
    server: { trustedProxies: ['127.0.0.1'] },
    web: { csrfSecret: 'a-farm-wide-csrf-secret-of-enough-length' },
    lockout,
  };
}

async function signIn(server: TestServer, clientIp: string, username: string, password: string) {
  const agent = request.agent(server.url);
  const form = await agent.get('/signin').set('X-Forwarded-For', clientIp).expect(200);
  return agent.post('/signin').set('X-Forwarded-For', clientIp).type('form').send({ _csrf: csrfFrom(form.text), username, password });
}

function auditEvents(server: TestServer): Array<Record<string, unknown>> {
  // The trail is buffered (flushed every 100 ms): write out what is pending before reading it.
  server.deps.audit.flush?.();
  return readFileSync(join(server.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const user = ad.users.WRONG_PW;
const upn = `${user.sam}@${ad.dnsDomain}`;
const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await unlockUser(ad, 'WRONG_PW');
});
async function start(input: ConfigInput): Promise<TestServer> {
  const server = await startTestServer(input);
  servers.push(server);
  return server;
}

describe('extranet smart lockout against AD with Redis', () => {
  before(() => unlockUser(ad, 'WRONG_PW'));

  test('enforce: 200 wrong passwords from unknown addresses never lock the AD account; the user still signs in from a familiar address; state survives a restart', async () => {
    await unlockUser(ad, 'WRONG_PW');
    const input = config('esl:', { mode: 'enforce', threshold: 3, perAddress: { attempts: 0 } });
    let server = await start(input);

    // The real user, from home: that address becomes familiar.
    assert.equal((await signIn(server, FAMILIAR, upn, user.password)).status, 303);

    const spellings = [user.sam, upn, `${ad.netbiosDomain}\\${user.sam}`, upn.toUpperCase()];
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => signIn(server, `203.0.113.${batch * 10 + i + 1}`, spellings[i % spellings.length]!, `Wrong-${batch}-${i}!`)),
      );
      for (const res of answers) {
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.match(res.text, GENERIC);
      }
    }
    assert.deepEqual([...statuses], [[401, 200]], 'every answer is the generic wrong-password one');
    const adCount = await badPwdCount(ad, 'WRONG_PW');
    assert.ok(adCount < 5, `AD badPwdCount ${adCount} stays below the domain threshold`);
    assert.ok(adCount <= 3, `only the threshold reached AD (badPwdCount ${adCount})`);
    const blocked = auditEvents(server).filter((e) => e.type === 'lockout.blocked');
    assert.ok(blocked.length >= 197, `${blocked.length} lockout.blocked events`);
    assert.equal(blocked[0]?.user, upn.toLowerCase());
    assert.equal(blocked[0]?.adfsEventId, 1210);

    // Even the right password is refused from an unknown address, without asking AD.
    assert.equal((await signIn(server, '203.0.113.250', upn, user.password)).status, 401);

    // A restart (same Redis) remembers the lockout and the familiar address.
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    server = await start(input);
    const unknown = await signIn(server, '192.0.2.77', user.sam, user.password);
    assert.equal(unknown.status, 401);
    assert.match(unknown.text, GENERIC);
    assert.equal(await badPwdCount(ad, 'WRONG_PW'), adCount, 'AD untouched after the restart');

    const home = await signIn(server, FAMILIAR, user.sam, user.password);
    assert.equal(home.status, 303, 'the familiar address keeps working');
    // Success resets the counters, as in AD FS.
    assert.equal((await signIn(server, '192.0.2.77', user.sam, user.password)).status, 303);
    await unlockUser(ad, 'WRONG_PW');
  });

  test('logOnly: records and audits what it would refuse, refuses nothing', async () => {
    await unlockUser(ad, 'WRONG_PW');
    const server = await start(config('eslLog:', { mode: 'logOnly', threshold: 2, perAddress: { attempts: 0 } }));
    for (let i = 0; i < 3; i++) assert.equal((await signIn(server, '203.0.113.9', user.sam, 'Wrong-Passw0rd!')).status, 401);
    assert.equal(await badPwdCount(ad, 'WRONG_PW'), 3, 'all three reached AD');
    const stored = await redis.command('HGET', `eslLog:lockout:user:${upn.toLowerCase()}`, 'u');
    assert.equal(stored, '3');
    const blocked = auditEvents(server).filter((e) => e.type === 'lockout.blocked');
    assert.equal(blocked.length, 1, 'the third attempt would have been refused');
    assert.equal((await signIn(server, '203.0.113.9', user.sam, user.password)).status, 303, 'and the user is never refused');
    await unlockUser(ad, 'WRONG_PW');
  });

  test('per-address throttle: too many sign-in posts from one address get 429 with a clear page', async () => {
    const server = await start(config('eslThrottle:', { mode: 'enforce', perAddress: { attempts: 3, windowSeconds: 60 } }));
    for (let i = 0; i < 3; i++) assert.equal((await signIn(server, '203.0.113.44', `nobody-${i}`, 'Wrong-Passw0rd!')).status, 401);
    const res = await signIn(server, '203.0.113.44', 'nobody-x', 'Wrong-Passw0rd!');
    assert.equal(res.status, 429);
    assert.match(res.text, /too many sign-in attempts from your network address/);
    assert.ok(Number(res.headers['retry-after']) >= 1);
    assert.equal((await signIn(server, '203.0.113.45', 'nobody-y', 'Wrong-Passw0rd!')).status, 401, 'another address is not affected');
    const keys = (await redis.command('KEYS', 'eslThrottle:lockout:addr*')) as string[];
    assert.equal(keys.length, 2, 'the throttle lives in Redis (shared by the farm)');
  });
});
