/**
 * The token fast path (xml/canonical-sign: tokens emitted in exclusive canonical form, digested as built)
 * proven equivalent to the library path (xml/sign: xml-crypto over the same unsigned XML), for every token
 * shape and escaping case:
 *
 *   - same input for both paths: one build with a deterministic id generator and a fixed clock;
 *   - byte for byte: xml-crypto's ExclusiveCanonicalization of the library-signed document equals the
 *     fast-path document exactly (signatures included: RSA PKCS#1 v1.5 is deterministic, so equal
 *     SignedInfo bytes give equal SignatureValues). The raw library output cannot be compared as is:
 *     xmldom writes <x/> and keeps the input's attribute order, while canonical form has neither;
 *   - canonical: xml-crypto's canonicalisation of every signed element yields exactly the emitted bytes,
 *     and of the element without its Signature exactly the bytes that were digested;
 *   - independent verifiers: xmlsec1 for every token, node-saml for SAML 2.0 Responses, saml20 for WS-Fed
 *     tokens, with the values read back.
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { DOMParser, type Element as XmldomElement } from '@xmldom/xmldom';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { ManualClock } from '../../src/clock.js';
import { ATTRNAME_FORMAT, AUTHN_CONTEXT, NAME_ID_FORMAT } from '../../src/protocols/saml2/constants.js';
import { sealResponse } from '../../src/protocols/saml2/encrypt.js';
import { buildSuccessResponse, newSamlId, type AssertionInput } from '../../src/protocols/saml2/response.js';
import {
  BOOLEAN_VALUE_CANONICAL,
  BOOLEAN_VALUE_SENT,
  buildSignInResponse,
  buildTokenAssertion,
  signTokenAssertion,
  splitClaimType,
  type TokenInput,
} from '../../src/protocols/wsfed/token.js';
import { signCanonical } from '../../src/xml/canonical-sign.js';
import { c14nAttribute, c14nText, XmlTextError } from '../../src/xml/escape.js';
import { NS, SAML11_ASSERTION_NS } from '../../src/xml/namespaces.js';
import { signElement } from '../../src/xml/sign.js';
import { verifySignedRoot, type SignatureAlgorithm } from '../../src/xml/verify.js';
import { XmlError } from '../../src/xml/errors.js';
import { loadKey } from '../fixtures/xml/generate.js';
import { makeKeyPair, type KeyPair } from '../helpers/saml.js';
import { validateWithSaml20 } from '../helpers/wsfed.js';

const idp = loadKey('idp');
const attacker = loadKey('attacker');
// Fixed for the whole file, close to real time so the relying-party libraries accept the tokens.
const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
const scratch = mkdtempSync(join(tmpdir(), 'openfed-fast-sign-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Ids _id0001, _id0002, ... : a fresh generator per build makes both paths see the same document. */
const deterministicIds = () => {
  let n = 0;
  return () => `_id${String(++n).padStart(4, '0')}`;
};

// ------------------------------------------------------------------------------------------ helpers

const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const exc = new ExclusiveCanonicalization();
const canonical = (element: XmldomElement) => exc.process(element as never, {});
const canonicalRoot = (xml: string) => canonical(parse(xml).documentElement!);

function* elements(root: XmldomElement): Generator<XmldomElement> {
  yield root;
  for (let child = root.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === 1) yield* elements(child as XmldomElement);
  }
}

const isDsSignature = (node: { nodeType: number; namespaceURI?: string | null; localName?: string | null }) =>
  node.nodeType === 1 && node.namespaceURI === NS.ds && node.localName === 'Signature';

/** The elements that carry an enveloped ds:Signature as a direct child. */
function signedElements(xml: string): XmldomElement[] {
  const doc = parse(xml);
  return [...elements(doc.documentElement!)].filter((el) => {
    for (let c = el.firstChild; c !== null; c = c.nextSibling) if (isDsSignature(c as never)) return true;
    return false;
  });
}

/**
 * What a verifier digests for a signed element (enveloped-signature, then exc-c14n), computed here with
 * xml-crypto's canonicaliser, and the DigestValue the element carries.
 */
function digestOf(element: XmldomElement): { covered: string; digest: string; digestValue: string; algorithm: string } {
  const clone = element.cloneNode(true) as XmldomElement;
  let signature: XmldomElement | undefined;
  for (let c = clone.firstChild; c !== null; c = c.nextSibling) if (isDsSignature(c as never)) signature = c as XmldomElement;
  clone.removeChild(signature!);
  const covered = canonical(clone);
  const digestValue = signature!.getElementsByTagNameNS(NS.ds, 'DigestValue')[0]!.textContent!;
  const algorithm = signature!.getElementsByTagNameNS(NS.ds, 'DigestMethod')[0]!.getAttribute('Algorithm')!;
  const hash = algorithm.endsWith('#sha1') ? 'sha1' : 'sha256';
  return { covered, digest: createHash(hash).update(covered, 'utf8').digest('base64'), digestValue, algorithm };
}

/**
 * The emitted bytes are their own exclusive canonical form, element by element: the root as a whole, and
 * each signed element (as a substring of the emitted document, and as what its digest covers).
 * `sent` → `canonicalForm` undoes the one documented difference (xmlns:tn of boolean values).
 */
function assertCanonical(emitted: string, toCanonical: (xml: string) => string = (s) => s): void {
  const emittedCanonical = toCanonical(emitted);
  assert.equal(canonicalRoot(emitted), emittedCanonical, 'exc-c14n of the emitted document is the emitted document');
  for (const element of signedElements(emitted)) {
    const c14n = canonical(element);
    assert.ok(emittedCanonical.includes(c14n), `exc-c14n of signed <${element.localName}> appears byte for byte in the emitted document`);
    const { digest, digestValue } = digestOf(element);
    assert.equal(digest, digestValue, `the DigestValue of <${element.localName}> is the hash of its canonical form without the Signature`);
  }
}

function xmlsec1(xml: string, certPem: string, idAttr: string, element: string): { ok: boolean; output: string } {
  const name = Math.random().toString(36).slice(2);
  const file = join(scratch, `${name}.xml`);
  const cert = join(scratch, `${name}.pem`);
  writeFileSync(file, xml);
  writeFileSync(cert, certPem);
  const run = spawnSync('xmlsec1', ['--verify', '--pubkey-cert-pem', cert, `--id-attr:${idAttr}`, element, file], { encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw new Error(`xmlsec1 could not run (install Debian package xmlsec1): ${run.error.message}`);
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/**
 * xmlsec1 verifies the signature of every signed element, with only our certificate: the root in the
 * document as sent, an inner one (the assertion in a signed Response) standing alone, as an SP reads it
 * (xmlsec1 checks the first Signature of a document only).
 */
function assertXmlsec1(xml: string): void {
  const signed = signedElements(xml);
  assert.ok(signed.length > 0);
  for (const [i, element] of signed.entries()) {
    const saml11 = element.namespaceURI === SAML11_ASSERTION_NS;
    const result = xmlsec1(i === 0 ? xml : canonical(element), idp.certPem, saml11 ? 'AssertionID' : 'ID', `${element.namespaceURI}:${element.localName}`);
    assert.ok(result.ok, `xmlsec1 verifies <${element.localName}>: ${result.output}`);
  }
}

// ------------------------------------------------------------------------------------------ the cases

interface Case {
  name: string;
  /** Goes into text (AttributeValue, NameID) and attribute values (attribute names, FriendlyName, SessionIndex). */
  special: string;
  /** Also into the issuer, audience and reply URL (text in SAML 2.0; Issuer is an attribute in SAML 1.1). */
  endpoints?: string;
  attributes: { name: string; friendlyName?: string; values: string[]; boolean?: boolean }[];
  inResponseTo?: string;
}

const CLAIM = 'http://schemas.openfed.test/claims';
const ESCAPING: [string, string][] = [
  ['ampersand', 'R&D'],
  ['less-than and greater-than', 'a<b>c</b>'],
  ['double quote', 'say "hi"'],
  ['apostrophe', "O'Brien"],
  ['all five', `&<>"'`],
  ['non-ASCII é 日本 emoji', 'Zoë 日本語 😀'],
  ['CR', 'one\rtwo'],
  ['LF', 'one\ntwo'],
  ['CRLF', '1 Main Street\r\nSpringfield'],
  ['TAB', 'col1\tcol2'],
  ['entity-looking text', '&amp; &#xD; &lt;'],
  ['leading and trailing spaces', '  spaced  '],
];

const CASES: Case[] = [
  ...ESCAPING.map(([name, special]): Case => ({
    name,
    special,
    inResponseTo: '_req1',
    attributes: [
      { name: `${CLAIM}/value`, values: [special] },
      { name: `${CLAIM}/named ${special}`, friendlyName: `friendly ${special}`, values: [`x${special}y`, special] },
    ],
  })),
  { name: 'plain claims, InResponseTo present', special: 'plain', inResponseTo: '_req1', attributes: [{ name: `${CLAIM}/upn`, values: ['alice@corp.example'] }] },
  { name: 'InResponseTo absent (unsolicited)', special: 'plain', attributes: [{ name: `${CLAIM}/upn`, values: ['alice@corp.example'] }] },
  { name: 'InResponseTo with & and quotes', special: 'plain', inResponseTo: `_r&"'<>`, attributes: [{ name: `${CLAIM}/upn`, values: ['alice@corp.example'] }] },
  {
    name: 'issuer, audience and reply URL with & and quotes',
    special: 'endpoints',
    endpoints: `?a=1&b="2"&c='3'<>`,
    inResponseTo: '_req1',
    attributes: [{ name: `${CLAIM}/upn`, values: ['alice@corp.example'] }],
  },
  { name: 'empty values', special: '', inResponseTo: '_req1', attributes: [{ name: `${CLAIM}/empty`, values: [''] }, { name: `${CLAIM}/two-empty`, values: ['', 'x', ''] }] },
  {
    name: 'multi-valued attributes',
    special: 'multi',
    inResponseTo: '_req1',
    attributes: [
      { name: 'http://schemas.xmlsoap.org/claims/Group', values: ['Domain Users', 'Staff', 'R&D', 'Straße'] },
      { name: `${CLAIM}/one`, values: ['only'] },
    ],
  },
  { name: 'no attributes', special: 'none', inResponseTo: '_req1', attributes: [] },
  { name: 'attributes without values are left out', special: 'none', inResponseTo: '_req1', attributes: [{ name: `${CLAIM}/nothing`, values: [] }] },
  {
    name: 'boolean-typed claims (insidecorporatenetwork)',
    special: 'bool',
    inResponseTo: '_req1',
    attributes: [
      { name: 'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork', values: ['true'], boolean: true },
      { name: 'http://schemas.microsoft.com/2014/03/psso', values: ['false'], boolean: true },
      { name: `${CLAIM}/upn`, values: ['alice@corp.example'] },
    ],
  },
];

const issuerOf = (c: Case) => `https://sts.example.test/adfs/services/trust${c.endpoints ?? ''}`;
const audienceOf = (c: Case) => `https://sp.example.test/saml${c.endpoints ?? ''}`;
const acsOf = (c: Case) => `https://sp.example.test/acs${c.endpoints ?? ''}`;
const nameIdOf = (c: Case) => `user ${c.special}`;

function assertionInput(c: Case): AssertionInput {
  const now = clock.now();
  return {
    issuer: issuerOf(c),
    now,
    inResponseTo: c.inResponseTo,
    destination: acsOf(c),
    audience: audienceOf(c),
    nameId: { format: NAME_ID_FORMAT.persistent, value: nameIdOf(c) },
    authnInstant: now - 60_000,
    sessionIndex: `_sess ${c.special}`,
    authnContextClassRef: AUTHN_CONTEXT.passwordProtectedTransport,
    attributes: c.attributes.map((a) => ({ name: a.name, nameFormat: ATTRNAME_FORMAT.uri, friendlyName: a.friendlyName, values: a.values })),
    lifetimeMs: 60 * 60_000,
    skewMs: 5 * 60_000,
    deliveryMs: 5 * 60_000,
    newId: deterministicIds(),
  };
}

function tokenInput(c: Case, tokenType: TokenInput['tokenType'], algorithm: SignatureAlgorithm): TokenInput {
  const now = clock.now();
  return {
    issuer: issuerOf(c),
    realm: audienceOf(c),
    replyUrl: acsOf(c),
    now,
    lifetimeMs: 60 * 60_000,
    skewMs: 5 * 60_000,
    nameIdentifier: { format: NAME_ID_FORMAT.unspecified, value: nameIdOf(c) },
    claims: c.attributes.map((a) => ({ type: a.name, values: a.values, ...(a.boolean ? { valueType: 'boolean' as const } : {}) })),
    authnMethod: AUTHN_CONTEXT.passwordProtectedTransport,
    authnInstant: now - 60_000,
    sessionIndex: `_sess ${c.special}`,
    tokenType,
    key: idp,
    algorithm,
    newId: deterministicIds(),
  };
}

/** What node-saml and saml20 hand back for a multi-valued or single-valued attribute. */
const expectedValues = <T>(values: T[]) => (values.length === 1 ? values[0] : values);

/**
 * saml20 canonicalises with its own xml-crypto 0.8.1, which escapes text and attribute values alike
 * (& " < > CR): it computes a wrong digest for any token with '"' in text or '>', LF or TAB in an
 * attribute value, whoever signed it. For those it must give both paths the same verdict.
 */
const saml20CanVerify = (c: Case) => !/["\n\t>]/.test(c.special + (c.endpoints ?? ''));

// ------------------------------------------------------------------------------------------ escaping

describe('c14n escaping (xml/escape)', () => {
  for (const [name, special] of [...ESCAPING, ['empty', ''] as [string, string]]) {
    test(`${name}: text and attribute value are already canonical and read back unchanged`, () => {
      const xml = `<r a="${c14nAttribute(special)}">${c14nText(special)}</r>`;
      const root = parse(xml).documentElement!;
      assert.equal(canonical(root), xml, 'xml-crypto canonicalises it to the same bytes');
      assert.equal(root.getAttribute('a'), special);
      assert.equal(root.textContent, special);
    });
  }

  test('the exact c14n entities: text & < > CR; attributes & < " TAB LF CR; \' and > raw in attributes', () => {
    assert.equal(c14nText(`&<>"'\r\n\t`), `&amp;&lt;&gt;"'&#xD;\n\t`);
    assert.equal(c14nAttribute(`&<>"'\r\n\t`), `&amp;&lt;>&quot;'&#xD;&#xA;&#x9;`);
    assert.equal(c14nText('日本 😀 é'), '日本 😀 é', 'non-ASCII stays as UTF-8, never a character reference');
  });

  test('characters XML cannot carry are refused, never dropped', () => {
    for (const bad of ['nul\u0000', 'bell\u0007', 'vt\u000b', '\ufffe', 'lone \ud800 surrogate', 'lone \udc00 low']) {
      assert.throws(() => c14nText(bad), XmlTextError);
      assert.throws(() => c14nAttribute(bad), XmlTextError);
    }
  });
});

// ------------------------------------------------------------------------------------------ SAML 2.0

type Policy = { signAssertion: boolean; signResponse: boolean; algorithm: SignatureAlgorithm };
const SAML2_SHAPES: [string, Policy][] = [
  ['signed assertion', { signAssertion: true, signResponse: false, algorithm: 'rsa-sha256' }],
  ['signed assertion and Response', { signAssertion: true, signResponse: true, algorithm: 'rsa-sha256' }],
  ['signed Response only', { signAssertion: false, signResponse: true, algorithm: 'rsa-sha256' }],
  ['signed assertion and Response, rsa-sha1', { signAssertion: true, signResponse: true, algorithm: 'rsa-sha1' }],
];

function nodeSaml(c: Case, policy: Policy, decryptionPvk?: string): SAML {
  return new SAML({
    issuer: audienceOf(c),
    audience: audienceOf(c),
    callbackUrl: acsOf(c),
    idpCert: idp.certPem,
    idpIssuer: issuerOf(c),
    wantAssertionsSigned: policy.signAssertion,
    wantAuthnResponseSigned: policy.signResponse,
    validateInResponseTo: ValidateInResponseTo.never,
    ...(decryptionPvk ? { decryptionPvk } : {}),
  });
}

async function assertNodeSamlReads(xml: string, c: Case, policy: Policy, decryptionPvk?: string): Promise<void> {
  const { profile } = await nodeSaml(c, policy, decryptionPvk).validatePostResponseAsync({ SAMLResponse: Buffer.from(xml, 'utf8').toString('base64') });
  assert.ok(profile, 'node-saml accepts the Response');
  assert.equal(profile.nameID, nameIdOf(c));
  assert.equal(profile.issuer, issuerOf(c));
  for (const attribute of c.attributes) {
    // node-saml (xml2js) reads an empty AttributeValue as undefined, whichever path signed it; an
    // attribute without values is not sent at all.
    const expected = attribute.values.length === 0 ? undefined : expectedValues(attribute.values.map((v) => (v === '' ? undefined : v)));
    assert.deepEqual(profile[attribute.name], expected, `node-saml reads ${JSON.stringify(attribute.name)}`);
  }
}

describe('SAML 2.0 Response: fast path = library path', () => {
  for (const c of CASES) {
    for (const [shape, policy] of SAML2_SHAPES) {
      test(`${c.name} — ${shape}`, async () => {
        const built = buildSuccessResponse(assertionInput(c));
        const fast = await sealResponse(built, { ...policy, key: idp });

        // (b) the library path over the same unsigned XML, in the same order.
        let library = built.xml;
        if (policy.signAssertion) library = signElement(library, { key: idp, algorithm: policy.algorithm, referenceId: built.assertionId });
        if (policy.signResponse) library = signElement(library, { key: idp, algorithm: policy.algorithm, referenceId: built.responseId });
        assert.equal(canonicalRoot(library), fast, 'the library-signed Response, canonicalised, is the fast-path Response byte for byte');

        assertCanonical(fast);
        const signed = signedElements(fast);
        assert.deepEqual(
          signed.map((e) => e.localName),
          [...(policy.signResponse ? ['Response'] : []), ...(policy.signAssertion ? ['Assertion'] : [])],
          'one signature per element the policy asks for',
        );
        // The digest covers exactly the bytes the builder produced (the assertion: before any Response signature).
        const assertionElement = signed.find((e) => e.localName === 'Assertion');
        if (assertionElement) assert.equal(digestOf(assertionElement).covered, built.assertion.xml);
        if (!policy.signAssertion) assert.equal(digestOf(signed[0]!).covered, built.xml);

        for (const element of signed) {
          const verified = verifySignedRoot(canonical(element), { certificates: [idp.certificate], allowSha1: policy.algorithm === 'rsa-sha1' });
          assert.equal(verified.algorithm, policy.algorithm, `our verifier accepts <${element.localName}>`);
        }
        assertXmlsec1(fast);
        await assertNodeSamlReads(fast, c, policy);
      });
    }
  }
});

describe('SAML 2.0 Response with an encrypted assertion', () => {
  let sp: KeyPair;
  let spCert: X509Certificate;
  before(() => {
    sp = makeKeyPair('sp.example.test encryption');
    spCert = new X509Certificate(sp.certPem);
  });

  for (const c of CASES.filter((k) => ['CRLF', 'all five', 'non-ASCII é 日本 emoji', 'multi-valued attributes', 'empty values'].includes(k.name))) {
    for (const signResponse of [false, true]) {
      test(`${c.name} — signed assertion, encrypted${signResponse ? ', signed Response' : ''}`, async () => {
        const policy: Policy = { signAssertion: true, signResponse, algorithm: 'rsa-sha256' };
        const built = buildSuccessResponse(assertionInput(c));
        const fast = await sealResponse(built, { ...policy, key: idp, encryption: { certificate: spCert } });
        assert.doesNotMatch(fast, /<(Assertion|NameID|AttributeStatement)[ >]/, 'the assertion travels encrypted only');
        assert.match(fast, /<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2\.0:assertion"><xenc:EncryptedData /);
        assertCanonical(fast);

        if (signResponse) {
          // Same ciphertext for the library: the Response without its Signature, signed by xml-crypto.
          const signature = fast.slice(fast.indexOf('<ds:Signature '), fast.indexOf('</ds:Signature>') + '</ds:Signature>'.length);
          const unsigned = fast.replace(signature, '');
          const library = signElement(unsigned, { key: idp, algorithm: 'rsa-sha256', referenceId: built.responseId });
          assert.equal(canonicalRoot(library), fast, 'byte for byte after canonicalisation');
          assertXmlsec1(fast);
        }
        // node-saml decrypts, verifies the assertion signature inside, and reads every value.
        await assertNodeSamlReads(fast, c, policy, sp.keyPem);
      });
    }
  }
});

// ------------------------------------------------------------------------------------------ WS-Federation

const WSFED_SHAPES: [string, TokenInput['tokenType'], SignatureAlgorithm][] = [
  ['SAML 1.1', 'saml11', 'rsa-sha256'],
  ['SAML 1.1, rsa-sha1', 'saml11', 'rsa-sha1'],
  ['SAML 2.0', 'saml2', 'rsa-sha256'],
];

const assertionIn = (wresult: string) => /<(saml:)?Assertion [\s\S]*<\/(saml:)?Assertion>/.exec(wresult)![0];
const toCanonical = (xml: string) => xml.replaceAll(BOOLEAN_VALUE_SENT, BOOLEAN_VALUE_CANONICAL);

describe('WS-Federation token: fast path = library path', () => {
  for (const c of CASES) {
    for (const [shape, tokenType, algorithm] of WSFED_SHAPES) {
      test(`${c.name} — ${shape}`, async () => {
        const input = tokenInput(c, tokenType, algorithm);
        const unsigned = buildTokenAssertion(input);
        const fast = signTokenAssertion(unsigned, input);
        // The RSTR carries exactly this assertion (same ids, same clock).
        assert.equal(assertionIn(buildSignInResponse(tokenInput(c, tokenType, algorithm))), fast);

        // The library signs what we send unsigned: the canonical form with xmlns:tn kept on boolean values.
        const sentUnsigned = unsigned.xml.replaceAll(BOOLEAN_VALUE_CANONICAL, BOOLEAN_VALUE_SENT);
        const library = signElement(sentUnsigned, { key: idp, algorithm, referenceId: unsigned.id });
        assert.equal(canonicalRoot(library), toCanonical(fast), 'the library-signed assertion, canonicalised, is the fast-path one byte for byte');
        assertCanonical(fast, toCanonical);
        assert.equal(digestOf(signedElements(fast)[0]!).covered, unsigned.xml, 'the digest covers the bytes as built');
        if (c.attributes.some((a) => a.boolean) && tokenType === 'saml11') {
          assert.ok(fast.includes(BOOLEAN_VALUE_SENT), 'boolean values keep xmlns:tn, so b:type="tn:boolean" resolves');
          assert.ok(!fast.includes(BOOLEAN_VALUE_CANONICAL));
        }

        const element = signedElements(fast)[0]!;
        assert.equal(element.localName, 'Assertion');
        if (tokenType === 'saml11') {
          assert.ok(fast.endsWith('</ds:Signature></saml:Assertion>'), 'SAML 1.1: the Signature is the last child');
        } else {
          assert.match(fast, /^<Assertion [^>]*><Issuer>[^<]*<\/Issuer><ds:Signature /, 'SAML 2.0: the Signature right after Issuer');
        }
        assert.equal(verifySignedRoot(fast, { certificates: [idp.certificate], allowSha1: algorithm === 'rsa-sha1' }).algorithm, algorithm);
        assertXmlsec1(fast);

        const saml20 = (xml: string) => validateWithSaml20(xml, { certificateBase64: idp.certificateBase64, audience: audienceOf(c) }).catch(() => undefined);
        const profile = await saml20(fast);
        assert.equal(Boolean(profile), Boolean(await saml20(library)), 'saml20 gives both paths the same verdict');
        if (!saml20CanVerify(c)) return;
        assert.ok(profile, 'saml20 accepts the token');
        if (tokenType === 'saml11') {
          assert.equal(profile.issuer, issuerOf(c));
          for (const attribute of c.attributes) {
            if (attribute.values.length === 0) continue;
            const { namespace, name } = splitClaimType(attribute.name);
            // saml20 (xml2js) reads an empty element as '' and drops it from the claims: compare what it keeps.
            const read: string | string[] | undefined = profile.claims[`${namespace}/${name}`];
            if (attribute.values.every((v) => v !== '')) assert.deepEqual(read, expectedValues(attribute.values), `saml20 reads ${attribute.name}`);
          }
        }
      });
    }
  }
});

// ------------------------------------------------------------------------------------------ refusals

describe('signCanonical refuses what it cannot sign safely', () => {
  const unsigned = () => buildSuccessResponse(assertionInput(CASES[0]!)).assertion;
  const sign = (element: Parameters<typeof signCanonical>[0], algorithm = 'rsa-sha256' as SignatureAlgorithm, key = idp as typeof idp) => () =>
    signCanonical(element, { key, algorithm });
  const code = (c: string) => (err: unknown) => err instanceof XmlError && err.code === c;

  test('unknown algorithm, an id that is not an NCName or not on the element, a position outside the element', () => {
    const a = unsigned();
    assert.throws(sign(a, 'rsa-md5' as SignatureAlgorithm), code('signature_algorithm'));
    assert.throws(sign({ ...a, id: '_x"><evil' }), code('signature_reference'));
    assert.throws(sign({ ...a, id: '_id9999' }), code('signature_reference'));
    assert.throws(sign({ ...a, signatureAt: 0 }), code('signature_reference'));
    assert.throws(sign({ ...a, signatureAt: a.xml.length }), code('signature_reference'));
    assert.throws(sign({ ...a, signatureAt: a.signatureAt - 2 }), code('signature_reference'), 'inside a tag');
  });

  test('a certificate that is not base64, a key that is not RSA', async () => {
    const a = unsigned();
    assert.throws(sign(a, 'rsa-sha256', { ...idp, certificateBase64: 'MII</ds:X509Certificate>' }), code('untrusted_key'));
    const { generateKeyPairSync } = await import('node:crypto');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(sign(a, 'rsa-sha256', { ...idp, privateKey: ec }), code('untrusted_key'));
  });

  test('a token signed with another key, or altered after signing, is refused by xmlsec1 and by our verifier', () => {
    const a = unsigned();
    const forged = signCanonical(a, { key: attacker, algorithm: 'rsa-sha256' });
    assert.equal(xmlsec1(forged, idp.certPem, 'ID', `${NS.saml}:Assertion`).ok, false);
    const tampered = signCanonical(a, { key: idp, algorithm: 'rsa-sha256' }).replace('R&amp;D', 'R&amp;E');
    assert.notEqual(tampered, signCanonical(a, { key: idp, algorithm: 'rsa-sha256' }));
    assert.equal(xmlsec1(tampered, idp.certPem, 'ID', `${NS.saml}:Assertion`).ok, false);
    assert.throws(() => verifySignedRoot(tampered, { certificates: [idp.certificate] }), XmlError);
  });
});

describe('token ids', () => {
  test('newSamlId: xs:ID values with 128 random bits, all distinct across refills of its random pool', () => {
    const ids = Array.from({ length: 1000 }, () => newSamlId());
    for (const id of ids) assert.match(id, /^_[0-9a-f]{32}$/);
    assert.equal(new Set(ids).size, ids.length);
  });
});
