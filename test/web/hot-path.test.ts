/**
 * The hot path (src/web/hot-path.ts) answers a token request of a browser whose session already
 * had a token for that relying party, without express. Proven three ways:
 *  - on its own, behind a bare node:http server whose fallback is visible: what it answers, what it
 *    hands over, and that a handed-over request changed nothing (its ID can still be used);
 *  - inside the real server: the second request is answered without SamlIdp.receive(), and the
 *    answer has the headers, audit record and validity of the express one;
 *  - past the point of no return, an error still reaches the one error handler.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { silentLogger } from '../../src/log.js';
import { hotPath } from '../../src/web/hot-path.js';
import { craftAuthnRequest, readPostForm, redirectQuery, xmlsec1Verify } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';

const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const OTHER_SP = 'https://other-sp.example.test/saml';
const OTHER_ACS = 'https://other-sp.example.test/acs';
const REALM = 'urn:app:wsfed';
const REPLY = 'https://app.example.test/wsfed';
const OTHER_REALM = 'urn:app:other';
const OTHER_REPLY = 'https://other.example.test/wsfed';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

let server: TestServer;
let cookie: string;

/** Signs the demo user in through the form and returns the SSO cookie. */
async function signIn(on: TestServer = server): Promise<string> {
  const form = await fetch(`${on.url}/signin`);
  const html = await form.text();
  const formCookies = form.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const posted = await fetch(`${on.url}/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookies },
    body: new URLSearchParams({ _csrf: csrfFrom(html), username: DEMO_USER, password: DEMO_PASSWORD }).toString(),
  });
  assert.equal(posted.status, 303);
  const sso = posted.headers.getSetCookie().find((c) => c.startsWith(`${on.config.sessions.cookieName}=`));
  assert.ok(sso, 'the sign-in sets the SSO cookie');
  return sso.split(';')[0]!;
}

const samlPath = (o: Partial<Parameters<typeof craftAuthnRequest>[0]> = {}, relayState?: string) => {
  const { xml, id } = craftAuthnRequest({ issuer: SP, acsUrl: ACS, ...o });
  return { path: `/adfs/ls/?${redirectQuery(xml, relayState)}`, id };
};
const wsfedPath = (realm = REALM, extra = '') => `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(realm)}${extra}`;

async function get(base: string, path: string, headers: Record<string, string> = { cookie }) {
  const res = await fetch(`${base}${path}`, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const auditLines = (of: TestServer = server): Array<Record<string, unknown>> => {
  of.deps.audit.flush?.();
  return readFileSync(join(of.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};

before(async () => {
  server = await startTestServer({
    server: { baseUrl: 'http://127.0.0.1' },
    relyingParties: [
      { entityId: SP, assertionConsumerServices: [{ url: ACS }], nameId: { format: 'persistent' }, attributes: [{ name: 'upn', source: 'upn' }] },
      { entityId: OTHER_SP, assertionConsumerServices: [{ url: OTHER_ACS }] },
    ],
    wsfedRelyingParties: [
      { realm: REALM, replyUrls: [REPLY], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] },
      { realm: OTHER_REALM, replyUrls: [OTHER_REPLY] },
    ],
  });
  cookie = await signIn();
  // The first token for each RP goes through express and names the RP in the session.
  for (const path of [samlPath().path, wsfedPath()]) assert.equal((await get(server.url, path)).status, 200);
});
after(() => server?.stop());

describe('the hot path on its own', () => {
  let bare: Server;
  let base: string;
  let handedOver: number;
  /** What the hot path handed over with: undefined (receive it again) or the error to answer. */
  let handedOverWith: unknown;

  before(async () => {
    const hot = hotPath(server.deps, () => false);
    bare = createServer((req, res) => {
      req.id = 'hot-test';
      req.log = silentLogger;
      hot(req, res, (err) => {
        handedOver++;
        handedOverWith = err;
        res.statusCode = err === undefined ? 299 : 599;
        res.end('handed over');
      });
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => bare.close(() => resolve())));

  test('answers a SAML AuthnRequest for an RP the session knows with a token node-saml accepts, and claims its ID', async () => {
    handedOver = 0;
    const { path, id } = samlPath({}, 'state & <more> é 日本 🙂');
    const res = await get(base, path);
    assert.equal(res.status, 200);
    assert.equal(handedOver, 0);
    assert.ok(res.body.endsWith('</html>\n\n'), 'the whole page arrived: Content-Length counts bytes, not characters');
    const { action, fields } = readPostForm(res.body);
    assert.equal(action, ACS);
    assert.equal(fields.RelayState, 'state & <more> é 日本 🙂', 'RelayState goes back byte for byte (and Content-Length counts bytes)');
    const sp = new SAML({
      callbackUrl: ACS,
      entryPoint: 'http://127.0.0.1/adfs/ls/',
      idpIssuer: 'http://127.0.0.1/adfs/services/trust',
      idpCert: server.deps.keys.primary.certificate.toString(),
      issuer: SP,
      audience: SP,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
    });
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    assert.equal(profile?.inResponseTo, id);
    assert.equal(profile?.nameIDFormat, PERSISTENT);
    // The same request again: its ID is taken, so the hot path hands it over (where it is refused).
    assert.equal((await get(base, path)).status, 299);
  });

  test('answers a WS-Fed wsignin1.0 for a realm the session knows with a token xmlsec1 verifies', async () => {
    handedOver = 0;
    const res = await get(base, wsfedPath(REALM, '&wctx=ctx%26%22x%22'));
    assert.equal(res.status, 200);
    assert.equal(handedOver, 0);
    const post = readWsfedPost(res.body);
    assert.equal(post.action, REPLY);
    assert.equal(post.wctx, 'ctx&"x"');
    const verified = xmlsec1Verify(post.assertion, server.deps.keys.primary.certificate.toString(), 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion', 'AssertionID');
    assert.ok(verified.ok, verified.output);
  });

  // Every case: handed over, and nothing written — the request's ID is still unused afterwards. A
  // request the protocol checks refuse goes over with that refusal (`refused`), not to be checked again.
  const handOvers: Array<{ name: string; request: () => { path: string; id?: string }; headers?: () => Record<string, string>; refused?: string }> = [
    { name: 'no cookie', request: () => samlPath(), headers: () => ({}) },
    { name: 'a cookie that is no session id', request: () => samlPath(), headers: () => ({ cookie: `${server.config.sessions.cookieName}=../../etc` }) },
    { name: 'an unknown session', request: () => samlPath(), headers: () => ({ cookie: `${server.config.sessions.cookieName}=${'A'.repeat(43)}` }) },
    { name: 'the first token for this RP in the session (a write)', request: () => samlPath({ issuer: OTHER_SP, acsUrl: OTHER_ACS }) },
    { name: 'ForceAuthn (a sign-in is needed)', request: () => samlPath({ forceAuthn: true }) },
    { name: 'a NameIDPolicy the RP does not have (a SAML error status)', request: () => samlPath({ nameIdFormat: EMAIL }) },
    { name: 'an ACS not registered for the RP', request: () => samlPath({ acsUrl: 'https://evil.example.test/acs' }), refused: 'saml_unknown_acs' },
    { name: 'an expired request', request: () => samlPath({ issueInstant: new Date(Date.now() - 60 * 60_000) }), refused: 'saml_request_expired' },
    { name: 'RelayState twice', request: () => { const r = samlPath(); return { ...r, path: `${r.path}&RelayState=a&RelayState=b` }; } },
    { name: 'SAMLRequest and SAMLResponse together', request: () => { const r = samlPath(); return { ...r, path: `${r.path}&SAMLResponse=x` }; } },
    { name: 'SAMLRequest twice', request: () => { const r = samlPath(); return { ...r, path: `${r.path}&SAMLRequest=x` }; } },
    { name: 'a SAMLRequest that is not deflated XML', request: () => ({ path: '/adfs/ls/?SAMLRequest=%3Cnot-xml' }), refused: 'saml_request_invalid' },
    { name: 'an unknown WS-Fed realm', request: () => ({ path: wsfedPath('urn:app:unknown') }), refused: 'wsfed_unknown_realm' },
    { name: 'a wreply not registered for the realm', request: () => ({ path: wsfedPath(REALM, `&wreply=${encodeURIComponent('https://evil.example.test/')}`) }), refused: 'wsfed_unknown_reply' },
    { name: 'wfresh=0 (a fresh password is needed)', request: () => ({ path: wsfedPath(REALM, '&wfresh=0') }) },
    { name: 'a realm the session has no token for yet', request: () => ({ path: wsfedPath(OTHER_REALM) }) },
    { name: 'wa given twice', request: () => ({ path: `${wsfedPath()}&wa=wsignin1.0` }) },
    { name: 'a sign-out', request: () => ({ path: '/adfs/ls/?wa=wsignout1.0' }) },
    { name: 'the way back from the sign-in form', request: () => ({ path: '/adfs/ls/?resume=abc' }) },
  ];
  for (const c of handOvers) {
    test(`hands over${c.refused ? ` with ${c.refused}` : ''}, having changed nothing: ${c.name}`, async () => {
      handedOver = 0;
      handedOverWith = undefined;
      const { path, id } = c.request();
      const before = await server.deps.sessions.get(cookie.split('=')[1]!);
      const res = await get(base, path, c.headers?.() ?? { cookie });
      assert.equal(res.status, c.refused ? 599 : 299, res.body.slice(0, 200));
      assert.equal(handedOver, 1);
      assert.equal((handedOverWith as { messageId?: string } | undefined)?.messageId, c.refused);
      assert.deepEqual(await server.deps.sessions.get(cookie.split('=')[1]!), before, 'the session is unchanged');
      if (id !== undefined) {
        assert.equal(await server.deps.replay.firstUse(`saml2|${SP}|${id}`, 60_000), true, 'the request ID was not claimed');
      }
    });
  }
});

describe('the hot path inside the server', () => {
  test('a repeat SAML request is answered without express: same headers and audit record, valid token', async (t) => {
    const receive = t.mock.method(server.deps.saml, 'receive');
    const received = () => receive.mock.callCount();
    const viaExpress = await get(server.url, samlPath({ issuer: OTHER_SP, acsUrl: OTHER_ACS }).path);
    assert.equal(received(), 1, 'the first token for OTHER_SP goes through express');
    const hot = await get(server.url, samlPath({ issuer: OTHER_SP, acsUrl: OTHER_ACS }).path, { cookie, 'x-request-id': 'lb-hot.1' });
    assert.equal(received(), 1, 'the repeat is answered by the hot path');
    assert.equal(hot.status, 200);
    const names = (h: Headers) => {
      const out: string[] = [];
      h.forEach((_value, name) => out.push(name));
      return out.filter((k) => k !== 'date' && k !== 'x-request-id' && k !== 'content-length').sort();
    };
    assert.deepEqual(names(hot.headers), names(viaExpress.headers));
    assert.equal(hot.headers.get('content-security-policy'), viaExpress.headers.get('content-security-policy'));
    assert.equal(hot.headers.get('x-request-id'), 'lb-hot.1');
    assert.equal(readPostForm(hot.body).action, OTHER_ACS);
    const issued = auditLines().filter((l) => l.type === 'token.issued' && l.rp === OTHER_SP);
    assert.equal(issued.length, 2);
    const strip = ({ time: _t, requestId: _r, nameId: _n, ...rest }: Record<string, unknown>) => rest;
    assert.deepEqual(strip(issued[1]!), strip(issued[0]!));
    assert.equal(issued[1]!.requestId, 'lb-hot.1');
  });

  test('a request the checks refuse is checked once, and answered as express answers it without a session', async (t) => {
    const inspect = t.mock.method(server.deps.saml, 'inspect');
    const inspected = () => inspect.mock.callCount();
    const bad = () => samlPath({ acsUrl: 'https://evil.example.test/acs' }).path;
    const withSession = await get(server.url, bad(), { cookie, accept: 'application/json' });
    assert.equal(inspected(), 1, 'one check, not one on the hot path and one in express');
    const withoutSession = await get(server.url, bad(), { accept: 'application/json' });
    assert.equal(withSession.status, 400);
    assert.equal(withSession.status, withoutSession.status);
    const error = (r: { body: string }) => (JSON.parse(r.body) as { error: string; message: string }).error;
    assert.equal(error(withSession), 'saml_unknown_acs');
    assert.equal(error(withSession), error(withoutSession));
    const refusals = auditLines().filter((l) => l.type === 'token.refused' && l.reason === 'saml_unknown_acs');
    assert.ok(refusals.length >= 2, 'both audited');
  });

  test('a replayed request is refused by the usual error page and audited', async () => {
    const { path } = samlPath();
    assert.equal((await get(server.url, path)).status, 200);
    const replay = await get(server.url, path, { cookie, accept: 'application/json' });
    assert.equal(replay.status, 400);
    assert.equal((JSON.parse(replay.body) as { error: string }).error, 'saml_request_replayed');
    assert.ok(auditLines().some((l) => l.type === 'token.refused' && l.reason === 'saml_request_replayed'));
  });

  test('an error past the point of no return reaches the error handler: a 500 page, no stack, no token', async (t) => {
    const audit = server.deps.audit;
    const record = audit.record.bind(audit);
    t.mock.method(audit, 'record', (event: Parameters<typeof record>[0], requestId?: string) => {
      if (event.type === 'token.issued') throw new Error('audit disk full (test)');
      record(event, requestId);
    });
    const res = await get(server.url, wsfedPath(), { cookie, 'x-request-id': 'lb-broken.1' });
    assert.equal(res.status, 500);
    assert.match(res.body, /lb-broken\.1/, 'the page quotes the request id');
    assert.doesNotMatch(res.body, /audit disk full|at .*\.ts:\d+/, 'no internal cause, no stack');
    assert.doesNotMatch(res.body, /wresult/);
  });

  test('behind a trusted proxy the client address is the forwarded one, as express would have it', async () => {
    const proxied = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1', trustedProxies: ['127.0.0.1'] },
      wsfedRelyingParties: [{ realm: REALM, replyUrls: [REPLY] }],
    });
    try {
      const sso = await signIn(proxied);
      for (let i = 0; i < 2; i++) {
        const res = await get(proxied.url, wsfedPath(), { cookie: sso, 'x-forwarded-for': '203.0.113.7' });
        assert.equal(res.status, 200);
      }
      const issued = auditLines(proxied).filter((l) => l.type === 'token.issued');
      assert.deepEqual(issued.map((l) => l.clientIp), ['203.0.113.7', '203.0.113.7'], 'express (first) and the hot path (second) agree');
    } finally {
      await proxied.stop();
    }
  });
});
