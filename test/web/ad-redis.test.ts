/**
 * The whole foundation with its real parts: sign-in over HTTP against the Samba AD DC, SSO sessions
 * in a real Redis shared by two OpenFed nodes, and what users see when Redis or every DC goes away.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { loadAdFacts, ldapConfig, unlockUser, type AdFacts } from '../helpers/ad.js';
import { startRedisServer, type RedisServer } from '../helpers/redis.js';
import { csrfFrom, readyWithin, startTestServer, type TestServer } from '../helpers/server.js';

const CSRF_SECRET = 'a-farm-wide-csrf-secret-of-enough-length';

async function signIn(base: string | request.Agent, username: string, password: string) {
  const agent = typeof base === 'string' ? request.agent(base) : base;
  const form = await agent.get('/signin').redirects(1).expect(200);
  const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username, password });
  return { agent, res };
}

// The message is the error paragraph's own text (a reference may follow it in a span).
const errorText = (html: string) => /<p class="error"[^>]*>([^<]*)/.exec(html)?.[1];

// At top level: the helper's cleanup belongs to the file, not to a before() hook.
const redis: RedisServer = await startRedisServer();

describe('sign-in against Active Directory with sessions in Redis', () => {
  let ad: AdFacts;
  let nodeA: TestServer;
  let nodeB: TestServer;

  before(async () => {
    ad = loadAdFacts();
    const config = {
      directory: { ldap: ldapConfig(ad) },
      sessions: { redis: { url: redis.url, commandTimeoutMs: 500, connectTimeoutMs: 500 } },
      web: { csrfSecret: CSRF_SECRET },
    };
    nodeA = await startTestServer(config);
    nodeB = await startTestServer(config);
  });
  after(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
  });

  test('an AD user signs in by UPN; the session is in Redis and node B knows them without a prompt', async () => {
    const alice = ad.users.NORMAL;
    const { agent, res } = await signIn(nodeA.url, `${alice.sam}@${ad.dnsDomain}`, alice.password);
    assert.equal(res.status, 303);
    const home = await agent.get('/').expect(200);
    assert.match(home.text, new RegExp(`id="upn">${alice.sam}@${ad.dnsDomain}<`));
    assert.match(home.text, new RegExp(`${ad.netbiosDomain}\\\\${alice.sam}`));

    const keys = await redis.command('KEYS', 'openfed:sess:*');
    assert.ok(Array.isArray(keys) && keys.length >= 1, 'the session lives in Redis');

    // The same browser at another node of the farm: same Redis, same CSRF secret, no sign-in.
    const cookie = res.headers['set-cookie'] as unknown as string[];
    const sso = cookie.find((c) => c.startsWith('openfed_sso='))!.split(';')[0]!;
    const atB = await request(nodeB.url).get('/').set('Cookie', sso).expect(200);
    assert.match(atB.text, /You are signed in/);
  });

  test('each name form signs in over HTTP', async () => {
    const alice = ad.users.NORMAL;
    for (const name of [`${ad.netbiosDomain}\\${alice.sam}`, alice.sam, `${ad.users.SECOND_SUFFIX.sam}@${ad.secondUpnSuffix}`]) {
      const password = name.includes(ad.secondUpnSuffix) ? ad.users.SECOND_SUFFIX.password : alice.password;
      const { res } = await signIn(nodeA.url, name, password);
      assert.equal(res.status, 303, name);
    }
  });

  test('AD account states become clear messages, only after the right password', async () => {
    // A password that must change (or has expired) leads to the change page instead (update-password.ts).
    const cases: Array<[keyof AdFacts['users'], number, RegExp]> = [
      ['DISABLED', 403, /Your account is disabled/],
      ['MUST_CHANGE', 303, /\/adfs\/portal\/updatepassword\?/],
      ['PWD_EXPIRED', 303, /\/adfs\/portal\/updatepassword\?/],
      ['ACCOUNT_EXPIRED', 403, /Your account has expired/],
    ];
    for (const [role, status, message] of cases) {
      const user = ad.users[role];
      const right = await signIn(nodeA.url, user.sam, user.password);
      assert.equal(right.res.status, status, role);
      assert.match(status === 303 ? right.res.headers.location! : (errorText(right.res.text) ?? ''), message, role);
      // With a wrong password the state stays hidden: the answer is the generic one.
      const wrong = await signIn(nodeA.url, user.sam, 'Wrong-Passw0rd!');
      assert.equal(wrong.res.status, 401, role);
      assert.match(errorText(wrong.res.text) ?? '', /^Incorrect user ID or password/, role);
      await unlockUser(ad, role);
    }
  });

  test('wrong password and unknown user read the same', async () => {
    const wrong = await signIn(nodeA.url, ad.users.WRONG_PW.sam, 'Wrong-Passw0rd!');
    const unknown = await signIn(nodeA.url, 'no-such-user', 'Wrong-Passw0rd!');
    await unlockUser(ad, 'WRONG_PW');
    assert.equal(wrong.res.status, 401);
    assert.equal(unknown.res.status, wrong.res.status);
    assert.equal(errorText(unknown.res.text), errorText(wrong.res.text));
  });

  test('Redis stopped: pages that need a session answer 503 with a clear page; back by itself when Redis returns', async () => {
    const alice = ad.users.NORMAL;
    const { agent } = await signIn(nodeA.url, alice.sam, alice.password);
    await redis.stop();
    try {
      const home = await agent.get('/');
      assert.equal(home.status, 503);
      assert.match(home.text, /session store cannot be reached/);
      assert.match(home.text, /id="reference">[0-9a-f-]{36}</);
      assert.doesNotMatch(home.text, /redis:\/\/|ECONNREFUSED|\bat .*\.(ts|js):\d+/);
      const form = await request.agent(nodeA.url).get('/signin');
      const post = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: alice.sam, password: alice.password });
      assert.ok([403, 503].includes(post.status));
      await request(nodeA.url).get('/healthz').expect(200);
      const ready = await request(nodeA.url).get('/readyz').expect(503);
      assert.equal(ready.body.checks.sessions.ok, false);
      assert.equal(ready.body.checks.directory.ok, true);
    } finally {
      await redis.restart();
    }
    // The same process recovers without a restart (the restarted Redis is empty: sign in again).
    assert.equal(await readyWithin(nodeA.url), 200, 'ready again once Redis is back');
    const again = await signIn(nodeA.url, alice.sam, alice.password);
    assert.equal(again.res.status, 303);
    assert.match((await again.agent.get('/').expect(200)).text, /You are signed in/);
  });

  test('every DC down: sign-in answers 503 "no domain controller answered", and readiness says so', async () => {
    const deadDc = await startTestServer({
      directory: { ldap: ldapConfig(ad, { urls: ['ldap://127.0.0.1:1', 'ldap://127.0.0.1:2'], connectTimeoutMs: 500 }) },
    });
    try {
      const { res } = await signIn(deadDc.url, ad.users.NORMAL.sam, ad.users.NORMAL.password);
      assert.equal(res.status, 503);
      assert.match(res.text, /no domain controller answered/);
      const ready = await request(deadDc.url).get('/readyz').expect(503);
      assert.equal(ready.body.checks.directory.ok, false);
    } finally {
      await deadDc.stop();
    }
  });
});
