import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  attribute,
  childElements,
  hasSignature,
  isElement,
  NS,
  optionalChild,
  parseXml,
  requiredChild,
  textOf,
  XmlError,
  type XmlErrorCode,
} from '../../src/xml/index.js';

function assertCode(fn: () => unknown, code: XmlErrorCode): void {
  assert.throws(fn, (error: unknown) => error instanceof XmlError && error.code === code);
}

const doc = (body: string, attrs = '') =>
  `<samlp:AuthnRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" xmlns:ds="${NS.ds}" ID="_r"${attrs}>${body}</samlp:AuthnRequest>`;

describe('parseXml', () => {
  test('maxBytes counts UTF-8 bytes and is checked before parsing', () => {
    const xml = `<a>${'€'.repeat(10)}</a>`; // 7 + 30 bytes, 17 UTF-16 units
    assert.equal(parseXml(xml, { maxBytes: 37 }).documentElement!.localName, 'a');
    assertCode(() => parseXml(xml, { maxBytes: 36 }), 'too_large');
    // Not even well-formed, yet too_large: size is the first gate.
    assertCode(() => parseXml('<'.repeat(300_000)), 'too_large');
  });

  test('the XML declaration, comments and whitespace around the root are fine', () => {
    const parsed = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n${doc('')}\n<!-- c -->\n`);
    assert.equal(parsed.documentElement!.localName, 'AuthnRequest');
  });

  test('DTD markup is refused even where it would be inert', () => {
    assertCode(() => parseXml(doc('<!-- <!DOCTYPE x> -->')), 'dtd');
    assertCode(() => parseXml(doc('<![CDATA[<!ENTITY x "y">]]>')), 'dtd');
    assertCode(() => parseXml('<!doctype a><a/>'), 'dtd');
  });

  test('processing instructions, extra roots, depth, duplicates', () => {
    assertCode(() => parseXml(`${doc('')}<?pi?>`), 'unexpected_content');
    assertCode(() => parseXml(`<?pi?><?xml version="1.0"?>${doc('')}`), 'malformed');
    assertCode(() => parseXml(`${doc('')}${doc('')}`), 'not_single_root');
    assertCode(() => parseXml('just text'), 'not_single_root');
    assert.ok(parseXml(`${'<a>'.repeat(10)}${'</a>'.repeat(10)}`, { maxDepth: 10 }));
    assertCode(() => parseXml(`${'<a>'.repeat(11)}${'</a>'.repeat(11)}`, { maxDepth: 10 }), 'too_large');
    assertCode(() => parseXml(doc('', ' Id="_r"')), 'duplicate_id'); // same value twice on one element
    assertCode(() => parseXml(doc('<saml:Issuer AssertionID="_r"/>')), 'duplicate_id');
    assertCode(() => parseXml('<a b="1" b="2"/>'), 'malformed');
  });

  test('every failure is an XmlError, never a raw parser exception', () => {
    for (const xml of ['', '<', '<a', '<a></b>', '<a>&bogus;</a>', '<a>&#0;</a>', '<a>&#x1F;</a>', '<a b="&#xFFFE;"/>', '<a>\u0001</a>', '<a>&#xD800;</a>', '<x:a/>', '\u0000', '<a/>\u0000']) {
      assert.throws(() => parseXml(xml), XmlError, JSON.stringify(xml));
    }
  });
});

describe('query', () => {
  const root = parseXml(
    doc(
      '<saml:Issuer>a<![CDATA[&b]]> c </saml:Issuer>' +
        '<evil:Issuer xmlns:evil="urn:evil">x</evil:Issuer>' +
        '<samlp:Extensions><saml:Issuer>nested</saml:Issuer></samlp:Extensions>' +
        '<saml:Subject/><saml:Subject/>' +
        '<saml:NameID>a<!---->b</saml:NameID><saml:Audience>a<saml:B/></saml:Audience><saml:Empty/>',
      ' x:Format="ns" Format="plain" xmlns:x="urn:x"',
    ),
  ).documentElement!;

  test('childElements is namespace-exact and direct-children-only', () => {
    assert.equal(childElements(root, NS.saml, 'Issuer').length, 1);
    assert.equal(childElements(root, 'urn:evil', 'Issuer').length, 1);
    assert.equal(childElements(root, NS.samlp, 'Issuer').length, 0);
  });

  test('optionalChild / requiredChild refuse duplicates and absence', () => {
    assert.equal(optionalChild(root, NS.saml, 'Conditions'), undefined);
    assertCode(() => optionalChild(root, NS.saml, 'Subject'), 'duplicate_element');
    assertCode(() => requiredChild(root, NS.saml, 'Subject'), 'duplicate_element');
    assertCode(() => requiredChild(root, NS.saml, 'Conditions'), 'unexpected_content');
    assert.equal(requiredChild(root, NS.saml, 'Issuer').localName, 'Issuer');
  });

  test('textOf joins text and CDATA untrimmed, and refuses comments and elements', () => {
    assert.equal(textOf(requiredChild(root, NS.saml, 'Issuer')), 'a&b c ');
    assert.equal(textOf(requiredChild(root, NS.saml, 'Empty')), '');
    assertCode(() => textOf(requiredChild(root, NS.saml, 'NameID')), 'unexpected_content');
    assertCode(() => textOf(requiredChild(root, NS.saml, 'Audience')), 'unexpected_content');
  });

  test('attribute reads only the non-namespaced attribute', () => {
    assert.equal(attribute(root, 'Format'), 'plain');
    assert.equal(attribute(root, 'ID'), '_r');
    assert.equal(attribute(root, 'Missing'), undefined);
    assert.equal(attribute(root, 'xmlns'), undefined);
    const onlyNamespaced = parseXml('<a xmlns:x="urn:x" x:ID="1"/>').documentElement!;
    assert.equal(attribute(onlyNamespaced, 'ID'), undefined);
  });

  test('isElement and hasSignature', () => {
    const issuerText = root.firstChild!.firstChild!;
    assert.equal(isElement(root, NS.samlp, 'AuthnRequest'), true);
    assert.equal(isElement(root, NS.saml, 'AuthnRequest'), false);
    assert.equal(isElement(issuerText, NS.saml, 'Issuer'), false);
    assert.equal(hasSignature(root), false);
    assert.equal(hasSignature(parseXml(doc('<samlp:Extensions><ds:Signature/></samlp:Extensions>')).documentElement!), false);
    assert.equal(hasSignature(parseXml(doc('<ds:Signature/>')).documentElement!), true);
  });
});
