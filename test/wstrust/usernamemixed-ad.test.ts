/**
 * WS-Trust against the Samba AD DC, with smart lockout in a real Redis: a password in a UsernameToken
 * goes through exactly the checks of the sign-in form. Failures count toward the same extranet
 * lockout (and keep AD's own counter below its threshold), account states come back as faults, the
 * per-address throttle answers 429, and no password reaches a log line or the audit trail.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { badPwdCount, ldapConfig, loadAdFacts, unlockUser, type AdFacts } from '../helpers/ad.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom } from '../helpers/server.js';
import { validateWithSaml20 } from '../helpers/wsfed.js';
import { buildRst, M365_REALM, msalSignIn, postSoap, readFault, startWsTrustServer, type WsTrustServer } from '../helpers/wstrust.js';

const redis = await startRedisServer();
const ad: AdFacts = loadAdFacts();
const FAMILIAR = '198.51.100.20';

const logLines: string[] = [];
const logger = createLogger(
  'debug',
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  }),
);

const servers: WsTrustServer[] = [];
async function start(keyPrefix: string, lockout: ConfigInput['lockout'], audit = new MemoryAuditLog()): Promise<{ server: WsTrustServer; audit: MemoryAuditLog }> {
  const server = await startWsTrustServer(
    {
      directory: { ldap: ldapConfig(ad) },
      sessions: { redis: { url: redis.url, keyPrefix } },
      server: { trustedProxies: ['127.0.0.1'] },
      web: { csrfSecret: 'a-farm-wide-csrf-secret-of-enough-length' },
      microsoft365: { enabled: true, domains: [ad.dnsDomain] },
      lockout,
    },
    { audit, logger },
  );
  servers.push(server);
  return { server, audit };
}
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await unlockUser(ad, 'WRONG_PW');
});

function wsTrust(server: WsTrustServer, clientIp: string, username: string, password: string) {
  const version = '13';
  return postSoap(server.address(version), buildRst({ version, to: server.address(version), username, password }), {
    ca: server.ca,
    headers: { 'X-Forwarded-For': clientIp },
  });
}

async function formSignIn(server: WsTrustServer, clientIp: string, username: string, password: string) {
  const agent = request.agent(server.base).ca(server.ca);
  const form = await agent.get('/signin').set('X-Forwarded-For', clientIp).expect(200);
  return agent.post('/signin').set('X-Forwarded-For', clientIp).type('form').send({ _csrf: csrfFrom(form.text), username, password });
}

describe('WS-Trust usernamemixed against Active Directory', () => {
  before(() => unlockUser(ad, 'WRONG_PW'));

  test('MSAL signs in an AD user: ImmutableID from objectGUID, UPN from AD', async () => {
    const { server } = await start('wst-ok:', { mode: 'enforce', threshold: 3 });
    const user = ad.users.NORMAL;
    const upn = `${user.sam}@${ad.dnsDomain}`;
    const result = await msalSignIn({ mexUrl: `${server.base}/adfs/services/trust/mex`, caFile: server.caFile, username: upn, password: user.password });
    assert.ok(result.ok, result.ok ? '' : result.error);
    const principal = await server.deps.directory.findPrincipal(upn);
    const certificateBase64 = server.deps.keys.primary.certificateBase64;
    const profile = await validateWithSaml20(result.token, { certificateBase64, audience: M365_REALM });
    assert.equal(profile.claims['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'], microsoft365ImmutableId(principal!, 'auto'));
    assert.equal(profile.claims['http://schemas.xmlsoap.org/claims/UPN'], upn);
  });

  test('account states are faults in the form\'s words; no token', async () => {
    const { server } = await start('wst-states:', { mode: 'enforce', threshold: 3 });
    const cases = [
      ['DISABLED', /Your account is disabled/],
      ['PWD_EXPIRED', /Your password has expired/],
      ['MUST_CHANGE', /You must change your password/],
      ['ACCOUNT_EXPIRED', /Your account has expired/],
    ] as const;
    for (const [role, reason] of cases) {
      const user = ad.users[role];
      const reply = await wsTrust(server, '203.0.113.60', `${user.sam}@${ad.dnsDomain}`, user.password);
      assert.equal(reply.status, 400, `${role}: ${reply.body.slice(0, 300)}`);
      const fault = readFault(reply.body);
      assert.equal(fault.subcode, 'wst:FailedAuthentication', role);
      assert.match(fault.reason, reason, role);
      assert.doesNotMatch(reply.body, /RequestedSecurityToken/);
    }
  });

  test('WS-Trust failures count toward extranet lockout, shared with the form; AD never locks the account', async () => {
    await unlockUser(ad, 'WRONG_PW');
    const { server, audit } = await start('wst-esl:', { mode: 'enforce', threshold: 3, perAddress: { attempts: 0 } });
    const user = ad.users.WRONG_PW;
    const upn = `${user.sam}@${ad.dnsDomain}`;

    // The real user's rich client, from the office: that address becomes familiar.
    assert.equal((await wsTrust(server, FAMILIAR, upn, user.password)).status, 200);

    // A password spray over WS-Trust from unknown addresses, in every spelling of the name.
    const spellings = [user.sam, upn, `${ad.netbiosDomain}\\${user.sam}`, upn.toUpperCase()];
    for (let i = 0; i < 12; i++) {
      const reply = await wsTrust(server, `203.0.113.${i + 1}`, spellings[i % spellings.length]!, `Wrong-${i}-Passw0rd!`);
      assert.equal(reply.status, 400);
      const fault = readFault(reply.body);
      assert.equal(fault.subcode, 'wst:FailedAuthentication');
      assert.match(fault.reason, /Incorrect user ID or password/, 'refused by lockout reads like a wrong password');
    }
    const adCount = await badPwdCount(ad, 'WRONG_PW');
    assert.ok(adCount <= 3, `only the threshold reached AD (badPwdCount ${adCount})`);
    assert.ok(audit.events.filter((e) => e.type === 'lockout.blocked').length >= 9, 'refusals audited as lockout.blocked (1210)');

    // The same counters hold for the form: the right password from an unknown address is refused there too.
    const viaForm = await formSignIn(server, '192.0.2.99', upn, user.password);
    assert.equal(viaForm.status, 401);
    assert.equal(await badPwdCount(ad, 'WRONG_PW'), adCount, 'without asking AD');

    // The familiar address keeps working, over WS-Trust too.
    assert.equal((await wsTrust(server, FAMILIAR, user.sam, user.password)).status, 200);
    await unlockUser(ad, 'WRONG_PW');
  });

  test('per-address throttle: 429 with Retry-After and a SOAP fault', async () => {
    const { server } = await start('wst-throttle:', { mode: 'enforce', perAddress: { attempts: 2, windowSeconds: 60 } });
    for (let i = 0; i < 2; i++) assert.equal((await wsTrust(server, '203.0.113.77', `nobody-${i}`, 'Wrong-Passw0rd!')).status, 400);
    const reply = await wsTrust(server, '203.0.113.77', 'nobody-x', 'Wrong-Passw0rd!');
    assert.equal(reply.status, 429);
    assert.ok(Number(reply.headers['retry-after']) >= 1);
    const fault = readFault(reply.body);
    assert.deepEqual([fault.code, fault.subcode], ['s:Sender', 'wst:RequestFailed']);
    assert.match(fault.reason, /too many sign-in attempts/i);
    assert.equal((await wsTrust(server, '203.0.113.78', 'nobody-y', 'Wrong-Passw0rd!')).status, 400, 'another address is not affected');
  });

  test('no password in any log line (debug level) or audit event', async () => {
    const passwords = Object.values(ad.users).map((u) => u.password);
    const everything = logLines.join('');
    assert.ok(everything.includes('WS-Trust'), 'the log was captured');
    for (const secret of [...passwords, 'Wrong-Passw0rd!', 'Wrong-3-Passw0rd!']) {
      assert.ok(!everything.includes(secret), 'a password reached the log');
    }
  });
});
