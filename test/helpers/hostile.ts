/**
 * Hostile inputs for the HTTP-level security tests (test/security/): SAML Raider's eight signature
 * wrapping transformations applied to real signed AuthnRequests and LogoutRequests, hand-made XML
 * attacks, a seeded PRNG and mutators for bounded fuzzing, and assertions every refusal must meet.
 *
 * The XSW logic follows test/fixtures/xml/generate.ts (CompassSecurity/SAMLRaider XSWHelpers.java);
 * the signed element is always the document root here, so "next to the original" becomes a second
 * root and "appended to the root" becomes appended to the signed element itself.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import type { Response } from 'supertest';
import { NS } from '../../src/xml/namespaces.js';
import { signElement, type SigningKeyMaterial } from '../../src/xml/sign.js';
import type { KeyPair } from './saml.js';

// ------------------------------------------------------------------------------------ attacker values

/** What an attacker wants consumed; none of these may ever come back in any response. */
export const EVIL = {
  acs: 'https://evil-xsw.attacker.test/acs',
  issuer: 'https://evil-xsw.attacker.test/',
  nameId: 'evil-victim@attacker.test',
  sessionIndex: '_evilsessionindexattacker',
} as const;

/** Any of these in a response body or header means attacker data was reflected or followed. */
export const EVIL_MARKER = /attacker\.test|evil-xsw|evilsessionindex/i;

// ------------------------------------------------------------------------------------------ messages

export const newId = (): string => `_${randomBytes(12).toString('hex')}`;

export interface MessageOptions {
  issuer: string;
  destination: string;
  id?: string;
  acsUrl?: string;
  issueInstant?: Date;
}

export function authnRequestXml(o: MessageOptions): string {
  return (
    `<samlp:AuthnRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${o.id ?? newId()}" Version="2.0" ` +
    `IssueInstant="${(o.issueInstant ?? new Date()).toISOString()}" Destination="${o.destination}"` +
    (o.acsUrl ? ` AssertionConsumerServiceURL="${o.acsUrl}"` : '') +
    ` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${o.issuer}</saml:Issuer>` +
    `<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" AllowCreate="true"/>` +
    `</samlp:AuthnRequest>`
  );
}

export function logoutRequestXml(o: MessageOptions & { nameId?: string; sessionIndex?: string }): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${o.id ?? newId()}" Version="2.0" ` +
    `IssueInstant="${(o.issueInstant ?? new Date()).toISOString()}" Destination="${o.destination}">` +
    `<saml:Issuer>${o.issuer}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${o.nameId ?? 'somebody@corp.example'}</saml:NameID>` +
    `<samlp:SessionIndex>${o.sessionIndex ?? '_0123456789abcdef'}</samlp:SessionIndex>` +
    `</samlp:LogoutRequest>`
  );
}

export function keyMaterial(pair: KeyPair): SigningKeyMaterial {
  return { privateKey: createPrivateKey(pair.keyPem), certificateBase64: new X509Certificate(pair.certPem).raw.toString('base64') };
}

const idOfRoot = (xml: string): string => {
  const m = /\bID="([^"]+)"/.exec(xml);
  if (!m) throw new Error('hostile: message has no ID');
  return m[1]!;
};

/** Enveloped signature over the root, in the shape an SP (and OpenFed) signs; KeyInfo carries the signer's certificate. */
export function signRoot(xml: string, key: SigningKeyMaterial): string {
  return signElement(xml, { key, algorithm: 'rsa-sha256', referenceId: idOfRoot(xml) });
}

export const postBody = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');

// ------------------------------------------------------------------------------------------------ XSW

const parse = (xml: string): Document => new DOMParser().parseFromString(xml, 'text/xml');
const serialize = (node: Document | Element): string => new XMLSerializer().serializeToString(node);

function directChild(el: Element, ns: string, localName: string): Element {
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === 1 && node.namespaceURI === ns && (node as Element).localName === localName) return node as Element;
  }
  throw new Error(`hostile: <${el.localName}> has no <${localName}>`);
}

function withoutSignature(el: Element): Element {
  const copy = el.cloneNode(true) as Element;
  copy.removeChild(directChild(copy, NS.ds, 'Signature'));
  return copy;
}

/**
 * Rewrites a message with the attacker's values. The Issuer stays the real SP's by default: that is
 * the wrapping that gets past the relying-party lookup to the signature check. `issuer: true` swaps it too.
 */
function makeEvil(el: Element, swapIssuer: boolean): void {
  if (el.localName === 'AuthnRequest') el.setAttribute('AssertionConsumerServiceURL', EVIL.acs);
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType !== 1) continue;
    const child = node as Element;
    if (child.namespaceURI === NS.saml && child.localName === 'NameID') child.textContent = EVIL.nameId;
    if (child.namespaceURI === NS.samlp && child.localName === 'SessionIndex') child.textContent = EVIL.sessionIndex;
    if (swapIssuer && child.namespaceURI === NS.saml && child.localName === 'Issuer') child.textContent = EVIL.issuer;
  }
}

export const XSW_VARIANTS = [1, 2, 3, 4, 5, 6, 7, 8] as const;

/** SAML Raider's XSW<n> applied to a document whose root carries an enveloped signature. */
export function xsw(n: (typeof XSW_VARIANTS)[number], signedXml: string, options: { swapIssuer?: boolean } = {}): string {
  const swap = options.swapIssuer ?? false;
  const doc = parse(signedXml);
  const original = doc.documentElement!;
  const signature = directChild(original, NS.ds, 'Signature');
  const evilCopy = (): Element => {
    const evil = withoutSignature(original);
    makeEvil(evil, swap);
    return evil;
  };
  switch (n) {
    case 1:
    case 2: {
      const clean = withoutSignature(original);
      if (n === 1) signature.appendChild(clean);
      else original.insertBefore(clean, signature);
      makeEvil(original, swap);
      original.setAttribute('ID', '_evil');
      return serialize(doc);
    }
    case 3: {
      const evil = evilCopy();
      evil.setAttribute('ID', '_evil');
      return serialize(evil) + serialize(doc); // two roots
    }
    case 4: {
      const evil = evilCopy();
      evil.setAttribute('ID', '_evil');
      doc.removeChild(original);
      doc.appendChild(evil);
      evil.appendChild(original);
      return serialize(doc);
    }
    case 5:
    case 6: {
      const clean = withoutSignature(original);
      makeEvil(original, swap);
      original.setAttribute('ID', '_evil');
      (n === 5 ? original : signature).appendChild(clean);
      return serialize(doc);
    }
    case 7: {
      const extensions = doc.createElementNS(NS.samlp, 'samlp:Extensions');
      extensions.appendChild(evilCopy());
      original.insertBefore(extensions, original.firstChild);
      return serialize(doc);
    }
    case 8: {
      const object = doc.createElementNS(NS.ds, 'ds:Object');
      object.appendChild(withoutSignature(original));
      makeEvil(original, swap);
      signature.appendChild(object);
      return serialize(doc);
    }
  }
}

/** Signature exclusion: the signed message tampered with and its Signature simply removed. */
export function excludeSignature(signedXml: string): string {
  const doc = parse(signedXml);
  const root = doc.documentElement!;
  root.removeChild(directChild(root, NS.ds, 'Signature'));
  makeEvil(root, false);
  return serialize(doc);
}

/** The message with the attacker's values, signed again by the attacker (whose certificate ends up in KeyInfo). */
export function resignedByAttacker(unsignedXml: string, attacker: SigningKeyMaterial): string {
  const doc = parse(unsignedXml);
  makeEvil(doc.documentElement!, false);
  return signRoot(serialize(doc), attacker);
}

// ------------------------------------------------------------------------------------- refusal checks

const STACK_TRACE = /\n\s+at [^\n]+\(|node_modules|\.ts:\d+:\d+|\bTypeError\b|\bReferenceError\b|XmlError|ProtocolError/;

/** A refusal as a page: 4xx, a correlation id, no stack trace, no POST-binding form, nothing followed. */
export function assertRefusedPage(res: Response, what: string): void {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status}: ${res.text.slice(0, 300)}`);
  assert.match(res.text, /id="reference">[0-9a-f-]{36}</, `${what}: the error page carries a correlation id`);
  assert.doesNotMatch(res.text, STACK_TRACE, `${what}: no stack trace or internal names`);
  assert.doesNotMatch(res.text, /id="post-binding"|name="SAMLResponse"|name="wresult"/, `${what}: no token form`);
  assert.equal(res.headers.location, undefined, `${what}: no redirect`);
  assertNoEvil(res, what);
}

export function assertNoEvil(res: Response, what: string): void {
  assert.doesNotMatch(res.text ?? '', EVIL_MARKER, `${what}: attacker value reflected in the body`);
  assert.doesNotMatch(JSON.stringify(res.headers), EVIL_MARKER, `${what}: attacker value reflected in a header`);
}

/**
 * Every place a response can send a browser: Location, form actions, links the page follows itself
 * (redirect page, return link), meta refresh. Relative ones resolve against `base`.
 */
export function destinationsOf(res: Response, base: string): URL[] {
  const found: string[] = [];
  if (typeof res.headers.location === 'string') found.push(res.headers.location);
  const html = res.text ?? '';
  for (const m of html.matchAll(/<form\b[^>]*\baction="([^"]*)"/gi)) found.push(m[1]!);
  for (const m of html.matchAll(/<a\b[^>]*\bid="(?:continue|return)"[^>]*\bhref="([^"]*)"/gi)) found.push(m[1]!);
  for (const m of html.matchAll(/<a\b[^>]*\bhref="([^"]*)"[^>]*\bid="(?:continue|return)"/gi)) found.push(m[1]!);
  for (const m of html.matchAll(/http-equiv="refresh"[^>]*content="[^"]*url=([^"]*)"/gi)) found.push(m[1]!);
  const unescape = (s: string) => s.replace(/&amp;/g, '&').replace(/&#x2F;/gi, '/').replace(/&#47;/g, '/').replace(/&#34;/g, '"').replace(/&quot;/g, '"');
  return found.map((u) => new URL(unescape(u), base));
}

export function assertOnlyHosts(res: Response, base: string, allowedHosts: readonly string[], what: string): void {
  for (const url of destinationsOf(res, base)) {
    assert.ok(allowedHosts.includes(url.host), `${what}: sends the browser to ${url.href}, not a registered host`);
  }
}

// --------------------------------------------------------------------------------------------- fuzzing

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  '<', '>', '&', '"', "'", '/', '=', '<!---->', '<![CDATA[x]]>', '&amp;', '&#0;', '&#x10FFFF;', '&bogus;', '<?pi x?>',
  '<saml:Issuer>x</saml:Issuer>', '<samlp:Extensions/>', ' xmlns:saml="urn:evil"', ' ID="_dup"', ' xmlns="urn:x"', '\u0000',
  '\uFFFE', '\uD800', 'é', '\u202E', '</samlp:AuthnRequest>', '<a><b><c>', '<!DOCTYPE x>', ' Version="3.0"', '%00', '\r\n',
];

/** One random structural mutation of a string (XML or parameter value). */
export function mutate(input: string, rand: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const at = Math.floor(rand() * (input.length + 1));
  const len = 1 + Math.floor(rand() * 16);
  switch (Math.floor(rand() * 8)) {
    case 0: // delete a range
      return input.slice(0, at) + input.slice(at + len);
    case 1: // insert a hostile snippet
      return input.slice(0, at) + pick(SNIPPETS) + input.slice(at);
    case 2: // replace one character with a random code unit
      return input.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x3000)) + input.slice(at + 1);
    case 3: // duplicate a range
      return input.slice(0, at + len) + input.slice(at, at + len) + input.slice(at);
    case 4: // truncate
      return input.slice(0, at);
    case 5: // swap two ranges
    {
      const other = Math.floor(rand() * (input.length + 1));
      const [a, b] = at < other ? [at, other] : [other, at];
      return input.slice(0, a) + input.slice(b, b + len) + input.slice(a + len, b) + input.slice(a, a + len) + input.slice(b + len);
    }
    case 6: // flip a bit of an ASCII character
    {
      const c = input.charCodeAt(at);
      return Number.isNaN(c) ? input + '\u0001' : input.slice(0, at) + String.fromCharCode(c ^ (1 << Math.floor(rand() * 7))) + input.slice(at + 1);
    }
    default: // repeat a snippet many times
      return input.slice(0, at) + pick(SNIPPETS).repeat(1 + Math.floor(rand() * 200)) + input.slice(at);
  }
}

/** 1–3 stacked mutations. */
export function mutateSome(input: string, rand: () => number): string {
  let out = input;
  for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) out = mutate(out, rand);
  return out;
}
