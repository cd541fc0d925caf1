/**
 * Microsoft 365 domains federated with SAML 2.0 (preferredAuthenticationProtocol = saml): Entra POSTs
 * an AuthnRequest with no ACS and wants a signed assertion at login.srf — persistent NameID =
 * ImmutableID, IDPEmail = UPN, the Issuer of the user's domain. node-saml plays Entra ID.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/directory/demo.js';
import { guidToBytes } from '../../src/directory/guid.js';
import { craftAuthnRequest, readPostForm } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const REALM = 'urn:federation:MicrosoftOnline';
const LOGIN_SRF = 'https://login.microsoftonline.test/login.srf';
const PASSWORD = 'Saml-P-Passw0rd!';

describe('Microsoft 365 over SAML 2.0 (several domains)', () => {
  let server: TestServer;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openfed-m365-saml-'));
    const hash = await hashPassword(PASSWORD);
    const user = (upn: string, objectGuid: string, consistencyGuid?: string) => ({
      userPrincipalName: upn,
      sAMAccountName: upn.split('@')[0],
      passwordHash: hash,
      objectGuid,
      ...(consistencyGuid ? { consistencyGuid } : {}),
    });
    writeFileSync(
      join(dir, 'users.yaml'),
      stringify({
        users: [
          user('ann@contoso.test', '71c80224-5371-4d8e-a9aa-9cb365699f12', '0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60'),
          user('fay@fabrikam.test', '21111111-2222-4333-8444-555555555555'),
          user('olly@unfederated.test', '31111111-2222-4333-8444-555555555555'),
        ],
      }),
    );
    server = await startTestServer({
      server: { baseUrl: 'http://sts.contoso.test' },
      directory: { demo: { usersFile: join(dir, 'users.yaml') } },
      microsoft365: { enabled: true, domains: ['contoso.test', 'fabrikam.test'], supportMultipleDomain: true, replyUrl: LOGIN_SRF },
    });
  });
  after(() => server?.stop());

  /** Entra's AuthnRequest: POST binding, no AssertionConsumerServiceURL, persistent NameIDPolicy. */
  async function signOnAsEntra(username: string) {
    const { xml } = craftAuthnRequest({ issuer: REALM, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' });
    const agent = request.agent(server.url);
    const first = await agent.post('/adfs/ls/').type('form').send({ SAMLRequest: Buffer.from(xml).toString('base64'), RelayState: 'entra-state' });
    assert.equal(first.status, 303, first.text.slice(0, 300));
    const form = await agent.get(first.headers.location!).expect(200);
    const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
    const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username, password: PASSWORD, pending });
    return agent.get(posted.headers.location!);
  }

  const entra = (idpIssuer: string) =>
    new SAML({
      issuer: REALM,
      callbackUrl: LOGIN_SRF,
      idpCert: server.deps.keys.primary.certificate.toString(),
      idpIssuer,
      audience: REALM,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
    });

  test('the response goes to login.srf with NameID = ImmutableID, IDPEmail = UPN, and the issuer of the user\'s domain', async () => {
    const page = await signOnAsEntra('ann@contoso.test');
    const form = readPostForm(page.text);
    assert.equal(form.action, LOGIN_SRF);
    assert.equal(form.fields.RelayState, 'entra-state');
    const { profile } = await entra('http://contoso.test/adfs/services/trust/').validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse! });
    assert.equal(profile?.nameID, 'nCpbCx5vWUqaDj8cLU5fYA==', 'ms-DS-ConsistencyGuid as the source anchor');
    assert.equal(profile?.nameIDFormat, 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    assert.equal(profile?.IDPEmail, 'ann@contoso.test');

    const fay = readPostForm((await signOnAsEntra('fay@fabrikam.test')).text);
    const { profile: fayProfile } = await entra('http://fabrikam.test/adfs/services/trust/').validatePostResponseAsync({ SAMLResponse: fay.fields.SAMLResponse! });
    assert.equal(fayProfile?.nameID, guidToBytes('21111111-2222-4333-8444-555555555555').toString('base64'), 'objectGUID without a ConsistencyGuid');
    assert.equal(fayProfile?.IDPEmail, 'fay@fabrikam.test');
    // node-saml checks idpIssuer on logout messages only, so read the Issuers of the (verified) response.
    const issuers = (b64: string) => [...Buffer.from(b64, 'base64').toString().matchAll(/<Issuer[^>]*>([^<]+)<\/Issuer>/g)].map((m) => m[1]);
    assert.deepEqual(issuers(form.fields.SAMLResponse!), ['http://contoso.test/adfs/services/trust/', 'http://contoso.test/adfs/services/trust/']);
    assert.deepEqual(issuers(fay.fields.SAMLResponse!), ['http://fabrikam.test/adfs/services/trust/', 'http://fabrikam.test/adfs/services/trust/']);
  });

  test('a user outside every federated domain gets a clear page, and Entra gets nothing', async () => {
    const page = await signOnAsEntra('olly@unfederated.test');
    assert.equal(page.status, 403);
    assert.match(page.text, /not federated with Microsoft 365/);
    assert.doesNotMatch(page.text, /SAMLResponse/);
  });
});
