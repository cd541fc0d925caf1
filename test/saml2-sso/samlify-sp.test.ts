/**
 * A second, independent service provider: samlify. It learns OpenFed only from the metadata OpenFed
 * serves (endpoints, entityID, signing certificate), sends its own Redirect-binding AuthnRequests —
 * unsigned and signed — and must accept the Response OpenFed POSTs back. node-saml (sso.test.ts)
 * and samlify parse and verify differently, so passing both says more than passing one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as samlify from 'samlify';
import request from 'supertest';
import { claimValues } from '../../src/claims/values.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { makeKeyPair, readPostForm, type KeyPair } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const UPN_CLAIM = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const GROUP_CLAIM = 'http://schemas.xmlsoap.org/claims/Group';

const SP = { entityId: 'https://samlify.example.test/sp', acs: 'https://samlify.example.test/sp/acs' };
const SIGNED_SP = { entityId: 'https://samlify-signed.example.test/sp', acs: 'https://samlify-signed.example.test/sp/acs' };

// TEST-ONLY. samlify refuses to parse anything until a schema validator is registered. Production
// SPs must plug in a real XSD validator (@authenio/samlify-xsd-schema-validator and friends); here
// the point is to check OpenFed's Responses with samlify's signature, issuer, audience and time
// checks, so a validator that accepts every document is enough — and it is never used outside tests.
samlify.setSchemaValidator({ validate: async () => 'skipped: test-only permissive validator' });

/** Follows OpenFed from a request URL through the sign-in form to the HTTP-POST binding page. */
async function signOnThrough(agent: request.Agent, path: string) {
  const res = await agent.get(path);
  if (!(res.status === 303 && res.headers.location?.startsWith('/signin'))) return res;
  const form = await agent.get(res.headers.location).expect(200);
  const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD, pending });
  assert.equal(posted.status, 303, posted.text.slice(0, 300));
  return agent.get(posted.headers.location!);
}

/** The request URL samlify built, as a path on the live server (metadata names the public baseUrl). */
function pathOf(url: string): string {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
}

describe('samlify as a second independent SP', () => {
  let server: TestServer;
  let spKeys: KeyPair;
  let idp: samlify.IdentityProviderInstance;
  let metadataXml: string;

  before(async () => {
    spKeys = makeKeyPair('samlify-signed.example.test');
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        {
          entityId: SP.entityId,
          assertionConsumerServices: [{ url: SP.acs, isDefault: true }],
          nameId: { format: 'persistent' },
          attributes: [
            { name: UPN_CLAIM, source: 'upn' },
            { name: 'mail', source: 'mail', nameFormat: 'basic' },
            { name: GROUP_CLAIM, source: 'groups' },
          ],
        },
        {
          entityId: SIGNED_SP.entityId,
          assertionConsumerServices: [{ url: SIGNED_SP.acs, isDefault: true }],
          signingCertificates: [spKeys.certPem],
          requireSignedRequests: true,
          signResponse: true,
          nameId: { format: 'emailAddress' },
        },
      ],
    });
    // The IdP as samlify sees it: nothing but the metadata document OpenFed serves.
    const metadata = await request(server.url)
      .get('/FederationMetadata/2007-06/FederationMetadata.xml')
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => done(null, text));
      })
      .expect(200);
    metadataXml = metadata.body as string;
    idp = samlify.IdentityProvider({ metadata: metadataXml });
  });
  after(() => server?.stop());

  test('the IdP built from served metadata has OpenFed\'s entityID and SSO endpoint', () => {
    assert.equal(idp.entityMeta.getEntityID(), 'http://127.0.0.1/adfs/services/trust');
    assert.equal(idp.entityMeta.getSingleSignOnService('redirect'), 'http://127.0.0.1/adfs/ls/');
  });

  test('an unsigned Redirect AuthnRequest; samlify verifies the signed assertion and reads NameID and attributes', async () => {
    const sp = samlify.ServiceProvider({
      entityID: SP.entityId,
      assertionConsumerService: [{ Binding: POST, Location: SP.acs }],
      nameIDFormat: [PERSISTENT],
      wantAssertionsSigned: true, // OpenFed signs the assertion by default: samlify must find and verify it
    });
    const { context } = sp.createLoginRequest(idp, 'redirect', { relayState: 'samlify-state/1' });
    assert.doesNotMatch(context, /Signature=/);

    const page = await signOnThrough(request.agent(server.url), pathOf(context));
    assert.equal(page.status, 200, page.text.slice(0, 300));
    const form = readPostForm(page.text);
    assert.equal(form.action, SP.acs);
    assert.equal(form.fields.RelayState, 'samlify-state/1');

    const { extract } = await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: form.fields.SAMLResponse } });
    const principal = (await server.deps.directory.findPrincipal(DEMO_USER))!;
    assert.equal(extract.nameID, claimValues(principal, 'immutableId')[0]);
    assert.equal(extract.issuer, 'http://127.0.0.1/adfs/services/trust');
    assert.equal(extract.audience, SP.entityId);
    const attributes = extract.attributes as Record<string, string | string[]>;
    assert.equal(attributes[UPN_CLAIM], DEMO_USER);
    assert.equal(attributes.mail, DEMO_USER);
    assert.deepEqual([attributes[GROUP_CLAIM]].flat(), claimValues(principal, 'groups'));
  });

  test('a signed Redirect AuthnRequest from an SP that must sign; samlify checks the signed Response too', async () => {
    const sp = samlify.ServiceProvider({
      entityID: SIGNED_SP.entityId,
      assertionConsumerService: [{ Binding: POST, Location: SIGNED_SP.acs }],
      nameIDFormat: [EMAIL],
      authnRequestsSigned: true,
      privateKey: spKeys.keyPem,
      signingCert: spKeys.certPem,
      wantAssertionsSigned: true,
      wantMessageSigned: true,
    });
    // samlify signs requests only when the IdP metadata says WantAuthnRequestsSigned="true". OpenFed,
    // like AD FS, publishes "false" because signing is required per relying party, not globally; the
    // administrator of such an SP flips the flag in their local copy, as done here (samlify does not
    // check the metadata signature, and nothing else in the document changes).
    assert.match(metadataXml, /WantAuthnRequestsSigned="false"/);
    const wantsSigned = samlify.IdentityProvider({ metadata: metadataXml.replace('WantAuthnRequestsSigned="false"', 'WantAuthnRequestsSigned="true"') });
    const { context } = sp.createLoginRequest(wantsSigned, 'redirect', { relayState: 'signed' });
    assert.match(context, /Signature=/);
    assert.match(context, /SigAlg=http%3A%2F%2Fwww\.w3\.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256/);

    const page = await signOnThrough(request.agent(server.url), pathOf(context));
    assert.equal(page.status, 200, page.text.slice(0, 300));
    const form = readPostForm(page.text);
    assert.equal(form.action, SIGNED_SP.acs);
    assert.equal(form.fields.RelayState, 'signed');
    const { extract } = await sp.parseLoginResponse(wantsSigned, 'post', { body: { SAMLResponse: form.fields.SAMLResponse } });
    assert.equal(extract.nameID, DEMO_USER);
    assert.equal(extract.audience, SIGNED_SP.entityId);
  });

  test('samlify refuses the Response when it is not for it (the check is real, not a pass-through)', async () => {
    const sp = samlify.ServiceProvider({
      entityID: SP.entityId,
      assertionConsumerService: [{ Binding: POST, Location: SP.acs }],
      nameIDFormat: [PERSISTENT],
      wantAssertionsSigned: true,
    });
    const page = await signOnThrough(request.agent(server.url), pathOf(sp.createLoginRequest(idp, 'redirect').context));
    const samlResponse = readPostForm(page.text).fields.SAMLResponse!;

    // 1. An IdP with OpenFed's metadata but someone else's certificate: the signature must not verify.
    const stranger = makeKeyPair('not-openfed.example');
    const impostor = samlify.IdentityProvider({
      entityID: 'http://127.0.0.1/adfs/services/trust',
      signingCert: stranger.certPem,
      singleSignOnService: [{ Binding: POST, Location: 'http://127.0.0.1/adfs/ls/' }],
      singleLogoutService: [{ Binding: POST, Location: 'http://127.0.0.1/adfs/ls/' }],
    });
    await assert.rejects(sp.parseLoginResponse(impostor, 'post', { body: { SAMLResponse: samlResponse } }), /CERTIFICATE|SIGNATURE/i); // KeyInfo cert ≠ trusted cert, or bad signature

    // 2. One changed byte in the signed assertion (the NameID) breaks it.
    const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
    const tampered = xml.replace(/(<NameID[^>]*>)([^<]+)</, (_m, open: string, value: string) => `${open}x${value.slice(1)}<`);
    assert.notEqual(tampered, xml);
    await assert.rejects(sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: Buffer.from(tampered).toString('base64') } }), /SIGNATURE/i);
    // ...while the untouched Response still passes: the refusals above are about the changes alone.
    await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: samlResponse } });
  });
});
