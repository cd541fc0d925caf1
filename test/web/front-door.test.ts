/**
 * /adfs/ls/ has one front door (src/web/passive/): every SAML and WS-Federation request is answered
 * by PassiveEndpoint, whether the browser has a session or not, and express never sees it. Proven:
 *  - the door on its own (PassiveEndpoint.handle with request parts, no HTTP): outcomes per case;
 *  - through HTTP: tokens that independent validators accept, the same refusal with and without a
 *    session, audited under the protocol of the route, replays refused, failures past the point of no
 *    return answered as a 500 page, forwarded client addresses, hostile parked state refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseQuery } from 'node:querystring';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { silentLogger } from '../../src/log.js';
import { PassiveEndpoint, type PassiveRequest } from '../../src/web/passive/endpoint.js';
import { craftAuthnRequest, readPostForm, redirectQuery, xmlsec1Verify } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';

const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const OTHER_SP = 'https://other-sp.example.test/saml';
const OTHER_ACS = 'https://other-sp.example.test/acs';
const REALM = 'urn:app:wsfed';
const REPLY = 'https://app.example.test/wsfed';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

let server: TestServer;
let cookie: string;

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

const samlQuery = (o: Partial<Parameters<typeof craftAuthnRequest>[0]> = {}, relayState?: string) => {
  const { xml, id } = craftAuthnRequest({ issuer: SP, acsUrl: ACS, ...o });
  return { query: redirectQuery(xml, relayState), id };
};
const wsfedQuery = (realm = REALM, extra = '') => `wa=wsignin1.0&wtrealm=${encodeURIComponent(realm)}${extra}`;

async function get(path: string, headers: Record<string, string> = { cookie }, base = server.url) {
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
    wsfedRelyingParties: [{ realm: REALM, replyUrls: [REPLY], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] }],
  });
  cookie = await signIn();
});
after(() => server?.stop());

describe('the door on its own: request parts in, outcome out', () => {
  let door: PassiveEndpoint;
  const parts = (query: string, cookies: Record<string, string> = { [server.config.sessions.cookieName]: cookie.split('=')[1]! }): PassiveRequest => ({
    method: 'GET',
    // As the HTTP side parses it: a repeated name is an array.
    params: parseQuery(query),
    rawQuery: query,
    cookies,
    clientIp: '192.0.2.10',
    requestId: 'door-test',
    log: silentLogger,
  });
  before(() => {
    door = new PassiveEndpoint(server.deps);
  });

  test('a session and a SAML AuthnRequest: a token page for the registered ACS, and the session names the SP', async () => {
    const answer = await door.handle(parts(samlQuery({ issuer: OTHER_SP, acsUrl: OTHER_ACS }).query));
    assert.equal(answer.outcome.kind, 'post');
    assert.equal(answer.outcome.kind === 'post' && answer.outcome.url, OTHER_ACS);
    assert.ok(answer.outcome.kind === 'post' && answer.outcome.fields.SAMLResponse);
    assert.deepEqual(answer.cookies, []);
    const record = await server.deps.sessions.get(cookie.split('=')[1]!);
    assert.ok(record?.relyingParties.includes(OTHER_SP));
  });

  test('no session: the request is parked and the browser sent to the sign-in form with a flow cookie', async () => {
    const answer = await door.handle(parts(samlQuery().query, {}));
    assert.equal(answer.outcome.kind, 'redirect');
    assert.match(answer.outcome.kind === 'redirect' ? answer.outcome.location : '', /^\/signin\?pending=[A-Za-z0-9_-]+$/);
    assert.deepEqual(answer.cookies.map((c) => c.name), ['openfed_flow']);
  });

  test('a NameIDPolicy the SP does not have: a SAML error status to the SP, not a page', async () => {
    const answer = await door.handle(parts(samlQuery({ nameIdFormat: EMAIL }).query));
    assert.equal(answer.outcome.kind, 'post');
    const xml = Buffer.from(answer.outcome.kind === 'post' ? answer.outcome.fields.SAMLResponse! : '', 'base64').toString();
    assert.match(xml, /InvalidNameIDPolicy/);
  });

  const refusals: Array<{ name: string; query: () => string; error: string; protocol?: string }> = [
    { name: 'an unregistered ACS', query: () => samlQuery({ acsUrl: 'https://evil.example.test/acs' }).query, error: 'saml_unknown_acs', protocol: 'saml2' },
    { name: 'an expired request', query: () => samlQuery({ issueInstant: new Date(Date.now() - 3_600_000) }).query, error: 'saml_request_expired', protocol: 'saml2' },
    { name: 'RelayState twice', query: () => `${samlQuery().query}&RelayState=a&RelayState=b`, error: 'bad_request', protocol: 'saml2' },
    { name: 'SAMLRequest and SAMLResponse together', query: () => `${samlQuery().query}&SAMLResponse=x`, error: 'bad_request', protocol: 'saml2' },
    { name: 'an unknown WS-Fed realm', query: () => wsfedQuery('urn:app:unknown'), error: 'wsfed_unknown_realm', protocol: 'wsfed' },
    { name: 'an unregistered wreply', query: () => wsfedQuery(REALM, `&wreply=${encodeURIComponent('https://evil.example.test/')}`), error: 'wsfed_unknown_reply', protocol: 'wsfed' },
    { name: 'an unknown wa', query: () => 'wa=wattr1.0', error: 'wsfed_request_invalid', protocol: 'wsfed' },
    { name: 'nothing at all', query: () => 'x=1', error: 'bad_request' },
    { name: 'a resume id nobody parked', query: () => 'resume=nothing-parked-here', error: 'bad_request' },
  ];
  for (const c of refusals) {
    test(`refused, under ${c.protocol ?? 'no protocol'}: ${c.name}`, async () => {
      for (const cookies of [undefined, {}]) {
        const answer = await door.handle(parts(c.query(), cookies));
        assert.equal(answer.outcome.kind, 'refused');
        if (answer.outcome.kind !== 'refused') return;
        assert.equal((answer.outcome.error as { messageId?: string }).messageId, c.error, 'the same refusal with and without a session');
        assert.equal(answer.outcome.protocol, c.protocol);
      }
    });
  }
});

describe('the door over HTTP', () => {
  test('a repeat SAML request: a token node-saml accepts, RelayState byte for byte, its ID claimed', async () => {
    const first = samlQuery();
    assert.equal((await get(`/adfs/ls/?${first.query}`)).status, 200);
    const { query, id } = samlQuery({}, 'state & <more> é 日本 🙂');
    const res = await get(`/adfs/ls/?${query}`, { cookie, 'x-request-id': 'lb-door.1' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'lb-door.1');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(String(res.headers.get('content-security-policy')), /form-action https:\/\/sp\.example\.test;/);
    assert.ok(res.body.endsWith('</html>\n\n'), 'the whole page arrived: Content-Length counts bytes');
    const { action, fields } = readPostForm(res.body);
    assert.equal(action, ACS);
    assert.equal(fields.RelayState, 'state & <more> é 日本 🙂');
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
    const replay = await get(`/adfs/ls/?${query}`, { cookie, accept: 'application/json' });
    assert.equal(replay.status, 400);
    assert.equal((JSON.parse(replay.body) as { error: string }).error, 'saml_request_replayed');
    assert.ok(auditLines().some((l) => l.type === 'token.refused' && l.reason === 'saml_request_replayed' && l.protocol === 'saml2'));
  });

  test('WS-Fed wsignin1.0 at /ADFS/ls (express-style path matching): a token xmlsec1 verifies, wctx back as sent', async () => {
    const res = await get(`/ADFS/ls?${wsfedQuery(REALM, '&wctx=ctx%26%22x%22')}`);
    assert.equal(res.status, 200);
    const post = readWsfedPost(res.body);
    assert.equal(post.action, REPLY);
    assert.equal(post.wctx, 'ctx&"x"');
    const verified = xmlsec1Verify(post.assertion, server.deps.keys.primary.certificate.toString(), 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion', 'AssertionID');
    assert.ok(verified.ok, verified.output);
  });

  test('a WS-Fed refusal is audited as WS-Fed, a SAML one as SAML: the protocol comes from what was asked', async () => {
    const ws = await get(`/adfs/ls/?${wsfedQuery('urn:app:unknown')}`, { cookie, accept: 'application/json' });
    const saml = await get(`/adfs/ls/?${samlQuery({ acsUrl: 'https://evil.example.test/acs' }).query}`, { accept: 'application/json' });
    assert.equal(ws.status, 400);
    assert.equal(saml.status, 400);
    const refused = auditLines().filter((l) => l.type === 'token.refused');
    assert.ok(refused.some((l) => l.reason === 'wsfed_unknown_realm' && l.protocol === 'wsfed'));
    assert.ok(refused.some((l) => l.reason === 'saml_unknown_acs' && l.protocol === 'saml2'));
  });

  test('a failure past the point of no return is a 500 page quoting the request id: no stack, no token', async (t) => {
    const audit = server.deps.audit;
    const record = audit.record.bind(audit);
    t.mock.method(audit, 'record', (event: Parameters<typeof record>[0], requestId?: string) => {
      if (event.type === 'token.issued') throw new Error('audit disk full (test)');
      record(event, requestId);
    });
    const res = await get(`/adfs/ls/?${wsfedQuery()}`, { cookie, 'x-request-id': 'lb-broken.1' });
    assert.equal(res.status, 500);
    assert.match(res.body, /lb-broken\.1/);
    assert.doesNotMatch(res.body, /audit disk full|at .*\.ts:\d+/);
    assert.doesNotMatch(res.body, /wresult/);
  });

  test('a parked request of the wrong shape is no pending request: 400, nothing resumed', async () => {
    const forged = await server.deps.pending.put({ path: '/adfs/ls/', state: { kind: 'saml2', flow: 'x', request: { rpEntityId: SP, acsUrl: 'https://evil.example.test/' } } }, 60_000);
    const res = await get(`/adfs/ls/?resume=${forged}`, { cookie: `${cookie}; openfed_flow=${'A'.repeat(24)}`, accept: 'application/json' });
    assert.equal(res.status, 400);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'bad_request');
  });

  test('the POST binding through the door: a form larger than any SAML message is 413', async () => {
    const res = await fetch(`${server.url}/adfs/ls/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: `SAMLRequest=${'A'.repeat(server.config.saml.maxMessageBytes * 2)}`,
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'payload_too_large');
  });

  test('other methods are not the door: 404 from express', async () => {
    const res = await fetch(`${server.url}/adfs/ls/`, { method: 'PUT', headers: { accept: 'application/json' } });
    assert.equal(res.status, 404);
  });

  test('behind a trusted proxy the client address is the forwarded one', async () => {
    const proxied = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1', trustedProxies: ['127.0.0.1'] },
      wsfedRelyingParties: [{ realm: REALM, replyUrls: [REPLY] }],
    });
    try {
      const sso = await signIn(proxied);
      for (let i = 0; i < 2; i++) {
        const res = await get(`/adfs/ls/?${wsfedQuery()}`, { cookie: sso, 'x-forwarded-for': '203.0.113.7' }, proxied.url);
        assert.equal(res.status, 200);
      }
      const issued = auditLines(proxied).filter((l) => l.type === 'token.issued');
      assert.deepEqual(issued.map((l) => l.clientIp), ['203.0.113.7', '203.0.113.7']);
    } finally {
      await proxied.stop();
    }
  });
});
