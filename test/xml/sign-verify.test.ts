/**
 * Sign-then-verify round trips, checked independently by Debian's xmlsec1 and by @node-saml/node-saml:
 * our verifier accepting our signer proves little on its own.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import { DOMParser } from '@xmldom/xmldom';
import {
  childElements,
  NS,
  parseXml,
  requiredChild,
  SAML11_ASSERTION_NS,
  signElement,
  textOf,
  verifySignedRoot,
  XmlError,
  type Element,
  type SignatureAlgorithm,
} from '../../src/xml/index.js';
import { ASSERTION, AUTHN_REQUEST, loadKey, RESPONSE, SAML11_ASSERTION } from '../fixtures/xml/generate.js';

const idp = loadKey('idp');
const attacker = loadKey('attacker');
const scratch = mkdtempSync(join(tmpdir(), 'openfed-xml-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** `xmlsec1 --verify` with only the given certificate. A missing xmlsec1 fails the test — never a skip. */
function xmlsec1Verify(xml: string, certPem: string, idAttr: string, element: string): { ok: boolean; output: string } {
  const file = join(scratch, `doc-${Math.random().toString(36).slice(2)}.xml`);
  const cert = join(scratch, `cert-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, xml);
  writeFileSync(cert, certPem);
  const run = spawnSync('xmlsec1', ['--verify', '--pubkey-cert-pem', cert, `--id-attr:${idAttr}`, element, file], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (run.error) throw new Error(`xmlsec1 could not run (install Debian package xmlsec1): ${run.error.message}`);
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

const responseElement = `${NS.samlp}:Response`;
const assertionElement = `${NS.saml}:Assertion`;

function nodeSamlVerified(xml: string, select: (root: Element) => Element): string | null {
  // node-saml parses with its own xmldom copy; hand it a node from a parse of the same string.
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  return getVerifiedXml(xml, select(doc.documentElement!) as never, [idp.certPem]);
}

function elementsAfterIssuer(el: Element): string[] {
  const names: string[] = [];
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === 1) names.push(`${node.namespaceURI === NS.ds ? 'ds' : 'x'}:${(node as Element).localName}`);
  }
  return names;
}

describe('signElement', () => {
  for (const algorithm of ['rsa-sha256', 'rsa-sha1'] as const satisfies readonly SignatureAlgorithm[]) {
    test(`${algorithm}: a signed Response root verifies here, in xmlsec1 and in node-saml`, () => {
      const signed = signElement(RESPONSE, { key: idp, algorithm, referenceId: '_resp1' });
      const result = verifySignedRoot(signed, { certificates: [idp.certificate], allowSha1: algorithm === 'rsa-sha1' });
      assert.equal(result.algorithm, algorithm);
      assert.equal(textOf(requiredChild(result.root, NS.saml, 'Issuer')), 'https://sts.openfed.test/adfs/services/trust');

      const xmlsec = xmlsec1Verify(signed, idp.certPem, 'ID', responseElement);
      assert.ok(xmlsec.ok, xmlsec.output);
      assert.ok(nodeSamlVerified(signed, (root) => root), 'node-saml accepts the root signature');
    });

    test(`${algorithm}: a signed inner Assertion verifies in xmlsec1 and node-saml, and as a root here`, () => {
      const signed = signElement(RESPONSE, { key: idp, algorithm, referenceId: '_assert1' });
      const xmlsec = xmlsec1Verify(signed, idp.certPem, 'ID', assertionElement);
      assert.ok(xmlsec.ok, xmlsec.output);
      const assertionOf = (root: Element) => requiredChild(root, NS.saml, 'Assertion');
      assert.ok(nodeSamlVerified(signed, assertionOf), 'node-saml accepts the assertion signature');
      // The Response itself is unsigned: verifySignedRoot must say so rather than look inside.
      assert.throws(() => verifySignedRoot(signed, { certificates: [idp.certificate], allowSha1: true }), { code: 'signature_missing' });
    });
  }

  test('the Signature goes right after saml:Issuer, or first when there is none', () => {
    const response = parseXml(signElement(RESPONSE, { key: idp, algorithm: 'rsa-sha256', referenceId: '_resp1' })).documentElement!;
    assert.deepEqual(elementsAfterIssuer(response).slice(0, 3), ['x:Issuer', 'ds:Signature', 'x:Status']);
    const inner = parseXml(signElement(RESPONSE, { key: idp, algorithm: 'rsa-sha256', referenceId: '_assert1' })).documentElement!;
    assert.deepEqual(elementsAfterIssuer(requiredChild(inner, NS.saml, 'Assertion')).slice(0, 3), ['x:Issuer', 'ds:Signature', 'x:Subject']);
    const noIssuer = `<samlp:LogoutResponse xmlns:samlp="${NS.samlp}" ID="_lr1" Version="2.0"><samlp:Status/></samlp:LogoutResponse>`;
    const logout = parseXml(signElement(noIssuer, { key: idp, algorithm: 'rsa-sha256', referenceId: '_lr1' })).documentElement!;
    assert.deepEqual(elementsAfterIssuer(logout), ['ds:Signature', 'x:Status']);
  });

  test('SAML 1.1 (WS-Fed) assertions: AssertionID is the reference, the Signature goes last (schema order)', () => {
    const signed = signElement(SAML11_ASSERTION, { key: idp, algorithm: 'rsa-sha256', referenceId: '_s11a1' });
    const root = parseXml(signed).documentElement!;
    assert.equal(root.getAttribute('Id'), null, 'no stray Id attribute added');
    assert.equal(elementsAfterIssuer(root).at(-1), 'ds:Signature');
    assert.equal(verifySignedRoot(signed, { certificates: [idp.certificate] }).root.getAttribute('AssertionID'), '_s11a1');
    const xmlsec = xmlsec1Verify(signed, idp.certPem, 'AssertionID', `${SAML11_ASSERTION_NS}:Assertion`);
    assert.ok(xmlsec.ok, xmlsec.output);
  });

  test('KeyInfo carries the signing certificate', () => {
    const signed = parseXml(signElement(AUTHN_REQUEST, { key: idp, algorithm: 'rsa-sha256', referenceId: '_authn1' }));
    const signature = requiredChild(signed.documentElement!, NS.ds, 'Signature');
    const x509 = requiredChild(requiredChild(requiredChild(signature, NS.ds, 'KeyInfo'), NS.ds, 'X509Data'), NS.ds, 'X509Certificate');
    assert.equal(textOf(x509), idp.certificateBase64);
  });

  test('the independent verifiers are not rubber stamps: both refuse tampering and the wrong key', () => {
    const signed = signElement(ASSERTION, { key: idp, algorithm: 'rsa-sha256', referenceId: '_assert1' });
    const tampered = signed.replace('alice@corp.example</saml:NameID>', 'admin@corp.example</saml:NameID>');
    assert.equal(xmlsec1Verify(tampered, idp.certPem, 'ID', assertionElement).ok, false);
    assert.equal(xmlsec1Verify(signed, attacker.certPem, 'ID', assertionElement).ok, false);
    assert.equal(nodeSamlVerified(tampered, (root) => root), null);
  });

  test('key rotation: any configured certificate may have signed; the one that did is reported', () => {
    const signed = signElement(AUTHN_REQUEST, { key: attacker, algorithm: 'rsa-sha256', referenceId: '_authn1' });
    const result = verifySignedRoot(signed, { certificates: [idp.certificate, attacker.certificate] });
    assert.equal(result.certificate, attacker.certificate);
  });

  test('refuses what it cannot sign safely, with XmlError codes', () => {
    const sign = (xml: string, referenceId: string) => () => signElement(xml, { key: idp, algorithm: 'rsa-sha256', referenceId });
    assert.throws(sign(AUTHN_REQUEST, '_nope'), { code: 'signature_reference' });
    assert.throws(sign(AUTHN_REQUEST, "x' or '1'='1"), { code: 'signature_reference' });
    assert.throws(sign(`<!DOCTYPE x>${AUTHN_REQUEST}`, '_authn1'), { code: 'dtd' });
    const once = signElement(AUTHN_REQUEST, { key: idp, algorithm: 'rsa-sha256', referenceId: '_authn1' });
    assert.throws(sign(once, '_authn1'), { code: 'duplicate_element' });
    assert.throws(
      () => signElement(AUTHN_REQUEST, { key: idp, algorithm: 'rsa-md5' as SignatureAlgorithm, referenceId: '_authn1' }),
      (error: unknown) => error instanceof XmlError && error.code === 'signature_algorithm',
    );
  });

  test('output keeps the document otherwise intact (one Signature, no rewritten IDs)', () => {
    const signed = parseXml(signElement(RESPONSE, { key: idp, algorithm: 'rsa-sha256', referenceId: '_resp1' })).documentElement!;
    assert.equal(childElements(signed, NS.ds, 'Signature').length, 1);
    assert.equal(signed.getAttribute('ID'), '_resp1');
    assert.equal(requiredChild(signed, NS.saml, 'Assertion').getAttribute('ID'), '_assert1');
  });
});
