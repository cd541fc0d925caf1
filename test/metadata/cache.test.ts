import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { fromPem } from '../../src/keys/signing-key.js';
import { MetadataCache } from '../../src/metadata/cache.js';
import type { IdpMetadataKeys } from '../../src/metadata/idp-metadata.js';
import type { SamlRelyingParty } from '../../src/relying-parties/registry.js';
import { verifySignedRoot } from '../../src/xml/verify.js';
import { testKey } from '../relying-parties/fixtures.js';

const primaryPair = testKey('idp-primary');
const nextPair = testKey('idp-next');
const primary = fromPem(primaryPair.keyPem, primaryPair.certPem, 'pem');
const next = fromPem(nextPair.keyPem, nextPair.certPem, 'pem');

/** Just what the cache reads from the registry. */
function fakeRegistry(attributeNames: string[][]) {
  const registry = {
    version: 0,
    rps: attributeNames,
    all: () =>
      registry.rps.map((names) => ({ attributes: names.map((name) => ({ name, source: 'upn', nameFormat: 'uri' })) }) as unknown as SamlRelyingParty),
  };
  return registry;
}

describe('metadata cache', () => {
  test('serves the same bytes until the key set or the registry version changes', () => {
    let keys: IdpMetadataKeys = { primary };
    const registry = fakeRegistry([['upn', 'mail'], ['mail', 'groups']]);
    const cache = new MetadataCache({
      entityId: 'http://sts.contoso.com/adfs/services/trust',
      baseUrl: 'https://sts.contoso.com',
      keys: () => keys,
      registry,
      clock: new ManualClock(),
    });

    const first = cache.get();
    assert.equal(first.contentType, 'application/samlmetadata+xml');
    assert.match(first.etag, /^"[A-Za-z0-9_-]{43}"$/);
    const xml = first.body.toString('utf8');
    verifySignedRoot(xml, { certificates: [primary.certificate] });
    assert.deepEqual([...xml.matchAll(/<saml:Attribute Name="([^"]+)"/g)].map((m) => m[1]), ['upn', 'mail', 'groups'], 'each attribute once');

    const all = mock.method(registry, 'all');
    assert.equal(cache.get(), first, 'nothing changed: the very same object, nothing rebuilt');
    assert.equal(all.mock.callCount(), 0);

    // Registry content changed but its version did not: nothing to notice yet (the registry bumps on every change).
    registry.rps = [['department']];
    assert.equal(cache.get(), first);

    registry.version++;
    const second = cache.get();
    assert.notEqual(second.etag, first.etag);
    assert.match(second.body.toString('utf8'), /Name="department"/);
    assert.equal(cache.get(), second);

    keys = { primary, next };
    const third = cache.get();
    assert.notEqual(third.etag, second.etag);
    assert.ok(third.body.toString('utf8').includes(next.certificateBase64));
    assert.equal(cache.get(), third);

    // A fresh object with the same certificates is the same key set.
    keys = { primary: { ...primary }, next: { certificateBase64: next.certificateBase64 } };
    assert.equal(cache.get(), third);
  });

  test('a next certificate from keys() reaches every role; wsTrust and serviceDisplayName reach the document', () => {
    let keys: IdpMetadataKeys = { primary };
    const cache = new MetadataCache({
      entityId: 'http://sts.contoso.com/adfs/services/trust',
      baseUrl: 'https://sts.contoso.com',
      keys: () => keys,
      registry: fakeRegistry([]),
      clock: new ManualClock(),
      wsTrust: {},
      serviceDisplayName: 'Contoso',
    });
    const certsPerRole = (xml: string) =>
      [...xml.matchAll(/<md:(RoleDescriptor|IDPSSODescriptor)\b.*?<\/md:\1>/g)].map((m) =>
        [...m[0].matchAll(/<ds:X509Certificate>([^<]+)</g)].map((c) => c[1]),
      );

    const before = cache.get().body.toString('utf8');
    assert.deepEqual(certsPerRole(before), [[primary.certificateBase64], [primary.certificateBase64], [primary.certificateBase64]]);
    assert.match(before, /<fed:SecurityTokenServiceEndpoint>/);
    assert.match(before, /ServiceDisplayName="Contoso"/);

    keys = { primary, next: { certificateBase64: next.certificateBase64 } };
    const during = cache.get().body.toString('utf8');
    const both = [primary.certificateBase64, next.certificateBase64];
    assert.deepEqual(certsPerRole(during), [both, both, both]);
    verifySignedRoot(during, { certificates: [primary.certificate] });

    // Promotion: the former next signs and is published alone.
    keys = { primary: next };
    const after = cache.get().body.toString('utf8');
    assert.deepEqual(certsPerRole(after), [[next.certificateBase64], [next.certificateBase64], [next.certificateBase64]]);
    verifySignedRoot(after, { certificates: [next.certificate] });
  });
});
