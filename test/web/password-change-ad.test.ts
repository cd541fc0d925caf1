/**
 * The change-password page against the Samba AD DC over LDAPS, with users of this file's own (the
 * seeded users' passwords never change). Each policy refusal is named plainly; a wrong current
 * password counts toward extranet lockout; a sign-in that meets an expired password continues to the
 * relying party after the change, with no second prompt; plain LDAP makes the page say it is unavailable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { PASSWORD_CHANGE_MESSAGES as M } from '../../src/web/messages.js';
import { ldapConfig, loadAdFacts } from '../helpers/ad.js';
import { ChangeUsers } from '../helpers/password-change-users.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';

const ad = loadAdFacts();
const users = new ChangeUsers(ad, 'openfed-pwchange');
const APP = 'urn:app:pwchange';
const APP_REPLY = 'https://app.pwchange.example.test/signin';
const PATH = '/adfs/portal/updatepassword';

const servers: TestServer[] = [];
async function start(input: ConfigInput = {}, audit = new MemoryAuditLog()): Promise<{ server: TestServer; audit: MemoryAuditLog }> {
  const server = await startTestServer(
    {
      directory: { ldap: ldapConfig(ad, { urls: [ad.ldapsUrl] }) },
      lockout: { mode: 'enforce', threshold: 2, perAddress: { attempts: 0 } },
      wsfedRelyingParties: [{ realm: APP, replyUrls: [APP_REPLY], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] }],
      ...input,
    },
    { audit },
  );
  servers.push(server);
  return { server, audit };
}

/** The page's form, then a POST of it; the answer. */
async function change(agent: request.Agent, fields: { username: string; current: string; next: string; confirmation?: string }, query = '') {
  const page = await agent.get(`${PATH}${query}`).expect(200);
  const hidden = Object.fromEntries([...page.text.matchAll(/type="hidden" name="(pending|reason)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  return agent
    .post(PATH)
    .type('form')
    .send({ _csrf: csrfFrom(page.text), ...hidden, username: fields.username, currentPassword: fields.current, newPassword: fields.next, confirmPassword: fields.confirmation ?? fields.next });
}

const errorOf = (html: string) => /id="error">([^<]*)</.exec(html)?.[1]?.replace(/&#39;/g, "'");

describe('change password at /adfs/portal/updatepassword (Samba AD over LDAPS)', () => {
  let server: TestServer;
  let audit: MemoryAuditLog;

  before(async () => {
    await users.setUp();
    ({ server, audit } = await start());
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await users.remove();
  });

  test('an expired password met at sign-in: changed, then on to the WS-Fed relying party with no second prompt', async () => {
    const user = await users.create('pwc-expired', 'Pwc-Exp1red-Passw0rd!', { state: 'expired' });
    const agent = request.agent(server.url);
    const first = await agent.get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(APP)}`).expect(303);
    const form = await agent.get(first.headers.location!).expect(200);
    const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
    const signIn = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: user.upn, password: user.password, pending }).expect(303);
    const location = signIn.headers.location!;
    assert.match(location, /^\/adfs\/portal\/updatepassword\?/);
    const query = new URL(location, server.url).searchParams;
    assert.equal(query.get('username'), user.upn);
    assert.equal(query.get('pending'), pending);
    assert.equal(query.get('reason'), 'expired');
    assert.ok(!location.includes(encodeURIComponent(user.password)) && !location.includes(user.password), 'never the password in the URL');

    const page = await agent.get(location).expect(200);
    assert.match(page.text, new RegExp(M.expiredNotice));
    const next = 'Pwc-Fresh-Passw0rd-1!';
    const changed = await change(agent, { username: user.upn, current: user.password, next }, location.slice(PATH.length));
    assert.equal(changed.status, 303, changed.text.slice(0, 400));
    const resumed = await agent.get(changed.headers.location!).expect(200);
    const post = readWsfedPost(resumed.text);
    assert.equal(post.action, APP_REPLY);
    assert.match(post.assertion, new RegExp(user.upn));

    assert.ok(audit.events.some((e) => e.type === 'password.changed' && e.upn === user.upn));
    assert.ok(audit.events.some((e) => e.type === 'signin.succeeded' && e.upn === user.upn), 'signed in with the new password');
    assert.ok(!JSON.stringify(audit.events).includes(next) && !JSON.stringify(audit.events).includes(user.password), 'no password in the audit trail');
  });

  test('on its own: changed, then a link to sign in; the new password works', async () => {
    const user = await users.create('pwc-plain', 'Pwc-Pla1n-Passw0rd!');
    const agent = request.agent(server.url);
    const next = 'Brand-New-Passw0rd-2';
    const changed = await change(agent, { username: `${ad.netbiosDomain}\\${user.sam}`, current: user.password, next });
    assert.equal(changed.status, 200);
    assert.match(changed.text, new RegExp(M.changedText));
    assert.match(changed.text, /href="\/signin\?username=/);
    // (Samba, like Windows for NTLM, still accepts the old password for an hour: not checked here.)
    assert.equal((await server.deps.directory.authenticate(user.upn, next)).ok, true, 'the new password signs in');
  });

  const refusals: Array<[string, string, (sam: string) => string, keyof typeof M.failures]> = [
    ['too short', 'pwc-short', () => 'Ab1-x', 'too_short'],
    ['not complex', 'pwc-simple', () => 'onlylowercaseletters', 'complexity'],
    ['contains the account name', 'pwc-named', (sam) => `X-${sam.toUpperCase()}-Mine-1`, 'complexity'],
    ['contains part of the display name', 'pwc-display', () => 'Quixote-Winter-42', 'complexity'],
  ];
  for (const [name, sam, next, reason] of refusals) {
    test(`refused before AD: ${name}`, async () => {
      const user = await users.create(sam, 'Pwc-Rul3s-Passw0rd!', { displayName: 'Don Quixote' });
      const res = await change(request.agent(server.url), { username: user.upn, current: user.password, next: next(user.sam) });
      assert.equal(res.status, 400);
      assert.equal(errorOf(res.text), M.failures[reason]);
      assert.equal((await server.deps.directory.authenticate(user.upn, user.password)).ok, true, 'unchanged');
    });
  }

  test('AD refuses a password from the history: said as such', async () => {
    const user = await users.create('pwc-history', 'Pwc-H1story-Passw0rd!');
    const agent = request.agent(server.url);
    const second = 'Second-H1st-Passw0rd';
    assert.equal((await change(agent, { username: user.upn, current: user.password, next: second })).status, 200);
    const back = await change(agent, { username: user.upn, current: second, next: user.password });
    assert.equal(back.status, 400);
    assert.equal(errorOf(back.text), M.failures.in_history);
  });

  test('AD refuses a change sooner than the minimum age (a fine-grained policy on the user): too recent', async () => {
    const user = await users.create('pwc-recent', 'Pwc-Rec3nt-Passw0rd!');
    await users.pso(user, { minAgeDays: 1 });
    const res = await change(request.agent(server.url), { username: user.upn, current: user.password, next: 'Next-R3cent-Passw0rd' });
    assert.equal(res.status, 400);
    assert.equal(errorOf(res.text), M.failures.too_recent);
  });

  test('mismatched confirmation: refused before AD is asked', async () => {
    const user = await users.create('pwc-mismatch', 'Pwc-M1smatch-Passw0rd!');
    const res = await change(request.agent(server.url), { username: user.upn, current: user.password, next: 'Pwc-Mismatch-Next-1', confirmation: 'Pwc-Mismatch-Next-2' });
    assert.equal(res.status, 400);
    assert.equal(errorOf(res.text), M.failures.mismatch);
  });

  test('a wrong current password counts as a wrong password: extranet lockout then refuses without asking AD', async () => {
    const user = await users.create('pwc-lockout', 'Pwc-L0ckout-Passw0rd!');
    const agent = request.agent(server.url);
    for (let i = 0; i < 2; i++) {
      const res = await change(agent, { username: user.upn, current: `Wrong-${i}-Passw0rd!`, next: 'Pwc-Lockout-Next-Passw0rd-4' });
      assert.equal(res.status, 401);
      assert.equal(errorOf(res.text), M.failures.invalid_credentials);
    }
    // Past the threshold even the right current password is refused, reading like a wrong one.
    const refused = await change(agent, { username: user.upn, current: user.password, next: 'Pwc-Lockout-Next-Passw0rd-4' });
    assert.equal(refused.status, 401);
    assert.equal(errorOf(refused.text), M.failures.invalid_credentials);
    assert.ok(audit.events.some((e) => e.type === 'lockout.blocked' && e.user === user.upn.toLowerCase()), 'audited as 1210');
    const failed = audit.events.filter((e) => e.type === 'password.change_failed' && e.user === user.upn);
    assert.equal(failed.length, 3);
  });

  test('a DC reached over plain LDAP: the page says password change is unavailable (503)', async () => {
    const { server: plain } = await start({ directory: { ldap: ldapConfig(ad) } });
    const res = await request(plain.url).get(PATH).expect(503);
    assert.match(res.text, new RegExp(M.unavailableText));
    assert.doesNotMatch(res.text, /name="currentPassword"/);
  });
});
