/**
 * A SAML relying party that knows OpenFed only through its published metadata: it takes the
 * signing certificates from the KeyDescriptors (as Entra ID, Shibboleth and AD FS partners do when
 * they refresh metadata), and validates tokens with @node-saml/node-saml against exactly those.
 */
import assert from 'node:assert/strict';
import { DOMParser } from '@xmldom/xmldom';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { readPostForm } from '../helpers/saml.js';
import { csrfFrom } from '../helpers/server.js';

export const RP = {
  entityId: 'https://rp.example.test/saml',
  acs: 'https://rp.example.test/saml/acs',
};
const ISSUER = 'http://127.0.0.1/adfs/services/trust';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

/** The configuration pieces a test server needs for this RP (IdP-initiated sign-on, no request to forge). */
export const rpServerConfig = {
  server: { baseUrl: 'http://127.0.0.1' },
  saml: { idpInitiatedSignOnPage: true },
  relyingParties: [{ entityId: RP.entityId, allowIdpInitiated: true, assertionConsumerServices: [{ url: RP.acs, isDefault: true }] }],
};

export const toPem = (base64: string) => `-----BEGIN CERTIFICATE-----\n${base64.replace(/.{64}/g, '$&\n').trimEnd()}\n-----END CERTIFICATE-----\n`;

/** Every signing certificate the metadata publishes (base64 DER), in document order, once each. */
export async function publishedCertificates(serverUrl: string): Promise<string[]> {
  const res = await request(serverUrl).get('/FederationMetadata/2007-06/FederationMetadata.xml').expect(200);
  const doc = new DOMParser().parseFromString(res.text, 'text/xml');
  const found: string[] = [];
  const descriptors = doc.getElementsByTagNameNS(MD, 'KeyDescriptor');
  for (let i = 0; i < descriptors.length; i++) {
    const certs = descriptors.item(i)!.getElementsByTagNameNS(DS, 'X509Certificate');
    for (let j = 0; j < certs.length; j++) {
      const value = (certs.item(j)!.textContent ?? '').replace(/\s+/g, '');
      if (!found.includes(value)) found.push(value);
    }
  }
  return found;
}

/** Signs the demo user in at this node and returns the SAMLResponse it posts to the RP (IdP-initiated). */
export async function issueToken(serverUrl: string): Promise<string> {
  const agent = request.agent(serverUrl);
  const form = await agent.get('/signin').expect(200);
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD });
  assert.equal(posted.status, 303, posted.text.slice(0, 300));
  const page = await agent.get(`/adfs/ls/idpinitiatedsignon?loginToRp=${encodeURIComponent(RP.entityId)}`);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const response = readPostForm(page.text).fields.SAMLResponse;
  assert.ok(response, 'a SAMLResponse is posted to the RP');
  return response;
}

/**
 * Whether the RP accepts the token trusting only `certificates` (base64 DER). Time conditions are
 * not checked: the server runs on a test clock far from the real one, and the point here is which
 * key signed.
 */
export async function rpAccepts(certificates: string[], samlResponse: string): Promise<boolean> {
  const saml = new SAML({
    issuer: RP.entityId,
    callbackUrl: RP.acs,
    idpCert: certificates.map(toPem),
    idpIssuer: ISSUER,
    audience: RP.entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: false,
    validateInResponseTo: ValidateInResponseTo.never,
    acceptedClockSkewMs: -1,
  });
  try {
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
    return profile !== null;
  } catch (err) {
    if (/signature/i.test((err as Error).message)) return false;
    throw err;
  }
}
