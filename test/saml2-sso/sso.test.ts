/**
 * SP-initiated SAML 2.0 sign-on, proven by an independent service provider (@node-saml/node-saml)
 * and Debian's xmlsec1, plus a negative test for every refusal the IdP makes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { claimValues } from '../../src/claims/values.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { craftAuthnRequest, decodeSamlResponse, makeKeyPair, readPostForm, redirectQuery, xmlsec1Verify, type KeyPair } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const SIGNED_SP = 'https://signed-sp.example.test/shibboleth';
const SIGNED_ACS = 'https://signed-sp.example.test/Shibboleth.sso/SAML2/POST';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const ENCRYPTED_SP = 'https://encrypted-sp.example.test/saml';
const ENCRYPTED_ACS = 'https://encrypted-sp.example.test/acs';

/** Follows OpenFed from a SAML request through the sign-in form to the POST-binding page. */
async function signOnThrough(agent: request.Agent, path: string) {
  const res = await agent.get(path);
  return res.status === 303 && res.headers.location?.startsWith('/signin') ? signInAt(agent, res.headers.location) : res;
}

/** Fills the sign-in form OpenFed sent the browser to, and follows it back to the protocol. */
async function signInAt(agent: request.Agent, signInPath: string) {
  const form = await agent.get(signInPath).expect(200);
  const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
  assert.equal(posted.status, 303, posted.text.slice(0, 300));
  return agent.get(posted.headers.location!);
}

describe('SAML 2.0 SP-initiated sign-on', () => {
  let server: TestServer;
  let sp: KeyPair;
  let idpCertPem: string;

  before(async () => {
    sp = makeKeyPair('signed-sp.example.test');
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        {
          entityId: SP,
          assertionConsumerServices: [{ url: ACS, binding: 'post', index: 0, isDefault: true }],
          nameId: { format: 'persistent' },
          attributes: [
            { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' },
            { name: 'mail', source: 'mail', nameFormat: 'basic' },
            { name: 'http://schemas.xmlsoap.org/claims/Group', source: 'groups' },
            { name: 'displayName', source: 'displayName', friendlyName: 'Display name' },
          ],
        },
        {
          entityId: SIGNED_SP,
          assertionConsumerServices: [{ url: SIGNED_ACS, binding: 'post', index: 1 }],
          signingCertificates: [sp.certPem],
          requireSignedRequests: true,
          signResponse: true,
          nameId: { format: 'emailAddress' },
        },
        {
          entityId: ENCRYPTED_SP,
          assertionConsumerServices: [{ url: ENCRYPTED_ACS }],
          encryptionCertificate: sp.certPem,
          attributes: [{ name: 'upn', source: 'upn' }],
        },
      ],
    });
    idpCertPem = server.deps.keys.primary.certificate.toString();
  });
  after(() => server?.stop());

  const ssoPath = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };
  const nodeSaml = (overrides: Partial<ConstructorParameters<typeof SAML>[0]> = {}) =>
    new SAML({
      issuer: SP,
      callbackUrl: ACS,
      entryPoint: 'http://127.0.0.1/adfs/ls/',
      idpCert: idpCertPem,
      idpIssuer: 'http://127.0.0.1/adfs/services/trust',
      audience: SP,
      identifierFormat: PERSISTENT,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.always,
      ...overrides,
    });

  /** node-saml as the SP that must sign its requests (and wants the response signed). */
  const signedSpSaml = (overrides: Partial<ConstructorParameters<typeof SAML>[0]> = {}) =>
    nodeSaml({
      issuer: SIGNED_SP,
      callbackUrl: SIGNED_ACS,
      audience: SIGNED_SP,
      privateKey: sp.keyPem,
      signatureAlgorithm: 'sha256',
      identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      wantAuthnResponseSigned: true,
      ...overrides,
    });

  test('node-saml signs a user in: signed assertion, persistent ImmutableID, attributes, InResponseTo, RelayState', async () => {
    const saml = nodeSaml();
    const url = await saml.getAuthorizeUrlAsync('state & <more> "quotes" ü', undefined, {});
    const agent = request.agent(server.url);
    const page = await signOnThrough(agent, ssoPath(url));
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy'] ?? '', /form-action https:\/\/sp\.example\.test/);
    const form = readPostForm(page.text);
    assert.equal(form.action, ACS);
    assert.equal(form.fields.RelayState, 'state & <more> "quotes" ü', 'RelayState comes back byte for byte');

    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.ok(profile);
    const principal = (await server.deps.directory.findPrincipal(DEMO_USER))!;
    assert.equal(profile.nameID, claimValues(principal, 'immutableId')[0]);
    assert.equal(profile.nameIDFormat, PERSISTENT);
    assert.equal(profile.issuer, 'http://127.0.0.1/adfs/services/trust');
    assert.equal(profile['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'], DEMO_USER);
    assert.equal(profile.mail, DEMO_USER);
    assert.equal(profile['http://schemas.xmlsoap.org/claims/Group'], 'Demo-Users');

    const xml = decodeSamlResponse(form.fields.SAMLResponse!);
    assert.match(xml, /<AuthnContextClassRef>urn:oasis:names:tc:SAML:2\.0:ac:classes:PasswordProtectedTransport<\/AuthnContextClassRef>/);
    assert.match(xml, /SessionIndex="_[0-9a-f]{32}"/);
    assert.ok(xmlsec1Verify(xml, idpCertPem, 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion').ok, 'xmlsec1 verifies the assertion signature');
  });

  test('a second SP request in the same browser gets a token without a prompt (SSO)', async () => {
    const agent = request.agent(server.url);
    await signOnThrough(agent, ssoPath(await nodeSaml().getAuthorizeUrlAsync('', undefined, {})));
    const saml = nodeSaml();
    const res = await agent.get(ssoPath(await saml.getAuthorizeUrlAsync('', undefined, {})));
    assert.equal(res.status, 200, 'no redirect to the sign-in form');
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: readPostForm(res.text).fields.SAMLResponse! });
    assert.ok(profile?.nameID);
  });

  test('a signed Redirect request from an SP that must sign; response and assertion both signed', async () => {
    const saml = signedSpSaml();
    const url = await saml.getAuthorizeUrlAsync('', undefined, {});
    assert.match(url, /Signature=/);
    const page = await signOnThrough(request.agent(server.url), ssoPath(url));
    const form = readPostForm(page.text);
    assert.equal(form.action, SIGNED_ACS);
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.equal(profile?.nameID, DEMO_USER);
    const xml = decodeSamlResponse(form.fields.SAMLResponse!);
    assert.ok(xmlsec1Verify(xml, idpCertPem, 'urn:oasis:names:tc:SAML:2.0:protocol:Response').ok, 'xmlsec1 verifies the response signature');
  });

  test('an SP with an encryption certificate gets an EncryptedAssertion that only its key opens', async () => {
    const saml = nodeSaml({ issuer: ENCRYPTED_SP, callbackUrl: ENCRYPTED_ACS, audience: ENCRYPTED_SP, decryptionPvk: sp.keyPem });
    const page = await signOnThrough(request.agent(server.url), ssoPath(await saml.getAuthorizeUrlAsync('', undefined, {})));
    const form = readPostForm(page.text);
    const xml = decodeSamlResponse(form.fields.SAMLResponse!);
    assert.match(xml, /<EncryptedAssertion/);
    assert.ok(!xml.includes(DEMO_USER), 'no claim value in clear text');
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.equal(profile?.upn, DEMO_USER);
    const stranger = nodeSaml({ issuer: ENCRYPTED_SP, callbackUrl: ENCRYPTED_ACS, audience: ENCRYPTED_SP, decryptionPvk: makeKeyPair('x').keyPem });
    await assert.rejects(stranger.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! }));
  });

  test('a relying party configured to receive unsigned tokens is refused at start-up', async () => {
    await assert.rejects(
      startTestServer({ relyingParties: [{ entityId: 'https://x.example', assertionConsumerServices: [{ url: 'https://x.example/acs' }], signAssertion: false }] }),
      /relyingParties\[0\]: expected signAssertion or signResponse/,
    );
  });

  test('a signed POST-binding request is verified with the SP certificate', async () => {
    const saml = signedSpSaml({
      authnRequestBinding: 'HTTP-POST',
      skipRequestCompression: true, // the POST binding carries plain base64 (bindings §3.5.4)
      digestAlgorithm: 'sha256', // node-saml digests with SHA-1 by default, which OpenFed refuses unless configured
    });
    const html = await saml.getAuthorizeFormAsync('rs-post', undefined, {});
    const samlRequest = /name="SAMLRequest" value="([^"]+)"/.exec(html)![1]!;
    const agent = request.agent(server.url);
    const first = await agent.post('/adfs/ls/').type('form').send({ SAMLRequest: samlRequest, RelayState: 'rs-post' });
    assert.equal(first.status, 303, first.text.slice(0, 400));
    const page = await signInAt(agent, first.headers.location!);
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: readPostForm(page.text).fields.SAMLResponse! });
    assert.equal(profile?.nameID, DEMO_USER);
  });
});

describe('SAML 2.0 refusals', () => {
  let server: TestServer;
  let sp: KeyPair;
  let stranger: KeyPair;
  let signedIn: request.Agent;

  before(async () => {
    sp = makeKeyPair('signed-sp.example.test');
    stranger = makeKeyPair('attacker.example');
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        { entityId: SP, assertionConsumerServices: [{ url: ACS, isDefault: true }], nameId: { format: 'persistent' } },
        {
          entityId: SIGNED_SP,
          assertionConsumerServices: [{ url: SIGNED_ACS }],
          signingCertificates: [sp.certPem],
          requireSignedRequests: true,
        },
        { entityId: 'https://other.example.test', assertionConsumerServices: [{ url: 'https://other.example.test/acs' }] },
      ],
    });
    signedIn = request.agent(server.url);
    const form = await signedIn.get('/signin');
    await signedIn.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
  });
  after(() => server?.stop());

  const page = async (query: string, agent: request.Agent | request.SuperTest<request.Test> = request(server.url)) => agent.get(`/adfs/ls/?${query}`);

  /** Refusals before the SP and its ACS are trusted: an error page, never a redirect or a POST anywhere. */
  const pageCases: Array<[string, () => string, number, RegExp]> = [
    ['unknown issuer', () => redirectQuery(craftAuthnRequest({ issuer: 'https://evil.example' }).xml), 400, /not registered with this sign-in service/],
    ['ACS URL not registered for the SP', () => redirectQuery(craftAuthnRequest({ issuer: SP, acsUrl: 'https://evil.example/acs' }).xml), 400, /not registered for it/],
    ['ACS URL of another SP', () => redirectQuery(craftAuthnRequest({ issuer: SP, acsUrl: 'https://other.example.test/acs' }).xml), 400, /not registered for it/],
    ['unknown ACS index', () => redirectQuery(craftAuthnRequest({ issuer: SP, acsIndex: 7 }).xml), 400, /not registered for it/],
    ['unsigned request from an SP that must sign', () => redirectQuery(craftAuthnRequest({ issuer: SIGNED_SP }).xml), 400, /not signed as this application/],
    ['request older than the 5-minute window', () => redirectQuery(craftAuthnRequest({ issuer: SP, issueInstant: new Date(Date.now() - 6 * 60_000) }).xml), 400, /expired/],
    ['request from the future', () => redirectQuery(craftAuthnRequest({ issuer: SP, issueInstant: new Date(Date.now() + 10 * 60_000) }).xml), 400, /expired/],
    ['Destination of another IdP', () => redirectQuery(craftAuthnRequest({ issuer: SP, destination: 'https://other-idp.example/sso' }).xml), 400, /cannot read/],
    ['SAML version 1.1', () => redirectQuery(craftAuthnRequest({ issuer: SP, version: '1.1' }).xml), 400, /cannot read/],
    ['not base64', () => 'SAMLRequest=%%%', 400, /Bad request|cannot read/],
    ['not deflated', () => `SAMLRequest=${encodeURIComponent(Buffer.from('<x/>').toString('base64'))}`, 400, /cannot read/],
    ['RelayState too long', () => redirectQuery(craftAuthnRequest({ issuer: SP }).xml, 'r'.repeat(2000)), 400, /cannot read/],
  ];
  for (const [what, query, status, message] of pageCases) {
    test(`refused with an error page: ${what}`, async () => {
      const res = await page(query(), signedIn);
      assert.equal(res.status, status, res.text.slice(0, 300));
      assert.match(res.text, message);
      assert.match(res.text, /id="reference">[0-9a-f-]{36}</);
      assert.doesNotMatch(res.text, /SAMLResponse|id="post-binding"/);
      assert.equal(res.headers.location, undefined);
    });
  }

  test('a replayed request is refused the second time', async () => {
    const query = redirectQuery(craftAuthnRequest({ issuer: SP }).xml);
    assert.equal((await page(query, signedIn)).status, 200);
    const again = await page(query, signedIn);
    assert.equal(again.status, 400);
    assert.match(again.text, /already used/);
  });

  test('a Redirect signature by a key not registered for the SP, or tampered, is refused', async () => {
    for (const key of [stranger.keyPem, sp.keyPem]) {
      const saml = new SAML({ issuer: SIGNED_SP, callbackUrl: SIGNED_ACS, entryPoint: 'http://127.0.0.1/adfs/ls/', idpCert: 'x', privateKey: key, signatureAlgorithm: 'sha256' });
      let url = await saml.getAuthorizeUrlAsync('', undefined, {});
      if (key === sp.keyPem) url = url.replace(/Signature=[^&]+/, (m) => m.slice(0, -6) + 'AAAAAA');
      const res = await page(new URL(url).search.slice(1), signedIn);
      assert.equal(res.status, 400);
      assert.match(res.text, /not signed as this application/);
    }
  });

  const statusOf = (html: string) => {
    const xml = decodeSamlResponse(readPostForm(html).fields.SAMLResponse!);
    return [...xml.matchAll(/StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:([A-Za-z]+)"/g)].map((m) => m[1]).join('/');
  };

  /** Refusals once the SP and ACS are trusted: a SAML error Response POSTed to the ACS. */
  const responseCases: Array<[string, () => string, boolean, string]> = [
    ['unsupported NameID policy', () => redirectQuery(craftAuthnRequest({ issuer: SP, nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' }).xml), true, 'Requester/InvalidNameIDPolicy'],
    ['IsPassive without a session', () => redirectQuery(craftAuthnRequest({ issuer: SP, isPassive: true }).xml), false, 'Responder/NoPassive'],
    ['an authentication context we cannot meet', () => redirectQuery(craftAuthnRequest({ issuer: SP, authnContext: { comparison: 'exact', refs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard'] } }).xml), true, 'Responder/NoAuthnContext'],
    ['a response binding other than POST', () => redirectQuery(craftAuthnRequest({ issuer: SP, protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' }).xml), true, 'Requester/UnsupportedBinding'],
  ];
  for (const [what, query, withSession, status] of responseCases) {
    test(`answered with a SAML status to the ACS: ${what}`, async () => {
      const res = await page(query(), withSession ? signedIn : request(server.url));
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal(readPostForm(res.text).action, ACS);
      assert.equal(statusOf(res.text), status);
      assert.doesNotMatch(decodeSamlResponse(readPostForm(res.text).fields.SAMLResponse!), /<Assertion/);
    });
  }

  test('IsPassive with a session answers at once; ForceAuthn with a session asks for the password again', async () => {
    const passive = await page(redirectQuery(craftAuthnRequest({ issuer: SP, isPassive: true }).xml), signedIn);
    assert.equal(statusOf(passive.text), 'Success');
    const force = await page(redirectQuery(craftAuthnRequest({ issuer: SP, forceAuthn: true }).xml), signedIn);
    assert.equal(force.status, 303);
    assert.match(force.headers.location ?? '', /^\/signin\?pending=/);
    // Jumping straight to the resume URL without signing in again does not bypass ForceAuthn.
    const signin = await signedIn.get(force.headers.location!).expect(200);
    assert.match(signin.text, /name="password"/);
  });

  test('a parked request resumes only in the browser that started it', async () => {
    const victim = request.agent(server.url);
    const parked = await victim.get(`/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: SP }).xml)}`).expect(303);
    const pending = /pending=([^&]+)/.exec(parked.headers.location!)![1]!;
    // Another browser signs in carrying the victim's pending id: it is sent back to the resume URL…
    const other = request.agent(server.url);
    const form = await other.get('/signin');
    const posted = await other.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending }).expect(303);
    assert.match(posted.headers.location!, /^\/adfs\/ls\/\?resume=/);
    // …but without the victim's flow cookie the parked request is refused, and no token is issued.
    const resumed = await other.get(posted.headers.location!);
    assert.equal(resumed.status, 400);
    assert.doesNotMatch(resumed.text, /SAMLResponse/);
  });

  test('the SP default ACS is used when the request names none (as Microsoft Entra sends)', async () => {
    const res = await page(redirectQuery(craftAuthnRequest({ issuer: SP }).xml), signedIn);
    assert.equal(readPostForm(res.text).action, ACS);
  });
});
