import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { RelyingPartyConfigError, RelyingPartyRegistry, type SamlRelyingParty } from '../../src/relying-parties/registry.js';
import { signElement } from '../../src/xml/sign.js';
import { capturingLogger, configWith, file, REDIRECT, shibbolethSpMetadata, simpleSpMetadata, testKey } from './fixtures.js';

const SP = 'https://sp.example.org';
const OTHER = 'https://other.example.org';
const clock = () => new ManualClock(Date.UTC(2026, 0, 1));

const create = (relyingParties: unknown[], options: Parameters<typeof RelyingPartyRegistry.create>[2] = {}) =>
  RelyingPartyRegistry.create(configWith(relyingParties), silentLogger, { clock: clock(), ...options });

const startupRefused = async (relyingParties: unknown[], pattern: RegExp) =>
  assert.rejects(create(relyingParties), (e: unknown) => e instanceof RelyingPartyConfigError && pattern.test(e.message));

describe('relying-party registry: configuration', () => {
  test('a configuration-only SP is found by its exact entityID, with defaults filled in', async () => {
    const registry = await create([{ entityId: SP, assertionConsumerServices: [{ url: `${SP}/acs` }] }, { entityId: OTHER, name: 'Other app' }]);
    const rp = registry.get(SP);
    assert.ok(rp);
    assert.equal(rp.displayName, SP);
    assert.deepEqual(rp.acs, [{ url: `${SP}/acs`, binding: 'post', isDefault: false }]);
    assert.deepEqual(rp.slo, []);
    assert.deepEqual(rp.signingCertificates, []);
    assert.equal(rp.encryptionCertificate, undefined);
    assert.equal(rp.signAssertion, true);
    assert.equal(rp.nameId.format, 'persistent');
    assert.equal(registry.get(OTHER)?.displayName, 'Other app');
    assert.deepEqual(registry.all().map((r) => r.entityId), [SP, OTHER]);
    assert.equal(registry.get(SP.toUpperCase()), undefined);
    assert.equal(registry.get(`${SP}/`), undefined);
    assert.ok(Object.isFrozen(rp) && Object.isFrozen(rp.acs));
    registry.close();
  });

  test('certificates load from inline PEM and from a file; a bad one stops start-up naming its key', async () => {
    const a = testKey('cfg-a');
    const b = testKey('cfg-b');
    const registry = await create([{ entityId: SP, signingCertificates: [a.certPem, b.certPath, a.certPath], encryptionCertificate: b.certPath }]);
    const rp = registry.get(SP)!;
    // The same certificate twice (inline and as a file) is one certificate.
    assert.deepEqual(rp.signingCertificates.map((c) => c.fingerprint256), [a.certificate.fingerprint256, b.certificate.fingerprint256]);
    assert.equal(rp.encryptionCertificate?.fingerprint256, b.certificate.fingerprint256);

    await startupRefused(
      [{ entityId: OTHER }, { entityId: SP, signingCertificates: [a.certPem, '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----'] }],
      /^configuration key relyingParties\[1\]\.signingCertificates\[1\]: not a readable certificate$/,
    );
    await startupRefused([{ entityId: SP, encryptionCertificate: '/nonexistent/enc.pem' }], /relyingParties\[0\]\.encryptionCertificate: file \/nonexistent\/enc\.pem does not exist/);
    await startupRefused([{ entityId: SP, encryptionCertificate: file('garbage.pem', 'not a certificate') }], /relyingParties\[0\]\.encryptionCertificate: not a readable certificate/);
    await startupRefused(
      [{ entityId: SP, metadata: { url: 'https://sp.example.org/md', signingCertificate: file('bad-signer.pem', 'x') } }],
      /relyingParties\[0\]\.metadata\.signingCertificate: not a readable certificate/,
    );
  });

  test('refuses a plain-http metadata URL to anything but localhost, and a repeated ACS index', async () => {
    await startupRefused([{ entityId: SP, metadata: { url: 'http://sp.example.org/md' } }], /relyingParties\[0\]\.metadata\.url: expected an https:\/\/ URL/);
    await startupRefused(
      [{ entityId: SP, assertionConsumerServices: [{ url: `${SP}/a`, index: 2 }, { url: `${SP}/b`, index: 2 }] }],
      /relyingParties\[0\]\.assertionConsumerServices\[1\]\.index: 2 is used twice/,
    );
  });
});

describe('relying-party registry: ACS resolution', () => {
  let registry: RelyingPartyRegistry;
  let rp: SamlRelyingParty;
  before(async () => {
    registry = await create([
      {
        entityId: SP,
        assertionConsumerServices: [
          { url: 'https://sp.example.org/saml/acs', index: 0 },
          { url: 'https://sp.example.org/saml/acs2', index: 1, isDefault: true },
          { url: 'https://sp.example.org/saml/redirect', index: 2, binding: 'redirect' },
        ],
      },
      { entityId: OTHER, assertionConsumerServices: [{ url: 'https://other.example.org/acs' }] },
      { entityId: 'https://no-acs.example.org' },
      { entityId: 'https://redirect-only.example.org', assertionConsumerServices: [{ url: 'https://r.example.org/acs', binding: 'redirect' }] },
    ]);
    rp = registry.get(SP)!;
  });
  after(() => registry.close());

  test('by index', () => {
    assert.equal(registry.resolveAcs(rp, { index: 0 })?.url, 'https://sp.example.org/saml/acs');
    assert.equal(registry.resolveAcs(rp, { index: 2 })?.binding, 'redirect');
    assert.equal(registry.resolveAcs(rp, { index: 9 }), undefined);
    // SAML forbids index together with a URL or binding: refused rather than guessed.
    assert.equal(registry.resolveAcs(rp, { index: 0, url: 'https://sp.example.org/saml/acs' }), undefined);
  });

  test('by exact URL, with only scheme and host case folded', () => {
    assert.equal(registry.resolveAcs(rp, { url: 'https://sp.example.org/saml/acs' })?.index, 0);
    const folded = registry.resolveAcs(rp, { url: 'HTTPS://SP.Example.ORG/saml/acs' });
    assert.equal(folded?.url, 'https://sp.example.org/saml/acs', 'the registered URL is returned, not the requested one');
    for (const near of [
      'https://sp.example.org/SAML/acs',
      'https://sp.example.org/saml/acs/',
      'https://sp.example.org/saml/acs?x=1',
      'https://sp.example.org:443/saml/acs',
      'http://sp.example.org/saml/acs',
      'https://sp.example.org/saml/./acs',
      'https://sp.example.org.evil.com/saml/acs',
      'https://user@sp.example.org/saml/acs',
      '//sp.example.org/saml/acs',
      '',
    ]) {
      assert.equal(registry.resolveAcs(rp, { url: near }), undefined, near);
    }
  });

  test('a foreign URL, or one registered for another SP, is refused', () => {
    assert.equal(registry.resolveAcs(rp, { url: 'https://evil.example.com/acs' }), undefined);
    assert.equal(registry.resolveAcs(rp, { url: 'https://other.example.org/acs' }), undefined);
    assert.equal(registry.resolveAcs(registry.get(OTHER)!, { url: 'https://sp.example.org/saml/acs' }), undefined);
    // Endpoints come from the registry, not from whatever object the caller hands in.
    const forged = { ...rp, acs: [{ url: 'https://evil.example.com/acs', binding: 'post' as const, isDefault: true }] };
    assert.equal(registry.resolveAcs(forged, {})?.url, 'https://sp.example.org/saml/acs2');
    assert.equal(registry.resolveAcs({ ...forged, entityId: 'https://unknown.example.org' }, {}), undefined);
  });

  test('a requested binding must match; unknown bindings are refused', () => {
    assert.equal(registry.resolveAcs(rp, { url: 'https://sp.example.org/saml/acs', binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST' })?.index, 0);
    assert.equal(registry.resolveAcs(rp, { url: 'https://sp.example.org/saml/acs', binding: REDIRECT }), undefined);
    assert.equal(registry.resolveAcs(rp, { binding: REDIRECT })?.index, 2);
    assert.equal(registry.resolveAcs(rp, { binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' }), undefined);
  });

  test('the default: isDefault, else the first POST endpoint; none at all is undefined', () => {
    assert.equal(registry.resolveAcs(rp, {})?.index, 1);
    assert.equal(registry.resolveAcs(registry.get(OTHER)!, {})?.url, 'https://other.example.org/acs');
    assert.equal(registry.resolveAcs(registry.get('https://no-acs.example.org')!, {}), undefined);
    assert.equal(registry.resolveAcs(registry.get('https://no-acs.example.org')!, { index: 0 }), undefined);
    assert.equal(registry.resolveAcs(registry.get('https://redirect-only.example.org')!, {}), undefined);
  });
});

describe('relying-party registry: metadata files', () => {
  test('imports Shibboleth metadata; configured ACS replace its list, certificates are the union', async () => {
    const current = testKey('shib-current');
    const next = testKey('shib-next');
    const pinned = testKey('cfg-a');
    const entityId = 'https://wiki.example.edu/shibboleth';
    const path = file('shib.xml', shibbolethSpMetadata('wiki.example.edu', current, next));

    const fromMetadata = await create([{ entityId, metadata: { file: path } }]);
    const rp = fromMetadata.get(entityId)!;
    assert.deepEqual(rp.acs.map((a) => a.index), [1, 7]);
    assert.equal(fromMetadata.resolveAcs(rp, {})?.index, 7);
    assert.equal(fromMetadata.resolveAcs(rp, { url: 'https://wiki.example.edu/Shibboleth.sso/SAML2/ECP' }), undefined, 'PAOS is not ours to answer');
    assert.deepEqual(rp.slo.map((s) => s.url), ['https://wiki.example.edu/Shibboleth.sso/SLO/Redirect', 'https://wiki.example.edu/Shibboleth.sso/SLO/POST']);
    assert.equal(rp.encryptionCertificate?.fingerprint256, current.certificate.fingerprint256);

    const overridden = await create([
      { entityId, metadata: { file: path }, assertionConsumerServices: [{ url: 'https://wiki.example.edu/only' }], signingCertificates: [pinned.certPem] },
    ]);
    const merged = overridden.get(entityId)!;
    assert.deepEqual(merged.acs, [{ url: 'https://wiki.example.edu/only', binding: 'post', isDefault: false }]);
    assert.deepEqual(
      merged.signingCertificates.map((c) => c.fingerprint256),
      [pinned, current, next].map((k) => k.certificate.fingerprint256),
    );
  });

  test('a metadata file may start with a byte-order mark; one that is not UTF-8 is refused', async () => {
    const xml = simpleSpMetadata({ entityId: SP });
    const registry = await create([{ entityId: SP, metadata: { file: file('bom.xml', `\uFEFF${xml}`) } }]);
    assert.equal(registry.get(SP)?.acs.length, 1);
    const latin1 = file('latin1.xml', '');
    writeFileSync(latin1, Buffer.concat([Buffer.from(xml.replace('</md:EntityDescriptor>', '')), Buffer.from([0xe9]), Buffer.from('</md:EntityDescriptor>')]));
    await startupRefused([{ entityId: SP, metadata: { file: latin1 } }], /metadata\.file: metadata is not UTF-8/);
  });

  test('a metadata file that is missing, for another entity, expired or badly signed stops start-up', async () => {
    const signer = testKey('md-signer');
    const attacker = testKey('md-attacker');
    const unsigned = simpleSpMetadata({ entityId: SP, id: '_md' });
    const signedBy = (k: typeof signer) => signElement(unsigned, { key: k, algorithm: 'rsa-sha256', referenceId: '_md' });

    const ok = await create([{ entityId: SP, metadata: { file: file('signed.xml', signedBy(signer)), signingCertificate: signer.certPath } }]);
    assert.equal(ok.get(SP)?.acs[0]?.url, `${SP}/acs`);

    await startupRefused([{ entityId: SP, metadata: { file: '/nonexistent/md.xml' } }], /relyingParties\[0\]\.metadata\.file: file \/nonexistent\/md\.xml does not exist/);
    await startupRefused([{ entityId: OTHER, metadata: { file: file('sp.xml', unsigned) } }], /relyingParties\[0\]\.metadata\.file: metadata entityID .* is not the configured entityId/);
    await startupRefused(
      [{ entityId: SP, metadata: { file: file('expired.xml', simpleSpMetadata({ entityId: SP, validUntil: '2025-06-01T00:00:00Z' })) } }],
      /metadata\.file: metadata expired/,
    );
    for (const [name, xml] of [
      ['unsigned', unsigned],
      ['tampered', signedBy(signer).replace(`${SP}/acs`, 'https://evil.example.com/acs')],
      ['wrong signer', signedBy(attacker)],
    ] as const) {
      await startupRefused(
        [{ entityId: SP, metadata: { file: file(`${name}.xml`, xml), signingCertificate: signer.certPem } }],
        /relyingParties\[0\]\.metadata\.file: metadata signature not accepted/,
      );
    }
  });
});

describe('relying-party registry: metadata URLs', () => {
  let server: Server;
  let base: string;
  let response: { status: number; body: string } = { status: 200, body: '' };
  let requests = 0;
  before(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(response.status, { 'content-type': 'application/samlmetadata+xml' }).end(response.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('imports at start, refreshes, keeps the last good copy on failure, and announces changes', async () => {
    const { logger, lines } = capturingLogger();
    const manual = clock();
    response = { status: 200, body: simpleSpMetadata({ entityId: SP, acs: [{ url: `${SP}/acs-1`, index: 0 }] }) };
    const registry = await RelyingPartyRegistry.create(configWith([{ entityId: SP, metadata: { url: `${base}/md` } }]), logger, { clock: manual });
    try {
      assert.equal(registry.get(SP)?.acs[0]?.url, `${SP}/acs-1`);
      const startVersion = registry.version;
      let changes = 0;
      registry.onChange(() => changes++);

      // Same document again: nothing changed, nothing announced. Overlapping refreshes share one fetch.
      const before = requests;
      await Promise.all([registry.refreshMetadata(), registry.refreshMetadata()]);
      assert.equal(requests, before + 1);
      assert.equal(registry.version, startVersion);
      assert.equal(changes, 0);

      response = { status: 200, body: simpleSpMetadata({ entityId: SP, acs: [{ url: `${SP}/acs-2`, index: 0 }] }) };
      await registry.refreshMetadata();
      assert.equal(registry.get(SP)?.acs[0]?.url, `${SP}/acs-2`);
      assert.equal(registry.version, startVersion + 1);
      assert.equal(changes, 1);

      for (const broken of [
        { status: 500, body: 'oops' },
        { status: 200, body: '<not-xml' },
        { status: 200, body: simpleSpMetadata({ entityId: OTHER }) },
        { status: 200, body: 'x'.repeat(1_048_577) },
      ]) {
        response = broken;
        await registry.refreshMetadata();
        assert.equal(registry.get(SP)?.acs[0]?.url, `${SP}/acs-2`, `still the last good copy after ${broken.body.slice(0, 20)}`);
      }
      assert.equal(changes, 1);
      const warnings = lines.filter((l) => l.msg === 'SP metadata refresh failed; keeping the last good copy');
      assert.equal(warnings.length, 4);
      assert.match(String(warnings[3]?.reason), /larger than 1048576 bytes/);
    } finally {
      registry.close();
    }
  });

  test('an SP whose metadata server is down at start is registered from configuration and picked up later', async () => {
    const { logger, lines } = capturingLogger();
    response = { status: 503, body: '' };
    const registry = await RelyingPartyRegistry.create(
      configWith([{ entityId: SP, metadata: { url: `${base}/md` }, signingCertificates: [testKey('cfg-a').certPem] }]),
      logger,
      { clock: clock() },
    );
    try {
      assert.deepEqual(registry.get(SP)?.acs, []);
      assert.equal(registry.get(SP)?.signingCertificates.length, 1);
      assert.ok(lines.some((l) => l.level === 40 && /could not be imported at start/.test(String(l.msg)) && /HTTP 503/.test(String(l.reason))));

      response = { status: 200, body: simpleSpMetadata({ entityId: SP }) };
      await registry.refreshMetadata();
      assert.equal(registry.get(SP)?.acs[0]?.url, `${SP}/acs`);
      assert.equal(registry.version, 1);
    } finally {
      registry.close();
    }
  });

  test('a last good copy past its validUntil is dropped when the refresh fails', async () => {
    const manual = clock();
    response = { status: 200, body: simpleSpMetadata({ entityId: SP, validUntil: '2026-01-02T00:00:00Z' }) };
    const registry = await RelyingPartyRegistry.create(configWith([{ entityId: SP, metadata: { url: `${base}/md` } }]), silentLogger, { clock: manual });
    try {
      assert.equal(registry.get(SP)?.acs.length, 1);
      response = { status: 500, body: '' };
      await registry.refreshMetadata();
      assert.equal(registry.get(SP)?.acs.length, 1, 'still valid: kept');
      manual.advance(2 * 86_400_000);
      await registry.refreshMetadata();
      assert.deepEqual(registry.get(SP)?.acs, [], 'expired: configuration only');
    } finally {
      registry.close();
    }
  });

  test('refreshes on its own every refreshMinutes, and close() stops it', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      response = { status: 200, body: simpleSpMetadata({ entityId: SP, acs: [{ url: `${SP}/timer-1`, index: 0 }] }) };
      const registry = await create([{ entityId: SP, metadata: { url: `${base}/md`, refreshMinutes: 5 } }]);
      const changed = new Promise<void>((resolve) => registry.onChange(resolve));
      response = { status: 200, body: simpleSpMetadata({ entityId: SP, acs: [{ url: `${SP}/timer-2`, index: 0 }] }) };
      const before = requests;
      mock.timers.tick(4 * 60_000);
      assert.equal(requests, before, 'not yet');
      mock.timers.tick(60_000);
      await changed;
      assert.equal(registry.get(SP)?.acs[0]?.url, `${SP}/timer-2`);

      registry.close();
      const afterClose = requests;
      mock.timers.tick(60 * 60_000);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(requests, afterClose);
    } finally {
      mock.timers.reset();
    }
  });

  test('redirects are not followed', async () => {
    const redirecting = createServer((_req, res) => res.writeHead(302, { location: 'https://evil.example.com/md' }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    const { logger, lines } = capturingLogger();
    try {
      const url = `http://localhost:${(redirecting.address() as AddressInfo).port}/md`;
      const registry = await RelyingPartyRegistry.create(configWith([{ entityId: SP, metadata: { url } }]), logger, { clock: clock() });
      registry.close();
      assert.deepEqual(registry.get(SP)?.acs, []);
      assert.ok(lines.some((l) => /could not be imported at start/.test(String(l.msg))));
    } finally {
      redirecting.close();
    }
  });
});

describe('relying-party registry: AuthnRequestsSigned and encryptClaims', () => {
  const SIGNED = ' AuthnRequestsSigned="true"';
  /** The fixture always writes AuthnRequestsSigned="true"; these take it away or keep it. */
  const metadataFile = (name: string, options: { signs: boolean; signing?: ReturnType<typeof testKey>; encryption?: ReturnType<typeof testKey> }) => {
    const xml = simpleSpMetadata({ entityId: SP, ...(options.signing ? { signing: options.signing } : {}), ...(options.encryption ? { encryption: options.encryption } : {}) });
    assert.ok(xml.includes(SIGNED));
    return file(name, options.signs ? xml : xml.replace(SIGNED, ''));
  };
  const resolved = async (rp: Record<string, unknown>, logger = silentLogger) => {
    const registry = await RelyingPartyRegistry.create(configWith([{ entityId: SP, ...rp }]), logger, { clock: clock() });
    registry.close();
    return registry.get(SP)!;
  };
  const unverifiableLogs = (lines: Array<Record<string, unknown>>) =>
    lines.filter((l) => l.level === 50 && l.entityId === SP && /must sign its AuthnRequests .* every AuthnRequest from it is refused/.test(String(l.msg)));

  test('requireSignedRequests: absent follows the metadata; an explicit true or false wins either way', async () => {
    const key = testKey('ars-signing');
    const signs = metadataFile('ars-signs.xml', { signs: true, signing: key });
    const silent = metadataFile('ars-silent.xml', { signs: false, signing: key });
    const cases: Array<[string, Record<string, unknown>, boolean, SamlRelyingParty['requireSignedRequestsFrom']]> = [
      ['metadata says true', { metadata: { file: signs } }, true, 'metadata'],
      ['metadata says nothing', { metadata: { file: silent } }, false, 'default'],
      ['config false over metadata true', { metadata: { file: signs }, requireSignedRequests: false }, false, 'config'],
      ['config true over metadata silence', { metadata: { file: silent }, requireSignedRequests: true }, true, 'config'],
      ['no metadata, nothing configured', { assertionConsumerServices: [{ url: `${SP}/acs` }] }, false, 'default'],
    ];
    for (const [what, config, required, from] of cases) {
      const rp = await resolved(config);
      assert.equal(rp.requireSignedRequests, required, what);
      assert.equal(rp.requireSignedRequestsFrom, from, what);
    }
  });

  test('AuthnRequestsSigned="true" without any signing certificate: registered, signatures still required, an error logged', async () => {
    const noKey = metadataFile('ars-nokey.xml', { signs: true });
    const { logger, lines } = capturingLogger();
    const rp = await resolved({ metadata: { file: noKey } }, logger);
    assert.equal(rp.requireSignedRequests, true, 'fails closed');
    assert.deepEqual(rp.signingCertificates, []);
    assert.equal(unverifiableLogs(lines).length, 1, JSON.stringify(lines));
    assert.equal(unverifiableLogs(lines)[0]?.requireSignedRequestsFrom, 'metadata');

    // Either remedy quiets it: a configured certificate, or an explicit false.
    for (const remedy of [{ signingCertificates: [testKey('ars-configured').certPem] }, { requireSignedRequests: false }]) {
      const quiet = capturingLogger();
      await resolved({ metadata: { file: noKey }, ...remedy }, quiet.logger);
      assert.deepEqual(unverifiableLogs(quiet.lines), [], JSON.stringify(remedy));
    }
  });

  test('a metadata refresh that turns AuthnRequestsSigned on is served at once (and announced)', async () => {
    const key = testKey('ars-refresh');
    const xml = simpleSpMetadata({ entityId: SP, signing: key });
    let body = xml.replace(SIGNED, '');
    const fakeFetch = (async () => new Response(body, { status: 200 })) as typeof fetch;
    const registry = await RelyingPartyRegistry.create(configWith([{ entityId: SP, metadata: { url: 'https://sp.example.org/md' } }]), silentLogger, {
      clock: clock(),
      fetch: fakeFetch,
    });
    try {
      assert.equal(registry.get(SP)?.requireSignedRequests, false);
      const version = registry.version;
      body = xml;
      // Endpoints and certificates are unchanged: only the requirement moved, and it must still count as a change.
      await registry.refreshMetadata();
      assert.equal(registry.get(SP)?.requireSignedRequests, true);
      assert.equal(registry.version, version + 1);
      body = xml.replace(SIGNED, ' AuthnRequestsSigned="false"');
      await registry.refreshMetadata();
      assert.equal(registry.get(SP)?.requireSignedRequests, false);
    } finally {
      registry.close();
    }
  });

  test('encryptClaims: true by default; false keeps the metadata\'s encryption certificate known but switched off', async () => {
    const enc = testKey('ec-encryption');
    const withKey = metadataFile('ec.xml', { signs: false, encryption: enc });
    const on = await resolved({ metadata: { file: withKey } });
    assert.equal(on.encryptClaims, true);
    assert.equal(on.encryptionCertificate?.fingerprint256, enc.certificate.fingerprint256);
    const off = await resolved({ metadata: { file: withKey }, encryptClaims: false });
    assert.equal(off.encryptClaims, false);
    assert.equal(off.encryptionCertificate?.fingerprint256, enc.certificate.fingerprint256, 'still listed by openfed rp list');
  });
});
