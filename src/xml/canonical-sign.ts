/**
 * The fast path for what OpenFed emits. A token element we build ourselves is written directly in
 * Exclusive XML Canonicalization form (escape.ts: c14nText / c14nAttribute, attributes in canonical order,
 * no empty-element tags), so its digest is a hash of the bytes as built; SignedInfo is written canonically
 * too and signed once with the pre-parsed KeyObject. No parser, DOM, XPath or generic canonicaliser runs
 * per token: generic canonicalisation of our own output cost about three times the RSA signature itself.
 *
 * The ds:Signature has the shape signElement (xml-crypto) produces, and that verify.ts, xmlsec1, node-saml,
 * AD FS and Entra ID accept: prefix ds, one Reference to #id, enveloped-signature + exc-c14n, KeyInfo with
 * the certificate. test/xml/fast-sign.test.ts proves the two paths give the same canonical bytes.
 *
 * Everything we receive is still parsed and verified by parse.ts / verify.ts; signElement remains for
 * messages not built canonically (logout messages, metadata).
 */
import { createHash, sign } from 'node:crypto';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { XmlError } from './errors.js';
import { ALG, NS } from './namespaces.js';
import type { Element } from './query.js';
import type { SigningKeyMaterial } from './sign.js';
import type { SignatureAlgorithm } from './verify.js';

export interface CanonicalElement {
  /**
   * The element exactly as exc-c14n (without comments) writes it when it is the apex of the node set:
   * what a verifier digests once the enveloped-signature transform has taken the Signature out again.
   * The caller guarantees this; it is what the equivalence tests check for every builder.
   */
  xml: string;
  /** Its ID (SAML 1.1: AssertionID) value; the Reference URI is #id. */
  id: string;
  /** Offset in xml where ds:Signature goes: right after saml:Issuer (SAML 2.0), before the end tag (SAML 1.1). */
  signatureAt: number;
}

export interface CanonicalSignOptions {
  key: SigningKeyMaterial;
  /** rsa-sha256 → sha256 digest; rsa-sha1 → sha1 digest (for relying parties configured with sha1). */
  algorithm: SignatureAlgorithm;
}

interface Algorithm {
  hash: 'sha256' | 'sha1';
  /** SignedInfo's content up to the Reference URI's id. */
  head: string;
  /** From the end of the Reference URI up to the DigestValue text. */
  afterId: string;
}

function algorithm(hash: Algorithm['hash'], signature: string, digest: string): Algorithm {
  return {
    hash,
    head:
      `<ds:CanonicalizationMethod Algorithm="${ALG.excC14n}"></ds:CanonicalizationMethod>` +
      `<ds:SignatureMethod Algorithm="${signature}"></ds:SignatureMethod><ds:Reference URI="#`,
    afterId:
      `"><ds:Transforms><ds:Transform Algorithm="${ALG.envelopedSignature}"></ds:Transform>` +
      `<ds:Transform Algorithm="${ALG.excC14n}"></ds:Transform></ds:Transforms>` +
      `<ds:DigestMethod Algorithm="${digest}"></ds:DigestMethod><ds:DigestValue>`,
  };
}

const ALGORITHMS: Record<SignatureAlgorithm, Algorithm> = {
  'rsa-sha256': algorithm('sha256', ALG.rsaSha256, ALG.sha256),
  'rsa-sha1': algorithm('sha1', ALG.rsaSha1, ALG.sha1),
};

const SIGNED_INFO_CANONICAL = `<ds:SignedInfo xmlns:ds="${NS.ds}">`;
const SIGNATURE_START = `<ds:Signature xmlns:ds="${NS.ds}"><ds:SignedInfo>`;

// xs:ID is an NCName; checking it also keeps the value from breaking out of the URI attribute.
const NCNAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const START_TAG = /^<[^\s>]+(?: [^\s=]+="[^"]*")*>/;

/** KeyInfo per key material, built (and its certificate checked) once rather than per token. */
const keyInfos = new WeakMap<SigningKeyMaterial, string>();

function keyInfoOf(key: SigningKeyMaterial): string {
  let keyInfo = keyInfos.get(key);
  if (keyInfo === undefined) {
    if (!BASE64.test(key.certificateBase64)) throw new XmlError('untrusted_key', 'certificateBase64 is not base64');
    // rsa-sha1/rsa-sha256 name PKCS#1 v1.5: an rsa-pss or EC key would sign with another scheme under that name.
    if (key.privateKey.asymmetricKeyType !== 'rsa') throw new XmlError('untrusted_key', `expected an RSA key, got ${key.privateKey.asymmetricKeyType}`);
    keyInfo = `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>${key.certificateBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>`;
    keyInfos.set(key, keyInfo);
  }
  return keyInfo;
}

/** The element with its enveloped ds:Signature inserted at signatureAt; still in canonical form. */
export function signCanonical(element: CanonicalElement, options: CanonicalSignOptions): string {
  const alg = ALGORITHMS[options.algorithm];
  if (alg === undefined) throw new XmlError('signature_algorithm', `unknown signature algorithm ${String(options.algorithm)}`);
  const { xml, id, signatureAt } = element;
  if (!NCNAME.test(id)) throw new XmlError('signature_reference', 'the id is not an NCName');
  // Canonical attribute values never hold a raw '"' (it is &quot;), but may hold a raw '>'.
  const startTag = START_TAG.exec(xml)?.[0] ?? '';
  if (!startTag.includes(` ID="${id}"`) && !startTag.includes(` AssertionID="${id}"`)) {
    throw new XmlError('signature_reference', 'the element does not carry the id');
  }
  if (!(signatureAt > startTag.length && signatureAt < xml.length && xml[signatureAt - 1] === '>' && xml[signatureAt] === '<')) {
    throw new XmlError('signature_reference', 'the signature position is not between two tags of the element');
  }
  const keyInfo = keyInfoOf(options.key);

  const digest = createHash(alg.hash).update(xml, 'utf8').digest('base64');
  const signedInfo = `${alg.head}${id}${alg.afterId}${digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>`;
  // SignedInfo as the apex of its own canonicalisation declares the ds namespace it uses; inside
  // ds:Signature the declaration is inherited instead. Those are the only differing bytes.
  const signatureValue = sign(alg.hash, Buffer.from(SIGNED_INFO_CANONICAL + signedInfo, 'utf8'), options.key.privateKey).toString('base64');
  return `${xml.slice(0, signatureAt)}${SIGNATURE_START}${signedInfo}<ds:SignatureValue>${signatureValue}</ds:SignatureValue>${keyInfo}${xml.slice(signatureAt)}`;
}

/**
 * exc-c14n (without comments) of a parsed element, by xml-crypto: for markup we did not write ourselves
 * (xml-encryption's EncryptedData), where the canonical form cannot be had by construction.
 */
export function canonicalizeElement(element: Element): string {
  return new ExclusiveCanonicalization().process(element as unknown as Parameters<ExclusiveCanonicalization['process']>[0], {});
}
