/**
 * No open redirect anywhere: every Location header, form action, redirect-page link and return link
 * OpenFed produces points at itself or at a host registered for the relying party in question —
 * whatever RelayState, wreply, ACS URL, pending/resume id or path the request carries.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { craftAuthnRequest, readPostForm, redirectQuery } from '../helpers/saml.js';
import { assertOnlyHosts, assertRefusedPage, logoutRequestXml } from '../helpers/hostile.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const IDP_SSO = 'http://127.0.0.1/adfs/ls/';
const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const SLO = 'https://sp.example.test/saml/slo';
const REALM = 'urn:app:wsfed';
const REPLY = 'https://rp.example.test/wsfed/';
const OTHER_REALM = 'urn:app:other';
const OTHER_REPLY = 'https://other-rp.example.test/';
const EVIL_URL = 'https://evil.attacker.test/steal';

describe('no open redirect', () => {
  let server: TestServer;
  let allowed: string[];

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        {
          entityId: SP,
          assertionConsumerServices: [{ url: ACS, binding: 'post', index: 0, isDefault: true }],
          singleLogoutServices: [{ url: SLO, binding: 'redirect' }],
          allowUnsignedLogout: true,
        },
      ],
      wsfedRelyingParties: [
        { realm: REALM, replyUrls: [REPLY] },
        { realm: OTHER_REALM, replyUrls: [OTHER_REPLY] },
      ],
      // Per-address throttling would answer 429 to this file's many sign-ins from 127.0.0.1.
      lockout: { perAddress: { attempts: 0 } },
    });
    allowed = [new URL(server.url).host, '127.0.0.1', 'sp.example.test', 'rp.example.test', 'other-rp.example.test'];
  });
  after(() => server?.stop());

  const check = (res: request.Response, what: string) => assertOnlyHosts(res, server.url, allowed, what);

  async function signedInAgent() {
    const agent = request.agent(server.url);
    const form = await agent.get('/signin').expect(200);
    await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    return agent;
  }

  test('RelayState holding a URL comes back only as an opaque field to the registered ACS, never followed', async () => {
    const agent = await signedInAgent();
    for (const relayState of [EVIL_URL, '//evil.attacker.test', '/\\evil.attacker.test', 'javascript:alert(1)']) {
      const res = await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml, relayState)}`);
      assert.equal(res.status, 200);
      check(res, `RelayState ${relayState}`);
      const form = readPostForm(res.text);
      assert.equal(form.action, ACS);
      assert.equal(form.fields.RelayState, relayState, 'byte for byte, as a field');
      assert.equal(res.headers.location, undefined);
    }
  });

  test('every hop of a sign-on (request → sign-in form → resume → POST page) stays on registered hosts', async () => {
    const agent = request.agent(server.url);
    const first = await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml, EVIL_URL)}`);
    assert.equal(first.status, 303);
    check(first, 'to the sign-in form');
    const form = await agent.get(first.headers.location!).expect(200);
    check(form, 'sign-in form');
    const pending = /name="pending" value="([^"]+)"/.exec(form.text)![1]!;
    const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
    assert.equal(posted.status, 303);
    check(posted, 'after sign-in');
    assert.match(posted.headers.location!, /^\/adfs\/ls\/\?resume=/);
    const done = await agent.get(posted.headers.location!);
    check(done, 'POST page');
    assert.equal(readPostForm(done.text).action, ACS);
  });

  const foreignAcs = [EVIL_URL, `${ACS}.attacker.test`, 'https://sp.example.test.attacker.test/saml/acs', `https://sp.example.test@attacker.test/saml/acs`, '//attacker.test/acs', 'javascript:alert(1)', `${ACS}/../../evil`, `${ACS}?x=1`];
  for (const acsUrl of foreignAcs) {
    test(`AuthnRequest ACS URL ${acsUrl} → refused, nothing sent`, async () => {
      const agent = await signedInAgent();
      const res = await agent.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP, acsUrl }).xml)}`);
      check(res, `ACS ${acsUrl}`);
      assertRefusedPage(res, `ACS ${acsUrl}`);
    });
  }

  const foreignReplies = [EVIL_URL, `${REPLY}.attacker.test`, 'https://rp.example.test.attacker.test/wsfed/', 'https://rp.example.test@attacker.test/wsfed/', '//attacker.test/', `${REPLY}../evil`, 'javascript:alert(1)', OTHER_REPLY, REPLY.toUpperCase()];
  for (const wreply of foreignReplies) {
    test(`wsignin1.0 wreply ${wreply} → refused, nothing sent`, async () => {
      const agent = await signedInAgent();
      const res = await agent.get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wreply=${encodeURIComponent(wreply)}`);
      check(res, `wreply ${wreply}`);
      assertRefusedPage(res, `wreply ${wreply}`);
    });
  }

  test('control: the registered wreply gets the token', async () => {
    const agent = await signedInAgent();
    const res = await agent.get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(REALM)}&wreply=${encodeURIComponent(REPLY)}`);
    assert.equal(res.status, 200);
    check(res, 'registered wreply');
    assert.equal(readPostForm(res.text).action, REPLY);
  });

  for (const wreply of [EVIL_URL, '//attacker.test/', OTHER_REPLY, `${REPLY}.attacker.test`]) {
    test(`wsignout1.0 wreply ${wreply} → signed out, no link or redirect to it`, async () => {
      const agent = await signedInAgent();
      const res = await agent.get(`/adfs/ls/?wa=wsignout1.0&wtrealm=${encodeURIComponent(REALM)}&wreply=${encodeURIComponent(wreply)}`);
      assert.ok(res.status < 500);
      check(res, `signout wreply ${wreply}`);
      assert.doesNotMatch(res.text, /id="return"/);
      assert.doesNotMatch(res.text, /attacker\.test|other-rp/);
    });
  }

  test('control: wsignout1.0 with the registered wreply offers it back', async () => {
    const agent = await signedInAgent();
    const res = await agent.get(`/adfs/ls/?wa=wsignout1.0&wtrealm=${encodeURIComponent(REALM)}&wreply=${encodeURIComponent(REPLY)}`);
    check(res, 'registered signout wreply');
    assert.match(res.text, /id="return" href="https:\/\/rp\.example\.test\/wsfed\/"/);
  });

  test('a SAML LogoutRequest with a URL in RelayState is answered at the registered SLO endpoint only', async () => {
    const agent = await signedInAgent();
    const xml = logoutRequestXml({ issuer: SP, destination: IDP_SSO });
    const res = await agent.get(`/adfs/ls/?${redirectQuery(xml, EVIL_URL)}`);
    check(res, 'LogoutResponse hop');
    assert.ok((res.headers.location ?? '').startsWith(`${SLO}?`), res.headers.location);
  });

  for (const pending of ['AAAAAAAAAAAAAAAAAAAAAAAA', 'forged-id-0123456789abcdef']) {
    test(`/signin?pending=${pending} (well-formed, forged): sign-in goes home, nowhere else`, async () => {
      const agent = request.agent(server.url);
      const form = await agent.get(`/signin?pending=${pending}`).expect(200);
      check(form, 'form with forged pending');
      const res = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, '/');
    });
  }

  for (const pending of ['//evil.attacker.test', '/\\evil.attacker.test', EVIL_URL, 'short', 'x'.repeat(65), '../../adfs/ls/']) {
    test(`/signin?pending=${pending.slice(0, 40)} (malformed) → 400 on GET and POST`, async () => {
      const agent = request.agent(server.url);
      const get = await agent.get(`/signin?pending=${encodeURIComponent(pending)}`);
      check(get, 'GET malformed pending');
      assertRefusedPage(get, `GET pending ${pending}`);
      const form = await agent.get('/signin').expect(200);
      const post = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
      check(post, 'POST malformed pending');
      assertRefusedPage(post, `POST pending ${pending}`);
    });
  }

  for (const resume of ['AAAAAAAAAAAAAAAAAAAAAAAA', '//evil.attacker.test', EVIL_URL, '']) {
    test(`/adfs/ls/?resume=${resume.slice(0, 40)} (forged) → 400, no redirect`, async () => {
      const agent = await signedInAgent();
      const res = await agent.get(`/adfs/ls/?resume=${encodeURIComponent(resume)}`);
      check(res, `resume ${resume}`);
      assertRefusedPage(res, `resume ${resume}`);
    });
  }

  test('the IdP-initiated page (off by default) redirects nowhere', async () => {
    const res = await request(server.url).get(`/adfs/ls/idpinitiatedsignon?loginToRp=${encodeURIComponent(SP)}&RelayState=${encodeURIComponent(EVIL_URL)}`);
    check(res, 'idp-initiated');
    assert.equal(res.status, 404);
  });

  /** Raw paths, sent without client-side normalisation. */
  function rawGet(path: string): Promise<{ status: number; location: string | undefined }> {
    const { hostname, port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.end();
    });
  }

  const paths = [
    '//evil.attacker.test',
    '//evil.attacker.test/',
    '/\\evil.attacker.test',
    '/\\/evil.attacker.test/',
    '/%2F%2Fevil.attacker.test',
    '/%5Cevil.attacker.test',
    '/assets//evil.attacker.test',
    '/assets//evil.attacker.test/..',
    '/assets/%2F%2Fevil.attacker.test',
    '/assets/..%2F..%2F',
    '/assets',
    '/signin//evil.attacker.test',
    '/signin/..//evil.attacker.test',
    '/adfs/ls//evil.attacker.test',
    '/%09/evil.attacker.test',
  ];
  for (const path of paths) {
    test(`path ${path}: no Location to another host`, async () => {
      const res = await rawGet(path);
      assert.ok(res.status < 500, `status ${res.status}`);
      if (res.location !== undefined) {
        const target = new URL(res.location, server.url);
        assert.ok(allowed.includes(target.host), `Location ${res.location} leads to ${target.host}`);
        assert.ok(!res.location.startsWith('//') && !res.location.startsWith('/\\'), `protocol-relative Location ${res.location}`);
      }
    });
  }
});
