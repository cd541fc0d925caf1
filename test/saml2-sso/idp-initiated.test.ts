/**
 * IdP-initiated (unsolicited) sign-on at /adfs/ls/idpinitiatedsignon: off unless configured, offered
 * only for relying parties that allow it, and answered with a Response that has no InResponseTo,
 * POSTed to the RP's default ACS — which node-saml accepts when it does not insist on InResponseTo.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { claimValues } from '../../src/claims/values.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { decodeSamlResponse, readPostForm } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const PAGE = '/adfs/ls/idpinitiatedsignon';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

const ALLOWED = {
  entityId: 'https://allowed.example.test/saml',
  name: 'Allowed Application',
  // Two ACSs: the unsolicited Response must go to the default one, not simply the first.
  other: 'https://allowed.example.test/saml/acs-other',
  acs: 'https://allowed.example.test/saml/acs',
};
const CLOSED = { entityId: 'https://closed.example.test/saml', name: 'Closed Application', acs: 'https://closed.example.test/saml/acs' };

function relyingParties() {
  return [
    {
      entityId: ALLOWED.entityId,
      name: ALLOWED.name,
      allowIdpInitiated: true,
      assertionConsumerServices: [
        { url: ALLOWED.other, index: 0 },
        { url: ALLOWED.acs, index: 1, isDefault: true },
      ],
      nameId: { format: 'persistent' as const },
      attributes: [{ name: 'upn', source: 'upn' as const }],
    },
    { entityId: CLOSED.entityId, name: CLOSED.name, assertionConsumerServices: [{ url: CLOSED.acs, isDefault: true }] },
  ];
}

/** An error page: no POST-binding form, no redirect anywhere, nothing for any SP. */
function assertNothingPosted(res: request.Response) {
  assert.doesNotMatch(res.text, /id="post-binding"|SAMLResponse/);
  assert.equal(res.headers.location, undefined);
}

async function signIn(agent: request.Agent, signInPath: string) {
  const form = await agent.get(signInPath).expect(200);
  const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
  assert.equal(posted.status, 303, posted.text.slice(0, 300));
  return posted.headers.location!;
}

describe('IdP-initiated sign-on page: off by default', () => {
  let server: TestServer;
  before(async () => {
    // The RP allows it, but the page itself is not switched on: AD FS's default.
    server = await startTestServer({ server: { baseUrl: 'http://127.0.0.1' }, relyingParties: relyingParties() });
  });
  after(() => server?.stop());

  for (const path of [PAGE, '/adfs/ls/IdpInitiatedSignOn.aspx', `${PAGE}?loginToRp=${encodeURIComponent(ALLOWED.entityId)}`]) {
    test(`404 for ${path}`, async () => {
      const res = await request(server.url).get(path);
      assert.equal(res.status, 404);
      assertNothingPosted(res);
      assert.doesNotMatch(res.text, new RegExp(ALLOWED.name), 'no application listed');
    });
  }
});

describe('IdP-initiated sign-on page: on', () => {
  let server: TestServer;
  let idpCertPem: string;

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      saml: { idpInitiatedSignOnPage: true },
      relyingParties: relyingParties(),
    });
    idpCertPem = server.deps.keys.primary.certificate.toString();
  });
  after(() => server?.stop());

  const nodeSaml = () =>
    new SAML({
      issuer: ALLOWED.entityId,
      callbackUrl: ALLOWED.acs,
      idpCert: idpCertPem,
      idpIssuer: 'http://127.0.0.1/adfs/services/trust',
      audience: ALLOWED.entityId,
      identifierFormat: PERSISTENT,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      // Unsolicited: there is no request to match, so the SP must not demand InResponseTo.
      validateInResponseTo: ValidateInResponseTo.never,
    });

  test('lists exactly the relying parties that allow IdP-initiated sign-on', async () => {
    const res = await request(server.url).get(PAGE).expect(200);
    const links = [...res.text.matchAll(/<a href="([^"]*loginToRp=[^"]*)">([^<]*)</g)].map((m) => [m[1]!.replace(/&amp;/g, '&'), m[2]]);
    assert.deepEqual(links, [[`${PAGE}?loginToRp=${encodeURIComponent(ALLOWED.entityId)}`, ALLOWED.name]]);
    assert.doesNotMatch(res.text, /closed\.example\.test|Closed Application/);
  });

  for (const [what, entityId] of [
    ['an RP that does not allow it', CLOSED.entityId],
    ['an unknown RP', 'https://unknown.example.test/saml'],
  ] as const) {
    test(`?loginToRp= for ${what}: 404 page, nothing posted — even for a signed-in user`, async () => {
      const agent = request.agent(server.url);
      // Signed in first: with a session, a wrongly allowed RP would get a token at once.
      await signIn(agent, '/signin');
      const res = await agent.get(`${PAGE}?loginToRp=${encodeURIComponent(entityId)}&RelayState=x`);
      assert.equal(res.status, 404);
      assertNothingPosted(res);
      assert.match(res.text, /not enabled for that application/);
      assert.doesNotMatch(res.text, new RegExp(CLOSED.acs.replace(/\./g, '\\.')));
    });
  }

  test('?loginToRp= for an allowed RP: sign-in, then an unsolicited Response to the default ACS with RelayState unchanged', async () => {
    const agent = request.agent(server.url);
    const relayState = 'https://allowed.example.test/app/deep?x=1&y=<two> "ü"';
    const start = await agent.get(`${PAGE}?loginToRp=${encodeURIComponent(ALLOWED.entityId)}&RelayState=${encodeURIComponent(relayState)}`);
    assert.equal(start.status, 303, 'not signed in: off to the sign-in form first');
    assert.match(start.headers.location ?? '', /^\/signin\?pending=/);
    const resume = await signIn(agent, start.headers.location!);
    const page = await agent.get(resume);
    assert.equal(page.status, 200, page.text.slice(0, 300));

    const form = readPostForm(page.text);
    assert.equal(form.action, ALLOWED.acs, 'the default ACS, not the first one listed');
    assert.equal(form.fields.RelayState, relayState, 'RelayState back byte for byte');
    assert.match(page.headers['content-security-policy'] ?? '', /form-action https:\/\/allowed\.example\.test[; ]/);

    const xml = decodeSamlResponse(form.fields.SAMLResponse!);
    assert.doesNotMatch(xml, /InResponseTo=/, 'unsolicited: neither Response nor SubjectConfirmationData answers a request');
    assert.match(xml, new RegExp(`Destination="${ALLOWED.acs}"`));

    const { profile } = await nodeSaml().validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.ok(profile);
    const principal = (await server.deps.directory.findPrincipal(DEMO_USER))!;
    assert.equal(profile.nameID, claimValues(principal, 'immutableId')[0]);
    assert.equal(profile.upn, DEMO_USER);
    assert.equal(profile.inResponseTo, undefined);
  });

  test('a signed-in user gets the Response at once, and the page shows who they are', async () => {
    const agent = request.agent(server.url);
    await signIn(agent, '/signin');
    const listing = await agent.get(PAGE).expect(200);
    assert.match(listing.text, new RegExp(`Signed in as <strong>${DEMO_USER.replace(/\./g, '\\.')}</strong>`));

    const res = await agent.get(`${PAGE}?loginToRp=${encodeURIComponent(ALLOWED.entityId)}`);
    assert.equal(res.status, 200, 'no prompt: the SSO session answers');
    const form = readPostForm(res.text);
    assert.equal(form.action, ALLOWED.acs);
    assert.equal(form.fields.RelayState, undefined, 'no RelayState asked, none invented');
    const { profile } = await nodeSaml().validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.equal(profile?.upn, DEMO_USER);
  });

  test('a RelayState longer than saml.maxRelayStateLength is refused before anything is sent', async () => {
    const agent = request.agent(server.url);
    await signIn(agent, '/signin');
    const res = await agent.get(`${PAGE}?loginToRp=${encodeURIComponent(ALLOWED.entityId)}&RelayState=${'r'.repeat(2000)}`);
    assert.equal(res.status, 400);
    assertNothingPosted(res);
  });
});
