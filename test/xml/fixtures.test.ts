/**
 * The hostile-XML matrix: every fixture under test/fixtures/xml/{valid,invalid} has exactly one row here,
 * and every rejection must be an XmlError with the documented code (node-saml's test/static, with codes).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  NS,
  parseXml,
  requiredChild,
  textOf,
  verifySignedRoot,
  XmlError,
  type Element,
  type XmlErrorCode,
} from '../../src/xml/index.js';
import { buildFixtures, FIXTURE_DIR, loadKey } from '../fixtures/xml/generate.js';

const idp = loadKey('idp');
const attacker = loadKey('attacker');
const read = (name: string): string => readFileSync(join(FIXTURE_DIR, name), 'utf8');

/** What a caller reads after verification; each step is namespace-exact. */
type Reader = (root: Element) => string;
const nameIdOfResponse: Reader = (root) =>
  textOf(requiredChild(requiredChild(requiredChild(root, NS.saml, 'Assertion'), NS.saml, 'Subject'), NS.saml, 'NameID'));
const issuer: Reader = (root) => textOf(requiredChild(root, NS.saml, 'Issuer'));

interface InvalidRow {
  fixture: string;
  code: XmlErrorCode;
  /** Default: verifySignedRoot with the IdP certificate. 'read': parseXml, then the reader. */
  via?: { read: Reader };
}

const invalid: InvalidRow[] = [
  // parser
  { fixture: 'parse.xxe-external-entity.xml', code: 'dtd' },
  { fixture: 'parse.xxe-parameter-entity.xml', code: 'dtd' },
  { fixture: 'parse.billion-laughs.xml', code: 'dtd' },
  { fixture: 'parse.doctype-without-entities.xml', code: 'dtd' },
  { fixture: 'parse.two-roots.xml', code: 'not_single_root' },
  { fixture: 'parse.two-roots-signed-copy-second.xml', code: 'not_single_root' },
  { fixture: 'parse.empty.xml', code: 'not_single_root' },
  { fixture: 'parse.oversized-utf8.xml', code: 'too_large' },
  { fixture: 'parse.deep-nesting.xml', code: 'too_large' },
  { fixture: 'parse.pi-stylesheet.xml', code: 'unexpected_content' },
  { fixture: 'parse.pi-inside-issuer.xml', code: 'unexpected_content' },
  { fixture: 'parse.pi-after-root.xml', code: 'unexpected_content' },
  { fixture: 'parse.malformed-unclosed.xml', code: 'malformed' },
  { fixture: 'parse.malformed-unbound-prefix.xml', code: 'malformed' },
  { fixture: 'parse.duplicate-ids.xml', code: 'duplicate_id' },
  { fixture: 'parse.duplicate-ids-across-spellings.xml', code: 'duplicate_id' },
  { fixture: 'parse.duplicate-ids-namespaced-attribute.xml', code: 'duplicate_id' },
  // readers
  { fixture: 'text.comment-splits-nameid.xml', code: 'unexpected_content', via: { read: nameIdOfResponse } },
  { fixture: 'text.comment-splits-issuer.xml', code: 'unexpected_content', via: { read: issuer } },
  { fixture: 'text.element-inside-nameid.xml', code: 'unexpected_content', via: { read: nameIdOfResponse } },
  // signature wrapping (SAML Raider XSW1–8)
  { fixture: 'xsw1.authnrequest.xml', code: 'unexpected_content' }, // the copy inside Signature breaks its shape
  { fixture: 'xsw2.authnrequest.xml', code: 'signature_reference' },
  { fixture: 'xsw3.authnrequest.xml', code: 'not_single_root' },
  { fixture: 'xsw4.authnrequest.xml', code: 'signature_missing' },
  { fixture: 'xsw5.authnrequest.xml', code: 'signature_reference' },
  { fixture: 'xsw6.authnrequest.xml', code: 'unexpected_content' },
  { fixture: 'xsw7.authnrequest.xml', code: 'duplicate_id' },
  { fixture: 'xsw8.authnrequest.xml', code: 'duplicate_id' },
  { fixture: 'xsw1.assertion-root.xml', code: 'unexpected_content' },
  { fixture: 'xsw2.assertion-root.xml', code: 'signature_reference' },
  { fixture: 'xsw3.assertion-root.xml', code: 'not_single_root' },
  { fixture: 'xsw4.assertion-root.xml', code: 'signature_missing' },
  { fixture: 'xsw5.assertion-root.xml', code: 'signature_reference' },
  { fixture: 'xsw6.assertion-root.xml', code: 'unexpected_content' },
  { fixture: 'xsw7.assertion-root.xml', code: 'duplicate_id' },
  { fixture: 'xsw8.assertion-root.xml', code: 'duplicate_id' },
  { fixture: 'xsw1.response.root-signed.assertion-signed.xml', code: 'duplicate_id' },
  { fixture: 'xsw2.response.root-signed.assertion-signed.xml', code: 'duplicate_id' },
  { fixture: 'xsw3.response.root-signed.assertion-signed.xml', code: 'signature_invalid' },
  { fixture: 'xsw4.response.root-signed.assertion-signed.xml', code: 'signature_invalid' },
  { fixture: 'xsw5.response.root-signed.assertion-signed.xml', code: 'signature_invalid' },
  { fixture: 'xsw6.response.root-signed.assertion-signed.xml', code: 'signature_invalid' },
  { fixture: 'xsw7.response.root-signed.assertion-signed.xml', code: 'duplicate_id' },
  { fixture: 'xsw8.response.root-signed.assertion-signed.xml', code: 'duplicate_id' },
  // signature exclusion, placement, count
  { fixture: 'sig.removed.authnrequest.xml', code: 'signature_missing' },
  { fixture: 'sig.removed.response.xml', code: 'signature_missing' },
  { fixture: 'sig.response.root-unsigned.assertion-signed.xml', code: 'signature_missing' },
  { fixture: 'sig.not-direct-child.xml', code: 'signature_missing' },
  { fixture: 'sig.two-signatures.xml', code: 'duplicate_element' },
  { fixture: 'sig.root-without-id.xml', code: 'signature_reference' },
  // keys: only configured certificates count, KeyInfo never does
  { fixture: 'key.signed-by-attacker.xml', code: 'untrusted_key' },
  { fixture: 'key.response.root-resigned-by-attacker.attackers-cert-at-keyinfo.xml', code: 'untrusted_key' },
  { fixture: 'key.resigned-by-attacker.victims-cert-at-keyinfo.xml', code: 'untrusted_key' },
  { fixture: 'key.signature-value-corrupted.xml', code: 'untrusted_key' },
  // algorithms
  { fixture: 'alg.rsa-sha1-not-allowed.xml', code: 'signature_algorithm' },
  { fixture: 'alg.sha1-digest-with-rsa-sha256.xml', code: 'signature_algorithm' },
  { fixture: 'alg.c14n-with-comments.xml', code: 'signature_algorithm' },
  { fixture: 'alg.transform-with-comments.xml', code: 'signature_algorithm' },
  { fixture: 'alg.inclusive-c14n-transform.xml', code: 'signature_algorithm' },
  { fixture: 'alg.no-enveloped-transform.xml', code: 'signature_algorithm' },
  { fixture: 'alg.three-transforms.xml', code: 'signature_algorithm' },
  // references
  { fixture: 'ref.uri-points-at-assertion.xml', code: 'signature_reference' },
  { fixture: 'ref.uri-empty.xml', code: 'signature_reference' },
  { fixture: 'ref.two-references.xml', code: 'signature_reference' },
  // signature structure
  { fixture: 'struct.multiple-signedinfo.xml', code: 'unexpected_content' }, // CVE-2025-29774 shape
  { fixture: 'struct.comment-in-digest-value.xml', code: 'unexpected_content' }, // CVE-2025-29775 shape
  { fixture: 'struct.object-in-signature.xml', code: 'unexpected_content' },
  // content changed after signing
  { fixture: 'tampered.acs-url-after-signing.xml', code: 'signature_invalid' },
  { fixture: 'tampered.nameid-after-signing.xml', code: 'signature_invalid' },
  { fixture: 'tampered.attribute-added-after-signing.xml', code: 'signature_invalid' },
];

interface ValidRow {
  fixture: string;
  allowSha1?: boolean;
  /** Values a caller reads from the verified (signed-only) document. */
  reads?: Array<[Reader, string]>;
}

const valid: ValidRow[] = [
  { fixture: 'authnrequest.signed.xml', reads: [[issuer, 'https://sp.example/']] },
  { fixture: 'authnrequest.signed-rsa-sha1.xml', allowSha1: true },
  { fixture: 'authnrequest.signed.xml-declaration-and-whitespace.xml' },
  { fixture: 'assertion.signed.xml', reads: [[issuer, 'https://sts.openfed.test/adfs/services/trust']] },
  { fixture: 'response.root-signed.assertion-unsigned.xml', reads: [[nameIdOfResponse, 'alice@corp.example']] },
  { fixture: 'response.root-signed.assertion-signed.xml', reads: [[nameIdOfResponse, 'alice@corp.example']] },
  { fixture: 'saml11-assertion.signed.xml' },
  // Comment truncation defeated: the verified document holds the whole signed value, not "admin@corp.example".
  { fixture: 'response.root-signed.nameid-comment-added-after-signing.xml', reads: [[nameIdOfResponse, 'admin@corp.example.evil.example']] },
  { fixture: 'response.root-signed.nameid-signed-with-comment.xml', reads: [[nameIdOfResponse, 'admin@corp.example.evil.example']] },
];

function assertXmlError(fn: () => unknown, code: XmlErrorCode): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof XmlError, `expected XmlError, got ${String(error)}`);
    assert.equal(error.code, code, `code (message: ${error.message})`);
    return true;
  });
}

describe('hostile XML fixtures', () => {
  test('every fixture file has exactly one row, and the files match generate.ts', () => {
    const rows = [...valid.map((r) => `valid/${r.fixture}`), ...invalid.map((r) => `invalid/${r.fixture}`)].sort();
    const files = ['valid', 'invalid'].flatMap((dir) => readdirSync(join(FIXTURE_DIR, dir)).map((f) => `${dir}/${f}`)).sort();
    assert.deepEqual(rows, files);
    for (const [name, xml] of buildFixtures()) assert.equal(read(name), xml, `${name} is stale: run test/fixtures/xml/generate.ts`);
  });

  describe('invalid', () => {
    for (const row of invalid) {
      test(`${row.fixture} → ${row.code}`, () => {
        const xml = read(`invalid/${row.fixture}`);
        if (row.via) {
          const reader = row.via.read;
          assertXmlError(() => reader(parseXml(xml).documentElement!), row.code);
        } else {
          assertXmlError(() => verifySignedRoot(xml, { certificates: [idp.certificate] }), row.code);
        }
      });
    }
  });

  describe('valid', () => {
    for (const row of valid) {
      test(`${row.fixture} verifies and yields only signed content`, () => {
        const xml = read(`valid/${row.fixture}`);
        const result = verifySignedRoot(xml, { certificates: [attacker.certificate, idp.certificate], allowSha1: row.allowSha1 });
        assert.equal(result.certificate, idp.certificate);
        assert.equal(result.algorithm, row.allowSha1 ? 'rsa-sha1' : 'rsa-sha256');
        // A fresh document built from the canonical signed bytes: the enveloped Signature is gone.
        assert.notEqual(result.document, parseXml(xml));
        assert.equal(result.root, result.document.documentElement);
        assert.equal(result.root.getElementsByTagNameNS(NS.ds, 'Signature').length > 0, row.fixture.includes('assertion-signed'));
        assert.equal(result.root.localName, parseXml(xml).documentElement!.localName);
        for (const [reader, expected] of row.reads ?? []) assert.equal(reader(result.root), expected);
      });
    }

    test('comment-split values: the raw document is refused by textOf, the verified one reads whole', () => {
      const xml = read('valid/response.root-signed.nameid-comment-added-after-signing.xml');
      assertXmlError(() => nameIdOfResponse(parseXml(xml).documentElement!), 'unexpected_content');
    });

    test('rsa-sha1 is refused unless allowed', () => {
      const xml = read('valid/authnrequest.signed-rsa-sha1.xml');
      assertXmlError(() => verifySignedRoot(xml, { certificates: [idp.certificate] }), 'signature_algorithm');
    });

    test('a valid document fails closed without certificates, and with only the wrong one', () => {
      const xml = read('valid/authnrequest.signed.xml');
      assertXmlError(() => verifySignedRoot(xml, { certificates: [] }), 'untrusted_key');
      assertXmlError(() => verifySignedRoot(xml, { certificates: [attacker.certificate] }), 'untrusted_key');
    });

    test('the attacker fixtures do verify against the attacker key (so the refusals above are about trust)', () => {
      for (const name of ['key.signed-by-attacker.xml', 'key.response.root-resigned-by-attacker.attackers-cert-at-keyinfo.xml']) {
        assert.ok(verifySignedRoot(read(`invalid/${name}`), { certificates: [attacker.certificate] }));
      }
    });
  });
});
