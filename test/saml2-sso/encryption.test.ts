/**
 * Encrypted assertions, proven by implementations that share no code with ours: @node-saml/node-saml
 * (decrypts with its own xml-encryption copy, then verifies the signature inside) and Debian's xmlsec1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { fromPem, generateSelfSigned, type SigningKey } from '../../src/keys/signing-key.js';
import { AUTHN_CONTEXT, ATTRNAME_FORMAT, NAME_ID_FORMAT } from '../../src/protocols/saml2/constants.js';
import { encryptAssertion, sealResponse, type EncryptionOptions } from '../../src/protocols/saml2/encrypt.js';
import { buildSuccessResponse, type BuiltResponse, type SignPolicy } from '../../src/protocols/saml2/response.js';
import { NS } from '../../src/xml/namespaces.js';
import { parseXml } from '../../src/xml/parse.js';
import { childElements } from '../../src/xml/query.js';
import { signElement } from '../../src/xml/sign.js';
import { craftAuthnRequest, decodeSamlResponse, makeKeyPair, redirectQuery, xmlsec1Verify, type KeyPair } from '../helpers/saml.js';
import { signOnThroughForm, startTestServer, type TestServer } from '../helpers/server.js';
import { file, simpleSpMetadata, testKey } from '../relying-parties/fixtures.js';

const IDP = 'https://idp.example.test/adfs/services/trust';
const SP = 'https://sp.example.test/saml';
const ACS = 'https://sp.example.test/saml/acs';
const UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const GROUP = 'http://schemas.xmlsoap.org/claims/Group';
const ALGORITHMS = ['aes256-gcm', 'aes128-gcm', 'aes256-cbc', 'aes128-cbc'] as const;
const ALGORITHM_URI: Record<(typeof ALGORITHMS)[number], string> = {
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
};

/** Values that must only ever travel encrypted; random so a match cannot be a coincidence of the markup. */
interface Secrets {
  nameId: string;
  upn: string;
  group: string;
  /** CRLF as AD's postalAddress has it: a raw CR in the plaintext would break the signature after decryption. */
  address: string;
}

function build(secrets: Secrets): BuiltResponse {
  const now = Date.now();
  return buildSuccessResponse({
    issuer: IDP,
    now,
    destination: ACS,
    audience: SP,
    nameId: { format: NAME_ID_FORMAT.persistent, value: secrets.nameId },
    authnInstant: now - 1000,
    sessionIndex: `_${randomBytes(16).toString('hex')}`,
    authnContextClassRef: AUTHN_CONTEXT.passwordProtectedTransport,
    attributes: [
      { name: UPN, nameFormat: ATTRNAME_FORMAT.uri, values: [secrets.upn] },
      { name: GROUP, nameFormat: ATTRNAME_FORMAT.uri, values: [secrets.group, 'Domain Users'] },
      { name: 'postalAddress', nameFormat: ATTRNAME_FORMAT.basic, values: [secrets.address] },
    ],
    lifetimeMs: 60 * 60_000,
    skewMs: 5 * 60_000,
    deliveryMs: 5 * 60_000,
  });
}

const newSecrets = (): Secrets => {
  const r = () => randomBytes(8).toString('hex');
  return { nameId: `nid-${r()}`, upn: `alice-${r()}@corp.example`, group: `Secret-Group-${r()}`, address: `1 ${r()} Street\r\nSpringfield` };
};

function assertNoPlaintext(xml: string, secrets: Secrets, assertionId: string): void {
  for (const value of [secrets.nameId, secrets.upn, secrets.group, 'Springfield', 'postalAddress', UPN, assertionId]) {
    assert.ok(!xml.includes(value), `${value} must not appear in the sealed Response`);
  }
  assert.doesNotMatch(xml, /<(\w+:)?(Assertion|NameID|AttributeStatement|Subject)[\s>]/);
}

interface XmlsecResult {
  ok: boolean;
  output: string;
}

/** Runs xmlsec1; a missing binary is a failure, never a skip. */
function xmlsec1(args: string[]): XmlsecResult {
  try {
    return { ok: true, output: execFileSync('xmlsec1', args, { stdio: 'pipe', encoding: 'utf8' }) };
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('xmlsec1 not installed (apt-get install xmlsec1)');
    return { ok: false, output: e.stderr ?? String(err) };
  }
}

function xmlsec1Decrypt(xml: string, keyPem: string): XmlsecResult {
  const dir = mkdtempSync(join(tmpdir(), 'openfed-xmlsec-dec-'));
  writeFileSync(join(dir, 'doc.xml'), xml);
  writeFileSync(join(dir, 'key.pem'), keyPem);
  return xmlsec1(['--decrypt', '--privkey-pem', join(dir, 'key.pem'), join(dir, 'doc.xml')]);
}

describe('SAML 2.0 assertion encryption', () => {
  let idp: SigningKey;
  let idpCertPem: string;
  let sp: KeyPair;
  let stranger: KeyPair;
  let spCert: X509Certificate;

  before(async () => {
    const generated = await generateSelfSigned('OpenFed Token Signing - test', new Date(Date.now() - 60_000));
    idp = fromPem(generated.keyPem, generated.certPem, 'generated');
    idpCertPem = generated.certPem;
    sp = makeKeyPair('sp.example.test encryption');
    stranger = makeKeyPair('someone else');
    spCert = new X509Certificate(sp.certPem);
  });

  const policy = (overrides: Partial<SignPolicy & { encryption: EncryptionOptions }> = {}) => ({
    signAssertion: true,
    signResponse: false,
    key: { privateKey: idp.privateKey, certificateBase64: idp.certificateBase64 },
    algorithm: 'rsa-sha256' as const,
    encryption: { certificate: spCert },
    ...overrides,
  });

  const nodeSaml = (overrides: Partial<ConstructorParameters<typeof SAML>[0]> = {}) =>
    new SAML({
      issuer: SP,
      callbackUrl: ACS,
      idpCert: idpCertPem,
      idpIssuer: IDP,
      audience: SP,
      decryptionPvk: sp.keyPem,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
      ...overrides,
    });

  const post = (xml: string) => ({ SAMLResponse: Buffer.from(xml, 'utf8').toString('base64') });

  for (const dataAlgorithm of ALGORITHMS) {
    test(`${dataAlgorithm}: node-saml decrypts, verifies the assertion signature inside and reads the profile`, async () => {
      const secrets = newSecrets();
      const built = build(secrets);
      const xml = await sealResponse(built, policy({ encryption: { certificate: spCert, dataAlgorithm } }));

      assertNoPlaintext(xml, secrets, built.assertionId);
      assert.ok(xml.includes(`Algorithm="${ALGORITHM_URI[dataAlgorithm]}"`), 'the requested data algorithm');
      assert.ok(xml.includes('Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"'), 'OAEP key transport');
      assert.match(xml, /^<samlp:Response [^>]*>(?:(?!<\/samlp:Response>).)*<samlp:Status>.*<\/samlp:Status><EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2\.0:assertion"><xenc:EncryptedData /s);

      const { profile } = await nodeSaml().validatePostResponseAsync(post(xml));
      assert.ok(profile);
      assert.equal(profile.nameID, secrets.nameId);
      assert.equal(profile.nameIDFormat, NAME_ID_FORMAT.persistent);
      assert.equal(profile.issuer, IDP);
      assert.equal(profile[UPN], secrets.upn);
      assert.deepEqual(profile[GROUP], [secrets.group, 'Domain Users']);
      assert.ok(String(profile.postalAddress).endsWith('Street\r\nSpringfield'), 'CRLF survives encryption');
    });
  }

  test('signed Response as well: its signature covers the EncryptedAssertion, for node-saml and xmlsec1', async () => {
    const secrets = newSecrets();
    const built = build(secrets);
    const xml = await sealResponse(built, policy({ signResponse: true }));
    assertNoPlaintext(xml, secrets, built.assertionId);

    const saml = nodeSaml({ wantAuthnResponseSigned: true });
    const { profile } = await saml.validatePostResponseAsync(post(xml));
    assert.equal(profile?.nameID, secrets.nameId);
    assert.ok(xmlsec1Verify(xml, idpCertPem, 'urn:oasis:names:tc:SAML:2.0:protocol:Response').ok, 'xmlsec1 verifies the Response signature');

    // A swapped ciphertext must break the Response signature: it is what proves the encryption came from us.
    const other = await sealResponse(build(newSecrets()), policy({ signResponse: true }));
    const cipher = (s: string) => /<xenc:CipherValue>([^<]+)<\/xenc:CipherValue>\s*<\/xenc:CipherData>\s*<\/xenc:EncryptedData>/.exec(s)![1]!;
    const tampered = xml.replace(cipher(xml), cipher(other));
    assert.notEqual(tampered, xml);
    await assert.rejects(saml.validatePostResponseAsync(post(tampered)));
    assert.equal(xmlsec1Verify(tampered, idpCertPem, 'urn:oasis:names:tc:SAML:2.0:protocol:Response').ok, false);
  });

  test('signed Response, unsigned assertion: still accepted by an SP that only wants the Response signed', async () => {
    const secrets = newSecrets();
    const xml = await sealResponse(build(secrets), policy({ signAssertion: false, signResponse: true }));
    const { profile } = await nodeSaml({ wantAssertionsSigned: false, wantAuthnResponseSigned: true }).validatePostResponseAsync(post(xml));
    assert.equal(profile?.nameID, secrets.nameId);
  });

  for (const dataAlgorithm of ['aes256-gcm', 'aes128-cbc'] as const) {
    test(`${dataAlgorithm}: xmlsec1 decrypts with the SP key, and the assertion signature still verifies`, async () => {
      const secrets = newSecrets();
      const built = build(secrets);
      const xml = await sealResponse(built, policy({ signResponse: true, encryption: { certificate: spCert, dataAlgorithm } }));

      const decrypted = xmlsec1Decrypt(xml, sp.keyPem);
      assert.ok(decrypted.ok, decrypted.output);
      assert.ok(decrypted.output.includes(`>${secrets.nameId}</NameID>`), 'NameID after decryption');
      assert.ok(decrypted.output.includes(`ID="${built.assertionId}"`));
      // Standalone, as an SP consumes it: the Response signature covered the ciphertext, not this.
      const assertion = /<Assertion [\s\S]*<\/Assertion>/.exec(decrypted.output)?.[0];
      assert.ok(assertion, decrypted.output);
      const verified = xmlsec1Verify(assertion, idpCertPem, 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion');
      assert.ok(verified.ok, `xmlsec1 verifies the decrypted assertion's signature: ${verified.output}`);
    });
  }

  test('the wrong private key decrypts nothing (node-saml and xmlsec1)', async () => {
    const secrets = newSecrets();
    const xml = await sealResponse(build(secrets), policy());
    await assert.rejects(
      nodeSaml({ decryptionPvk: stranger.keyPem }).validatePostResponseAsync(post(xml)),
      // Either way the key unwrap fails; which message depends on whether the ciphertext exceeds the wrong modulus.
      /oaep decoding error|data too large for modulus/i,
    );
    const decrypted = xmlsec1Decrypt(xml, stranger.keyPem);
    assert.equal(decrypted.ok, false);
    assert.ok(!decrypted.output.includes(secrets.nameId));
  });

  test('refusals: already-signed Response, unknown ID, non-RSA or short key, encryption without any signature', async () => {
    const built = build(newSecrets());
    const key = { privateKey: idp.privateKey, certificateBase64: idp.certificateBase64 };
    const signedResponse = signElement(built.xml, { key, algorithm: 'rsa-sha256', referenceId: built.responseId });
    await assert.rejects(encryptAssertion(signedResponse, built.assertionId, { certificate: spCert }), /already signed/);
    await assert.rejects(encryptAssertion(built.xml, '_nope', { certificate: spCert }), /no Assertion with that ID/);
    await assert.rejects(encryptAssertion(built.xml, built.responseId, { certificate: spCert }), /no Assertion with that ID/);

    const dir = mkdtempSync(join(tmpdir(), 'openfed-enc-'));
    const cert = (args: string[]) => {
      execFileSync('openssl', ['req', '-x509', ...args, '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=x'], { cwd: dir, stdio: 'pipe' });
      return new X509Certificate(readFileSync(join(dir, 'c.pem')));
    };
    await assert.rejects(encryptAssertion(built.xml, built.assertionId, { certificate: cert(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']) }), /RSA/);
    await assert.rejects(encryptAssertion(built.xml, built.assertionId, { certificate: cert(['-newkey', 'rsa:1024']) }), /2048/);

    await assert.rejects(sealResponse(built, policy({ signAssertion: false, signResponse: false })), /must be signed/);
  });

  test('encryptAssertion alone leaves the rest of the Response as it was', async () => {
    const built = build(newSecrets());
    const xml = await encryptAssertion(built.xml, built.assertionId, { certificate: spCert });
    const head = built.xml.slice(0, built.xml.indexOf('<Assertion '));
    assert.ok(xml.startsWith(head), 'Response attributes, Issuer and Status unchanged');
    assert.ok(xml.endsWith('</EncryptedAssertion></samlp:Response>'));
  });
});

describe('encryptClaims (AD FS EncryptClaims): SPs registered from metadata that carries an encryption key', () => {
  const ON = 'https://enc-on.example.test/sp';
  const OFF = 'https://enc-off.example.test/sp';
  const OFF_NO_USE = 'https://enc-off-no-use.example.test/sp';
  const ON_NO_USE = 'https://enc-on-no-use.example.test/sp';
  const spKey = testKey('encrypt-claims-sp');
  let server: TestServer;
  let idpCertPem: string;

  /**
   * SP metadata with spKey as its encryption key: use="encryption", or (noUse) a KeyDescriptor without
   * use, which serves for both. AuthnRequestsSigned is taken out: these SPs send unsigned requests.
   */
  const metadata = (entityId: string, noUse: boolean) => {
    let xml = simpleSpMetadata({ entityId, encryption: spKey }).replace(' AuthnRequestsSigned="true"', '');
    if (noUse) xml = xml.replace('<md:KeyDescriptor use="encryption">', '<md:KeyDescriptor>');
    assert.equal(xml.includes('use="encryption"'), !noUse);
    return file(`encrypt-claims-${new URL(entityId).hostname}.xml`, xml);
  };

  before(async () => {
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [
        { entityId: ON, metadata: { file: metadata(ON, false) } },
        { entityId: OFF, metadata: { file: metadata(OFF, false) }, encryptClaims: false },
        { entityId: ON_NO_USE, metadata: { file: metadata(ON_NO_USE, true) } },
        { entityId: OFF_NO_USE, metadata: { file: metadata(OFF_NO_USE, true) }, encryptClaims: false },
      ],
    });
    idpCertPem = server.deps.keys.primary.certificate.toString();
  });
  after(() => server?.stop());

  /** Signs the demo user in for an SP-initiated request and returns the Response OpenFed POSTs back. */
  async function samlResponseFor(entityId: string): Promise<{ base64: string; xml: string }> {
    const token = await signOnThroughForm(server.url, `/adfs/ls/?${redirectQuery(craftAuthnRequest({ issuer: entityId, acsUrl: `${entityId}/acs` }).xml)}`);
    assert.equal(token.action, `${entityId}/acs`);
    return { base64: token.fields.SAMLResponse!, xml: decodeSamlResponse(token.fields.SAMLResponse!) };
  }

  /** What the Response carries, read as XML: names of its saml:Assertion / saml:EncryptedAssertion children. */
  function carried(xml: string): { assertions: number; encrypted: number } {
    const root = parseXml(xml).documentElement!;
    assert.equal(root.namespaceURI, NS.samlp);
    assert.equal(root.localName, 'Response');
    return { assertions: childElements(root, NS.saml, 'Assertion').length, encrypted: childElements(root, NS.saml, 'EncryptedAssertion').length };
  }

  const spSaml = (entityId: string, decryptionPvk?: string) =>
    new SAML({
      issuer: entityId,
      callbackUrl: `${entityId}/acs`,
      idpCert: idpCertPem,
      idpIssuer: 'http://127.0.0.1/adfs/services/trust',
      audience: entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
      ...(decryptionPvk ? { decryptionPvk } : {}),
    });

  for (const [entityId, how] of [
    [ON, 'use="encryption"'],
    [ON_NO_USE, 'a KeyDescriptor without use'],
  ] as const) {
    test(`by default (encryptClaims true) the assertion is encrypted to the metadata key (${how}), and the SP decrypts it`, async () => {
      const response = await samlResponseFor(entityId);
      assert.deepEqual(carried(response.xml), { assertions: 0, encrypted: 1 });
      const { profile } = await spSaml(entityId, spKey.keyPem).validatePostResponseAsync({ SAMLResponse: response.base64 });
      assert.ok(profile?.nameID);
    });
  }

  for (const [entityId, how] of [
    [OFF, 'use="encryption"'],
    [OFF_NO_USE, 'a KeyDescriptor without use'],
  ] as const) {
    test(`encryptClaims: false: a plain signed assertion although the metadata has an encryption key (${how})`, async () => {
      const response = await samlResponseFor(entityId);
      assert.deepEqual(carried(response.xml), { assertions: 1, encrypted: 0 });
      // (The xmlenc namespace itself does appear: it names the SHA-256 digest algorithm of the signature.)
      assert.equal(parseXml(response.xml).getElementsByTagNameNS(NS.xenc, 'EncryptedData').length, 0, 'no xenc:EncryptedData anywhere');
      // An SP without a decryption key reads it and verifies the assertion signature.
      const { profile } = await spSaml(entityId).validatePostResponseAsync({ SAMLResponse: response.base64 });
      assert.ok(profile?.nameID);
    });
  }
});
