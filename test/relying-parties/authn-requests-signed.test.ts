/**
 * AuthnRequestsSigned="true" in SP metadata (SAML metadata §2.4.4), against a live OpenFed: the SP
 * must then sign, unless the configuration says requireSignedRequests: false. Requests are made as an
 * SP makes them (node-saml signs the Redirect binding); refusals are read from the JSON error body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML } from '@node-saml/node-saml';
import request from 'supertest';
import { craftAuthnRequest, decodeSamlResponse, redirectQuery } from '../helpers/saml.js';
import { signOnThroughForm, startTestServer, type TestServer } from '../helpers/server.js';
import { capturingLogger, file, simpleSpMetadata, testKey, type TestKey } from './fixtures.js';

/** Signed requests name the IdP as Destination: node-saml's entryPoint below. */
const IDP = { baseUrl: 'http://127.0.0.1' };
const SIGNS = 'https://signs.example.test/sp';
const OVERRIDDEN = 'https://overridden.example.test/sp';
const SILENT = 'https://silent.example.test/sp';
const NO_KEY = 'https://no-key.example.test/sp';
const WRITTEN = ' AuthnRequestsSigned="true"';

/** The fixture always declares AuthnRequestsSigned="true"; `signs: false` takes it out. */
function metadata(entityId: string, signs: boolean, signing?: TestKey): string {
  const xml = simpleSpMetadata({ entityId, id: '_md', ...(signing ? { signing } : {}) });
  assert.ok(xml.includes(WRITTEN));
  return file(`ars-${new URL(entityId).hostname}.xml`, signs ? xml : xml.replace(WRITTEN, ''));
}

const acsOf = (entityId: string) => `${entityId}/acs`;

async function signedQuery(issuer: string, key: TestKey): Promise<string> {
  // identifierFormat null: no NameIDPolicy, so the SP's configured NameID format answers.
  const saml = new SAML({ issuer, callbackUrl: acsOf(issuer), entryPoint: 'http://127.0.0.1/adfs/ls/', idpCert: 'x', privateKey: key.keyPem, signatureAlgorithm: 'sha256', identifierFormat: null });
  return new URL(await saml.getAuthorizeUrlAsync('', undefined, {})).search.slice(1);
}
const unsignedQuery = (issuer: string) => redirectQuery(craftAuthnRequest({ issuer, acsUrl: acsOf(issuer) }).xml);

describe('AuthnRequestsSigned in SP metadata', () => {
  let server: TestServer;
  const spKey = testKey('ars-sp');
  const stranger = testKey('ars-stranger');
  const log = capturingLogger();

  before(async () => {
    server = await startTestServer(
      {
        server: IDP,
        relyingParties: [
          { entityId: SIGNS, metadata: { file: metadata(SIGNS, true, spKey) } },
          { entityId: OVERRIDDEN, metadata: { file: metadata(OVERRIDDEN, true, spKey) }, requireSignedRequests: false },
          { entityId: SILENT, metadata: { file: metadata(SILENT, false, spKey) } },
          { entityId: NO_KEY, metadata: { file: metadata(NO_KEY, true) } },
        ],
      },
      { logger: log.logger },
    );
  });
  after(() => server?.stop());

  /** 303 to the sign-in page when the request is accepted; the JSON error body when refused. */
  async function send(query: string): Promise<{ status: number; error?: string }> {
    const res = await request(server.url).get(`/adfs/ls/?${query}`).set('Accept', 'application/json');
    if (res.status === 303) {
      assert.match(res.headers.location ?? '', /^\/signin/);
      return { status: 303 };
    }
    return { status: res.status, error: (res.body as { error?: string }).error };
  }

  test('the SP that declares it: an unsigned AuthnRequest is refused, one signed with its metadata key is accepted and answered', async () => {
    assert.deepEqual(await send(unsignedQuery(SIGNS)), { status: 400, error: 'saml_signature_invalid' });
    assert.deepEqual(await send(await signedQuery(SIGNS, stranger)), { status: 400, error: 'saml_signature_invalid' }, 'signed, but not by the SP');

    const token = await signOnThroughForm(server.url, `/adfs/ls/?${await signedQuery(SIGNS, spKey)}`);
    assert.equal(token.action, acsOf(SIGNS));
    assert.match(decodeSamlResponse(token.fields.SAMLResponse!), /StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"/);
  });

  test('requireSignedRequests: false in the configuration overrides the metadata: the unsigned request is accepted', async () => {
    assert.deepEqual(await send(unsignedQuery(OVERRIDDEN)), { status: 303 });
  });

  test('the same metadata without the attribute: unsigned requests are accepted (it is the attribute that decides)', async () => {
    assert.deepEqual(await send(unsignedQuery(SILENT)), { status: 303 });
  });

  test('declared, but no signing certificate anywhere: fails closed — every AuthnRequest refused — and says so in the log', async () => {
    assert.deepEqual(await send(unsignedQuery(NO_KEY)), { status: 400, error: 'saml_signature_invalid' });
    assert.deepEqual(await send(await signedQuery(NO_KEY, spKey)), { status: 400, error: 'saml_signature_invalid' });
    const logged = log.lines.filter((l) => l.level === 50 && l.entityId === NO_KEY);
    assert.equal(logged.length, 1, JSON.stringify(log.lines.filter((l) => l.entityId === NO_KEY)));
    assert.match(String(logged[0]?.msg), /AuthnRequestsSigned="true".*no signing certificate is known: every AuthnRequest from it is refused/);
    assert.equal(log.lines.filter((l) => l.level === 50 && [SIGNS, OVERRIDDEN, SILENT].includes(String(l.entityId))).length, 0, 'only the SP without a key');
  });
});
