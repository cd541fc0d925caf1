import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { getVerifiedXml, parseDomFromString } from '@node-saml/node-saml/lib/xml.js';
import { SAML } from '@node-saml/node-saml';
import samlify from 'samlify';
import { ManualClock } from '../../src/clock.js';
import { fromPem } from '../../src/keys/signing-key.js';
import { buildIdpMetadata, type IdpMetadataInput } from '../../src/metadata/idp-metadata.js';
import { NS } from '../../src/xml/namespaces.js';
import { childElements, attribute, textOf } from '../../src/xml/query.js';
import { verifySignedRoot } from '../../src/xml/verify.js';
import { file, REDIRECT, POST, testKey } from '../relying-parties/fixtures.js';

const primaryPair = testKey('idp-primary');
const nextPair = testKey('idp-next');
const primary = fromPem(primaryPair.keyPem, primaryPair.certPem, 'pem');
const next = fromPem(nextPair.keyPem, nextPair.certPem, 'pem');

const ENTITY = 'http://sts.contoso.com/adfs/services/trust';
const input = (overrides: Partial<IdpMetadataInput> = {}): IdpMetadataInput => ({
  entityId: ENTITY,
  baseUrl: 'https://sts.contoso.com',
  keys: { primary },
  attributes: [
    { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', friendlyName: 'UPN' },
    { name: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups' },
    { name: 'mail', nameFormat: 'basic' },
  ],
  clock: new ManualClock(Date.UTC(2026, 0, 1)),
  ...overrides,
});

/** xmlsec1 is the independent verifier; without it this test must fail, not pass vacuously. */
function xmlsec1Verify(xml: string, certPath: string): { ok: boolean; output: string } {
  const result = spawnSync(
    'xmlsec1',
    ['--verify', '--pubkey-cert-pem', certPath, '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor', file(`idp-md-${Date.now()}.xml`, xml)],
    { encoding: 'utf8' },
  );
  if (result.error) throw new Error(`xmlsec1 could not be run (install the xmlsec1 package): ${result.error.message}`);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

describe('IdP metadata', () => {
  test('has the AD FS IDPSSODescriptor shape', () => {
    const xml = buildIdpMetadata(input());
    const root = verifySignedRoot(xml, { certificates: [primary.certificate] }).root;
    assert.equal(root.namespaceURI, NS.md);
    assert.equal(root.localName, 'EntityDescriptor');
    assert.equal(attribute(root, 'entityID'), ENTITY);
    assert.match(attribute(root, 'ID') ?? '', /^_[0-9a-f]{32}$/);
    assert.equal(attribute(root, 'validUntil'), undefined);

    const [idp, ...more] = childElements(root, NS.md, 'IDPSSODescriptor');
    assert.ok(idp);
    assert.equal(more.length, 0);
    assert.equal(attribute(idp, 'protocolSupportEnumeration'), 'urn:oasis:names:tc:SAML:2.0:protocol');
    assert.equal(attribute(idp, 'WantAuthnRequestsSigned'), 'false');

    const order: string[] = [];
    for (let n = idp.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) order.push((n as unknown as { localName: string }).localName);
    assert.deepEqual(order, [
      'KeyDescriptor',
      'SingleLogoutService',
      'SingleLogoutService',
      'NameIDFormat',
      'NameIDFormat',
      'NameIDFormat',
      'NameIDFormat',
      'SingleSignOnService',
      'SingleSignOnService',
      'Attribute',
      'Attribute',
      'Attribute',
    ]);
    for (const service of ['SingleSignOnService', 'SingleLogoutService']) {
      assert.deepEqual(
        childElements(idp, NS.md, service).map((el) => [attribute(el, 'Binding'), attribute(el, 'Location')]),
        [
          [REDIRECT, 'https://sts.contoso.com/adfs/ls/'],
          [POST, 'https://sts.contoso.com/adfs/ls/'],
        ],
      );
    }
    assert.deepEqual(childElements(idp, NS.md, 'NameIDFormat').map(textOf), [
      'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
      'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
    ]);
    assert.deepEqual(
      childElements(idp, NS.saml, 'Attribute').map((el) => [attribute(el, 'Name'), attribute(el, 'NameFormat'), attribute(el, 'FriendlyName')]),
      [
        ['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri', 'UPN'],
        ['http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri', undefined],
        ['mail', 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic', undefined],
      ],
    );
    // AD FS puts the Signature first, before the role descriptors.
    assert.match(xml, /^<md:EntityDescriptor [^>]*><ds:Signature/);
  });

  test('verifies with xmlsec1 against the signing certificate, and not against another', () => {
    const xml = buildIdpMetadata(input());
    const good = xmlsec1Verify(xml, primaryPair.certPath);
    assert.ok(good.ok, good.output);
    const wrong = xmlsec1Verify(xml, nextPair.certPath);
    assert.ok(!wrong.ok, 'xmlsec1 accepted a signature under the wrong certificate');
    const tampered = xmlsec1Verify(xml.replace('https://sts.contoso.com/adfs/ls/', 'https://evil.example.com/adfs/ls/'), primaryPair.certPath);
    assert.ok(!tampered.ok, 'xmlsec1 accepted a tampered document');
  });

  test('samlify reads the SSO endpoints and the signing certificate', () => {
    const idp = samlify.IdentityProvider({ metadata: buildIdpMetadata(input()) });
    assert.equal(idp.entityMeta.getEntityID(), ENTITY);
    assert.equal(idp.entityMeta.getSingleSignOnService('redirect'), 'https://sts.contoso.com/adfs/ls/');
    assert.equal(idp.entityMeta.getSingleSignOnService('post'), 'https://sts.contoso.com/adfs/ls/');
    assert.equal(idp.entityMeta.isWantAuthnRequestsSigned(), false);
    const published = [idp.entityMeta.getX509Certificate('signing')].flat();
    assert.deepEqual(published, [primary.certificateBase64]);
  });

  test('node-saml verifies the signature with the published certificate and sends requests to the SSO endpoint', async () => {
    const xml = buildIdpMetadata(input());
    const doc = await parseDomFromString(xml);
    const pem = new X509Certificate(Buffer.from(primary.certificateBase64, 'base64')).toString();
    assert.ok(getVerifiedXml(xml, doc.documentElement as unknown as Element, [pem]), 'node-saml did not verify the metadata signature');

    const sp = new SAML({ idpCert: pem, entryPoint: 'https://sts.contoso.com/adfs/ls/', issuer: 'https://sp.example.org', callbackUrl: 'https://sp.example.org/acs' });
    const url = new URL(await sp.getAuthorizeUrlAsync('', undefined, {}));
    assert.equal(`${url.origin}${url.pathname}`, 'https://sts.contoso.com/adfs/ls/');
    assert.ok(url.searchParams.get('SAMLRequest'));
  });

  test('publishes the next key after the primary, signed by the primary', () => {
    const xml = buildIdpMetadata(input({ keys: { primary, next } }));
    const root = verifySignedRoot(xml, { certificates: [primary.certificate] }).root;
    const idp = childElements(root, NS.md, 'IDPSSODescriptor')[0]!;
    const certs = childElements(idp, NS.md, 'KeyDescriptor').map((kd) => {
      assert.equal(attribute(kd, 'use'), 'signing');
      const data = childElements(childElements(kd, NS.ds, 'KeyInfo')[0]!, NS.ds, 'X509Data')[0]!;
      return textOf(childElements(data, NS.ds, 'X509Certificate')[0]!);
    });
    assert.deepEqual(certs, [primary.certificateBase64, next.certificateBase64]);
    assert.deepEqual([samlify.IdentityProvider({ metadata: xml }).entityMeta.getX509Certificate('signing')].flat(), certs);
    assert.ok(xmlsec1Verify(xml, primaryPair.certPath).ok);
    assert.throws(() => verifySignedRoot(xml, { certificates: [next.certificate] }), /configured certificate/);
  });

  test('escapes every interpolated value, refuses what XML cannot carry, and is deterministic', () => {
    const hostile = input({
      entityId: 'urn:x"><evil/>&',
      baseUrl: 'https://sts.contoso.com/a&b/',
      attributes: [{ name: '"/><saml:Attribute Name="injected', friendlyName: "<'&>" }],
    });
    const xml = buildIdpMetadata(hostile);
    const root = verifySignedRoot(xml, { certificates: [primary.certificate] }).root;
    assert.equal(attribute(root, 'entityID'), 'urn:x"><evil/>&');
    const idp = childElements(root, NS.md, 'IDPSSODescriptor')[0]!;
    assert.equal(attribute(childElements(idp, NS.md, 'SingleSignOnService')[0]!, 'Location'), 'https://sts.contoso.com/a&b/adfs/ls/');
    const attrs = childElements(idp, NS.saml, 'Attribute');
    assert.equal(attrs.length, 1);
    assert.equal(attribute(attrs[0]!, 'Name'), '"/><saml:Attribute Name="injected');
    assert.equal(attribute(attrs[0]!, 'FriendlyName'), "<'&>");
    assert.ok(xmlsec1Verify(xml, primaryPair.certPath).ok);

    assert.throws(() => buildIdpMetadata(input({ entityId: 'urn:x\u0000' })), /XML cannot carry/);
    // Same inputs, same bytes: every node of a farm serves one ETag.
    assert.equal(buildIdpMetadata(input()), buildIdpMetadata(input({ clock: new ManualClock(0) })));
  });

  test('validForHours adds validUntil from the clock', () => {
    const xml = buildIdpMetadata(input({ validForHours: 24 }));
    const root = verifySignedRoot(xml, { certificates: [primary.certificate] }).root;
    assert.equal(attribute(root, 'validUntil'), '2026-01-02T00:00:00.000Z');
  });
});
