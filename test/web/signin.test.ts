/**
 * The sign-in web against the demo directory and the memory store: the HTTP behaviour that does not
 * depend on which directory answers (AD sign-ins over HTTP are in ad-redis.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { ManualClock } from '../../src/clock.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const cookieNamed = (res: request.Response, name: string) =>
  ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));

async function signIn(agent: request.Agent, username = DEMO_USER, password = DEMO_PASSWORD, extra: Record<string, string> = {}) {
  // Signed in already, /signin goes home; the sign-out form there carries a token for this browser too.
  const form = await agent.get('/signin').redirects(1).expect(200);
  return agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username, password, ...extra });
}

describe('sign-in web (demo directory, memory sessions)', () => {
  let server: TestServer;
  const clock = new ManualClock(Date.now());

  before(async () => {
    server = await startTestServer({}, { clock });
  });
  after(() => server.stop());

  test('the sign-in page is a plain form with a CSRF token, a strict CSP and no caching', async () => {
    const res = await request(server.url).get('/signin').expect(200);
    assert.match(res.text, /<form method="post" action="\/signin"/);
    assert.match(res.text, /name="_csrf" value="[^"]+"/);
    // Works without JavaScript: the one script is our own file, the Caps Lock hint, an extra only.
    assert.deepEqual(res.text.match(/<script[^>]*>/gi), ['<script src="/assets/capslock.js">'], 'no inline script, nothing the form needs');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.headers['content-security-policy'] ?? '', /default-src 'none'/);
    assert.match(res.headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.ok(cookieNamed(res, 'openfed_csrf')?.includes('HttpOnly'));
  });

  test('a demo user signs in, sees who they are, and signs out', async () => {
    const agent = request.agent(server.url);
    const res = await signIn(agent);
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, '/');
    const sso = cookieNamed(res, 'openfed_sso');
    assert.ok(sso, 'SSO cookie set');
    assert.match(sso, /HttpOnly/);
    assert.match(sso, /SameSite=Lax/);
    assert.doesNotMatch(sso, /Secure/, 'plain HTTP cannot carry a Secure cookie');

    const home = await agent.get('/').expect(200);
    assert.match(home.text, new RegExp(`id="upn">${DEMO_USER}<`));
    assert.match(home.text, /OPENFED\\demo/);
    assert.equal(home.headers['cache-control'], 'no-store');

    const out = await agent.post('/signout').type('form').send({ _csrf: csrfFrom(home.text) }).expect(200);
    assert.match(out.text, /You have signed out/);
    assert.match(cookieNamed(out, 'openfed_sso') ?? '', /Expires=Thu, 01 Jan 1970/);
    const after = await agent.get('/').expect(200);
    assert.match(after.text, /You are not signed in/);
  });

  test('wrong password and unknown user get the same answer', async () => {
    const wrong = await signIn(request.agent(server.url), DEMO_USER, 'not-the-password');
    const unknown = await signIn(request.agent(server.url), 'nobody@openfed.test', 'not-the-password');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    const message = (html: string) => /<p class="error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
    assert.equal(message(wrong.text), 'Incorrect user ID or password. Type the correct user ID and password, and try again.');
    assert.equal(message(unknown.text), message(wrong.text));
    assert.equal(cookieNamed(wrong, 'openfed_sso'), undefined);
  });

  test('DOMAIN\\user and the bare account name sign in too', async () => {
    for (const name of ['OPENFED\\demo', 'openfed\\DEMO', 'demo']) {
      const res = await signIn(request.agent(server.url), name);
      assert.equal(res.status, 303, name);
    }
  });

  test('a form without a valid CSRF token is refused with a page and a reference, and nobody is signed in', async () => {
    const agent = request.agent(server.url);
    await agent.get('/signin').expect(200);
    for (const token of [undefined, 'forged', 'a'.repeat(200)]) {
      const res = await agent
        .post('/signin')
        .type('form')
        .send({ ...(token ? { _csrf: token } : {}), username: DEMO_USER, password: DEMO_PASSWORD });
      assert.equal(res.status, 403);
      assert.match(res.text, /Form expired/);
      assert.match(res.text, /id="reference">[0-9a-f-]{36}</);
      assert.equal(res.headers['x-request-id']?.length, 36);
      assert.equal(cookieNamed(res, 'openfed_sso'), undefined);
    }
    // A token from another browser (another CSRF cookie) is no good either.
    const other = await request(server.url).get('/signin');
    const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(other.text), username: DEMO_USER, password: DEMO_PASSWORD });
    assert.equal(res.status, 403);
    // Signing out needs the token as well, so another site cannot sign a user out.
    const signedIn = request.agent(server.url);
    assert.equal((await signIn(signedIn)).status, 303);
    await signedIn.post('/signout').type('form').send({}).expect(403);
    assert.match((await signedIn.get('/').expect(200)).text, /You are signed in/);
  });

  test('every sign-in gets a new session id, and the old session ends (no fixation)', async () => {
    const agent = request.agent(server.url);
    const first = cookieNamed(await signIn(agent), 'openfed_sso')!.split(';')[0]!.split('=')[1]!;
    const second = cookieNamed(await signIn(agent), 'openfed_sso')!.split(';')[0]!.split('=')[1]!;
    assert.notEqual(first, second);
    assert.equal(await server.deps.sessions.get(first), undefined, 'the earlier session is destroyed');
    assert.ok(await server.deps.sessions.get(second));
    // A session id planted by an attacker is never adopted.
    const planted = request.agent(server.url);
    planted.jar.setCookie(`openfed_sso=${first}`, new URL(server.url).hostname, '/');
    const res = await signIn(planted);
    assert.equal(res.status, 303);
    assert.notEqual(cookieNamed(res, 'openfed_sso')!.split(';')[0]!.split('=')[1], first);
  });

  test('the session lasts the configured lifetime (8 hours) and not longer', async () => {
    const agent = request.agent(server.url);
    assert.equal((await signIn(agent)).status, 303);
    clock.advance(479 * 60_000);
    assert.match((await agent.get('/').expect(200)).text, /You are signed in/);
    clock.advance(2 * 60_000);
    assert.match((await agent.get('/').expect(200)).text, /You are not signed in/);
  });

  test('after sign-in the user continues the pending request, and only to a local path', async () => {
    const agent = request.agent(server.url);
    const id = await server.deps.pending.put({ path: '/?continued=1' }, 60_000);
    const form = await agent.get(`/signin?pending=${id}`).expect(200);
    assert.match(form.text, new RegExp(`name="pending" value="${id}"`));
    const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending: id });
    assert.equal(res.headers.location, '/?continued=1');
    // Used once: replaying the same pending id goes home.
    const again = await signIn(agent, DEMO_USER, DEMO_PASSWORD, { pending: id });
    assert.equal(again.headers.location, '/');

    for (const path of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/ok\r\nSet-Cookie: x=1']) {
      const evil = await server.deps.pending.put({ path }, 60_000);
      const r = await signIn(request.agent(server.url), DEMO_USER, DEMO_PASSWORD, { pending: evil });
      assert.equal(r.headers.location, '/', path);
    }
  });

  test('there is no way to pass a return URL in the query string', async () => {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin?returnUrl=https://evil.example/&redirect=//evil.example').expect(200);
    const res = await agent.post('/signin?returnUrl=https://evil.example/').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD });
    assert.equal(res.headers.location, '/');
  });

  test('hostile form fields get a 400 page, never a crash or a stack trace', async () => {
    const agent = request.agent(server.url);
    const token = csrfFrom((await agent.get('/signin')).text);
    const long = await agent.post('/signin').type('form').send({ _csrf: token, username: 'a'.repeat(300), password: 'x' });
    assert.equal(long.status, 400);
    assert.match(long.text, /too long/);
    const empty = await agent.post('/signin').type('form').send({ _csrf: token, username: DEMO_USER, password: '' });
    assert.equal(empty.status, 400);
    const array = await agent.post('/signin').type('form').send(`_csrf=${encodeURIComponent(token)}&username=a&username=b&password=x`);
    assert.equal(array.status, 400);
    const pending = await agent.post('/signin').type('form').send({ _csrf: token, username: DEMO_USER, password: 'x', pending: '../../etc' });
    assert.equal(pending.status, 400);
    const huge = await agent.post('/signin').type('form').send({ _csrf: token, username: DEMO_USER, password: 'x'.repeat(40_000) });
    assert.equal(huge.status, 413);
    for (const res of [long, empty, array, pending, huge]) {
      assert.doesNotMatch(res.text, /\bat .*\.(ts|js):\d+/, 'no stack trace');
      assert.equal(cookieNamed(res, 'openfed_sso'), undefined);
    }
    const badPending = await agent.get('/signin?pending=%00%01').expect(400);
    assert.match(badPending.text, /Bad request/);
  });

  test('unknown pages answer 404 with a reference', async () => {
    const res = await request(server.url).get('/no/such/page').expect(404);
    assert.match(res.text, /Not found/);
    assert.match(res.text, /id="reference">[0-9a-f-]{36}</);
  });

  test('health and readiness', async () => {
    const health = await request(server.url).get('/healthz').expect(200);
    assert.equal(health.text, 'OK');
    await request(server.url).get('/adfs/probe').expect(200);
    const ready = await request(server.url).get('/readyz').expect(200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.checks.sessions.store, 'memory');
    assert.equal(ready.body.checks.directory.kind, 'demo');
  });
});

describe('sign-in web behind HTTPS and proxies', () => {
  test('over HTTPS the SSO cookie is Secure and SameSite=None (relying parties POST back cross-site)', async () => {
    const server = await startTestServer({ server: { baseUrl: 'https://sts.contoso.test' } });
    try {
      const agent = request.agent(server.url);
      const form = await agent.get('/signin').expect(200);
      assert.match(form.headers['strict-transport-security'] ?? '', /max-age=/);
      const csrfCookie = cookieNamed(form, '__Host-openfed.csrf');
      assert.ok(csrfCookie?.includes('Secure'));
      // supertest's jar will not send Secure cookies over http://, so pass it by hand.
      const res = await request(server.url)
        .post('/signin')
        .set('Cookie', csrfCookie!.split(';')[0]!)
        .type('form')
        .send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD })
        .expect(303);
      const sso = cookieNamed(res, 'openfed_sso')!;
      assert.match(sso, /; Secure/);
      assert.match(sso, /SameSite=None/);
      assert.match(sso, /HttpOnly/);
    } finally {
      await server.stop();
    }
  });

  test('X-Forwarded-For is believed only from configured proxies', async () => {
    for (const [trustedProxies, expected] of [
      [[], '127.0.0.1'],
      [['127.0.0.1'], '203.0.113.7'],
    ] as const) {
      const server = await startTestServer({ server: { trustedProxies: [...trustedProxies] } });
      try {
        const agent = request.agent(server.url);
        const form = await agent.get('/signin');
        const res = await agent
          .post('/signin')
          .set('X-Forwarded-For', '203.0.113.7')
          .type('form')
          .send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD })
          .expect(303);
        const id = cookieNamed(res, 'openfed_sso')!.split(';')[0]!.split('=')[1]!;
        const record = await server.deps.sessions.get(id);
        assert.match(record?.clientIp ?? '', new RegExp(`${expected.replaceAll('.', '\\.')}$`));
      } finally {
        await server.stop();
      }
    }
  });

  test('a malformed trusted proxy stops start-up with the key named', async () => {
    await assert.rejects(startTestServer({ server: { trustedProxies: ['not-an-ip'] } }), /server\.trustedProxies/);
  });
});
