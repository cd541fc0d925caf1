/**
 * The federation metadata endpoint as a relying party consumes it over HTTP: media type, caching
 * (ETag / 304), the AD FS-shaped entityID and endpoints, the signing certificate, and a signature that
 * an independent verifier (Debian's xmlsec1) accepts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DOMParser, type Element as DomElement } from '@xmldom/xmldom';
import request from 'supertest';
import { xmlsec1Verify } from '../helpers/saml.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PATH = '/FederationMetadata/2007-06/FederationMetadata.xml';
const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
// A public name different from the loopback address the test talks to: the document must describe
// the configured baseUrl, never the Host header of the request.
const BASE_URL = 'https://sts.contoso.test';

/** Raw bytes, whatever the content type: supertest only buffers types it knows. */
const getRaw = (agent: request.SuperTest<request.Test>, headers: Record<string, string> = {}) =>
  agent
    .get(PATH)
    .set(headers)
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });

describe('GET /FederationMetadata/2007-06/FederationMetadata.xml', () => {
  let server: TestServer;
  let http: request.SuperTest<request.Test>;

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: BASE_URL },
      relyingParties: [
        {
          entityId: 'https://sp.example.test',
          assertionConsumerServices: [{ url: 'https://sp.example.test/acs', isDefault: true }],
          attributes: [{ name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }],
        },
      ],
    });
    http = request(server.url) as unknown as request.SuperTest<request.Test>;
  });
  after(() => server?.stop());

  test('served as application/samlmetadata+xml with a strong ETag; If-None-Match answers 304 without a body', async () => {
    const res = await getRaw(http);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/samlmetadata\+xml(;|$)/);
    const etag = res.headers.etag;
    assert.ok(etag, 'ETag present');
    assert.match(etag, /^"[^"]+"$/, 'a strong ETag (no W/ prefix)');
    assert.ok((res.body as Buffer).length > 0);

    const cached = await getRaw(http, { 'If-None-Match': etag });
    assert.equal(cached.status, 304);
    assert.equal((cached.body as Buffer).length, 0);
    assert.equal(cached.headers.etag, etag);

    // A stale validator (what a consumer holds after a key rollover) gets the full document.
    const stale = await getRaw(http, { 'If-None-Match': '"not-the-current-one"' });
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, res.body);
  });

  test('the bytes are precomputed: identical across requests, so a farm and caches agree', async () => {
    const a = await getRaw(http);
    const b = await getRaw(http);
    assert.ok(Buffer.isBuffer(a.body) && Buffer.isBuffer(b.body));
    assert.ok((a.body as Buffer).equals(b.body as Buffer), 'same bytes twice');
    assert.equal(a.headers.etag, b.headers.etag);
    // What the cache holds is what went on the wire (not re-serialised per request).
    assert.ok(server.deps.metadata.get().body.equals(a.body as Buffer));
  });

  test('entityID is AD FS\'s http://<host>/adfs/services/trust; SSO and SLO at <baseUrl>/adfs/ls/ for Redirect and POST', async () => {
    const xml = (await getRaw(http)).body.toString('utf8');
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    const root = doc.documentElement!;
    assert.equal(root.namespaceURI, MD);
    assert.equal(root.localName, 'EntityDescriptor');
    assert.equal(root.getAttribute('entityID'), 'http://sts.contoso.test/adfs/services/trust');

    const idp = root.getElementsByTagNameNS(MD, 'IDPSSODescriptor');
    assert.equal(idp.length, 1);
    assert.match(idp[0]!.getAttribute('protocolSupportEnumeration') ?? '', /urn:oasis:names:tc:SAML:2\.0:protocol/);
    const endpoints = (name: string) =>
      Array.from(idp[0]!.getElementsByTagNameNS(MD, name))
        .map((e: DomElement) => `${e.getAttribute('Binding')} ${e.getAttribute('Location')}`)
        .sort();
    const expected = [`${POST} ${BASE_URL}/adfs/ls/`, `${REDIRECT} ${BASE_URL}/adfs/ls/`];
    assert.deepEqual(endpoints('SingleSignOnService'), expected);
    assert.deepEqual(endpoints('SingleLogoutService'), expected);
  });

  test('publishes the server\'s token-signing certificate, and xmlsec1 verifies the document signature with it', async () => {
    const xml = (await getRaw(http)).body.toString('utf8');
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    // Each role (WS-Fed application service, STS, SAML IdP) lists the signing keys; look at the SAML one.
    const idp = doc.getElementsByTagNameNS(MD, 'IDPSSODescriptor')[0]!;
    const keyDescriptors = Array.from(idp.getElementsByTagNameNS(MD, 'KeyDescriptor')).filter((k: DomElement) => k.getAttribute('use') === 'signing');
    assert.equal(keyDescriptors.length, 1, 'one signing key (no rollover in progress)');
    const published = keyDescriptors[0]!.getElementsByTagNameNS(DS, 'X509Certificate')[0]?.textContent?.replace(/\s+/g, '');
    assert.equal(published, server.deps.keys.primary.certificateBase64);

    // The enveloped signature covers the root: xmlsec1 resolves its Reference by the ID attribute.
    const root = doc.documentElement!;
    const signature = Array.from(root.childNodes).find((n) => n.nodeType === 1 && (n as DomElement).localName === 'Signature') as DomElement | undefined;
    assert.ok(signature, 'the root carries the Signature');
    assert.equal(signature.getElementsByTagNameNS(DS, 'Reference')[0]?.getAttribute('URI'), `#${root.getAttribute('ID')}`);

    const certPem = server.deps.keys.primary.certificate.toString();
    const verified = xmlsec1Verify(xml, certPem, 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor');
    assert.ok(verified.ok, verified.output);

    // And it fails for the right reason: one changed byte in the signed content breaks it.
    const tampered = xml.replace('http://sts.contoso.test/adfs/services/trust', 'http://evil.contoso.test/adfs/services/trust');
    assert.notEqual(tampered, xml);
    assert.equal(xmlsec1Verify(tampered, certPem, 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor').ok, false);
  });
});
