import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import samlify from 'samlify';
import { parseSpMetadata, SpMetadataError } from '../../src/relying-parties/sp-metadata.js';
import { signElement } from '../../src/xml/sign.js';
import { POST, REDIRECT, shibbolethSpMetadata, simpleSpMetadata, testKey } from './fixtures.js';

const NOW = Date.UTC(2026, 0, 1);
const SP = 'https://sp.example.org';

const refused = (xml: string, pattern: RegExp, options: Partial<Parameters<typeof parseSpMetadata>[1]> = {}) =>
  assert.throws(
    () => parseSpMetadata(xml, { entityId: SP, now: NOW, ...options }),
    (e: unknown) => e instanceof SpMetadataError && pattern.test(e.message),
  );

describe('SP metadata', () => {
  test('reads samlify-generated metadata: ACS, SLO, signing and encryption certificates', () => {
    const signing = testKey('sp-signing');
    const encryption = testKey('sp-encryption');
    const sp = samlify.ServiceProvider({
      entityID: SP,
      signingCert: signing.certPem,
      encryptCert: encryption.certPem,
      assertionConsumerService: [
        { Binding: POST, Location: `${SP}/acs` },
        { Binding: REDIRECT, Location: `${SP}/acs-redirect` },
      ],
      singleLogoutService: [{ Binding: REDIRECT, Location: `${SP}/slo` }],
    });
    const md = parseSpMetadata(sp.getMetadata(), { entityId: SP, now: NOW });
    assert.equal(md.entityId, SP);
    assert.deepEqual(
      md.acs.map((a) => [a.url, a.binding]),
      [
        [`${SP}/acs`, 'post'],
        [`${SP}/acs-redirect`, 'redirect'],
      ],
    );
    assert.deepEqual(md.slo, [{ url: `${SP}/slo`, binding: 'redirect' }]);
    assert.deepEqual(md.signingCertificates.map((c) => c.fingerprint256), [signing.certificate.fingerprint256]);
    assert.deepEqual(md.encryptionCertificates.map((c) => c.fingerprint256), [encryption.certificate.fingerprint256]);
  });

  test('reads Shibboleth SP metadata: only POST/Redirect endpoints, a KeyDescriptor without use counts for both', () => {
    const current = testKey('shib-current');
    const next = testKey('shib-next');
    const entityId = 'https://wiki.example.edu/shibboleth';
    const md = parseSpMetadata(shibbolethSpMetadata('wiki.example.edu', current, next), { entityId, now: NOW });
    assert.deepEqual(md.acs, [
      { url: 'https://wiki.example.edu/Shibboleth.sso/SAML2/POST', binding: 'post', index: 1, isDefault: false },
      { url: 'https://wiki.example.edu/Shibboleth.sso/SAML2/POST-alt', binding: 'post', index: 7, isDefault: true },
    ]);
    assert.deepEqual(
      md.slo.map((s) => s.binding),
      ['redirect', 'post'],
    );
    assert.deepEqual(
      md.signingCertificates.map((c) => c.fingerprint256),
      [current.certificate.fingerprint256, next.certificate.fingerprint256],
    );
    assert.deepEqual(md.encryptionCertificates.map((c) => c.fingerprint256), [current.certificate.fingerprint256]);
  });

  test('finds the SP inside an EntitiesDescriptor, whose validUntil also counts', () => {
    const inner = simpleSpMetadata({ entityId: SP }).replace(/^<\?xml[^>]*>\n/, '');
    const other = simpleSpMetadata({ entityId: 'https://other.example.org', id: '_other' }).replace(/^<\?xml[^>]*>\n/, '');
    const group = (validUntil: string) =>
      `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="${validUntil}">${other}${inner}</md:EntitiesDescriptor>`;
    const md = parseSpMetadata(group('2026-02-01T00:00:00Z'), { entityId: SP, now: NOW });
    assert.equal(md.acs[0]?.url, `${SP}/acs`);
    assert.equal(md.validUntil?.toISOString(), '2026-02-01T00:00:00.000Z');
    refused(group('2025-12-31T23:59:59Z'), /expired/);
    refused(group('2026-02-01T00:00:00Z'), /no EntityDescriptor for the configured entityId/, { entityId: 'https://absent.example.org' });
  });

  test('refuses metadata for another entityID, expired metadata and an unreadable validUntil', () => {
    refused(simpleSpMetadata({ entityId: 'https://evil.example.org' }), /entityID "https:\/\/evil\.example\.org" is not the configured entityId/);
    refused(simpleSpMetadata({ entityId: SP, validUntil: '2025-12-31T00:00:00Z' }), /expired at 2025-12-31/);
    refused(simpleSpMetadata({ entityId: SP, validUntil: 'tomorrow' }), /not an xs:dateTime/);
    assert.ok(parseSpMetadata(simpleSpMetadata({ entityId: SP, validUntil: '2026-01-02T00:00:00+01:00' }), { entityId: SP, now: NOW }));
  });

  test('refuses endpoints that are not absolute http(s) URLs, repeated ACS indexes and bad certificates', () => {
    refused(simpleSpMetadata({ entityId: SP, acs: [{ url: 'javascript:alert(1)', index: 0 }] }), /Location is not http\(s\)/);
    refused(simpleSpMetadata({ entityId: SP, acs: [{ url: '/relative', index: 0 }] }), /Location is not a URL/);
    refused(simpleSpMetadata({ entityId: SP, acs: [{ url: 'https://u:p@sp.example.org/acs', index: 0 }] }), /credentials/);
    refused(
      simpleSpMetadata({ entityId: SP, acs: [{ url: `${SP}/a`, index: 1 }, { url: `${SP}/b`, index: 1 }] }),
      /repeats AssertionConsumerService index 1/,
    );
    refused(simpleSpMetadata({ entityId: SP, signing: testKey('sp-signing') }).replace(/<ds:X509Certificate>[^<]{10}/, '<ds:X509Certificate>!!!!'), /not base64/);
    refused(simpleSpMetadata({ entityId: SP }).replace('<md:SingleLogoutService', '<!DOCTYPE x><md:SingleLogoutService'), /not acceptable XML/);
    refused('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example.org"/>', /no SPSSODescriptor/);
    refused('<x:EntityDescriptor xmlns:x="urn:evil" entityID="https://sp.example.org"/>', /not md:EntityDescriptor/);
  });

  test('AuthnRequestsSigned (metadata §2.4.4): true or 1 is true; false, 0 or absent is false; anything else is refused', () => {
    // The fixture writes AuthnRequestsSigned="true"; the other spellings are derived from it.
    const xml = simpleSpMetadata({ entityId: SP });
    const written = ' AuthnRequestsSigned="true"';
    assert.ok(xml.includes(written));
    const withValue = (value: string | undefined) => xml.replace(written, value === undefined ? '' : ` AuthnRequestsSigned="${value}"`);
    const read = (value: string | undefined) => parseSpMetadata(withValue(value), { entityId: SP, now: NOW }).authnRequestsSigned;
    assert.equal(read('true'), true);
    assert.equal(read('1'), true);
    assert.equal(read(' true '), true, 'xs:boolean collapses whitespace');
    assert.equal(read('false'), false);
    assert.equal(read('0'), false);
    assert.equal(read(undefined), false);
    refused(withValue('yes'), /SPSSODescriptor AuthnRequestsSigned "yes" is not a boolean/);
    refused(withValue('TRUE'), /is not a boolean/);
    // Only the SAML 2.0 SPSSODescriptor's own attribute counts, not one on the EntityDescriptor.
    const onEntity = withValue(undefined).replace('<md:EntityDescriptor ', '<md:EntityDescriptor AuthnRequestsSigned="true" ');
    assert.equal(parseSpMetadata(onEntity, { entityId: SP, now: NOW }).authnRequestsSigned, false);
  });

  test('with a pinned signing certificate: signed by it is read; unsigned, tampered and other signers are refused', () => {
    const signer = testKey('md-signer');
    const attacker = testKey('md-attacker');
    const unsigned = simpleSpMetadata({ entityId: SP, id: '_md1' });
    const signed = signElement(unsigned, { key: signer, algorithm: 'rsa-sha256', referenceId: '_md1' });
    const pinned = { signingCertificate: signer.certificate };

    assert.equal(parseSpMetadata(signed, { entityId: SP, now: NOW, ...pinned }).acs[0]?.url, `${SP}/acs`);
    refused(unsigned, /signature not accepted.*not signed/, pinned);
    refused(signed.replace(`${SP}/acs`, 'https://evil.example.org/acs'), /signature not accepted/, pinned);
    refused(signElement(unsigned, { key: attacker, algorithm: 'rsa-sha256', referenceId: '_md1' }), /signature not accepted/, pinned);
    // Without a pinned certificate a signature is neither required nor trusted: the content is read as is.
    assert.ok(parseSpMetadata(signed, { entityId: SP, now: NOW }));
  });
});
