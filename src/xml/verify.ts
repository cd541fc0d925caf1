/**
 * Enveloped-signature verification of a whole message, shaped so that callers cannot consume unsigned
 * bytes: the result is a fresh document parsed from exactly what the signature's Reference covered.
 *
 * xml-crypto does the cryptography and canonicalisation. Everything around it is a whitelist of the one
 * signature shape SAML and WS-Fed need (one Reference to the root, enveloped + exc-c14n), because every
 * XSW variant and the 2025 xml-crypto bypasses live in the shapes a general-purpose verifier tolerates.
 */
import type { X509Certificate } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { XmlError } from './errors.js';
import { ALG, NS } from './namespaces.js';
import { parseXml } from './parse.js';
import {
  attribute,
  childElements,
  COMMENT_NODE,
  ELEMENT_NODE,
  TEXT_NODE,
  textOf,
  type Document,
  type Element,
  type Node,
} from './query.js';

export type SignatureAlgorithm = 'rsa-sha256' | 'rsa-sha1';

/**
 * A relying party's `signatureAlgorithm` setting ('sha256' | 'sha1', in configuration and metadata) as
 * the XML layer names it: the one mapping, so sha1 is chosen only where an RP was configured for it.
 */
export function signatureAlgorithmFor(setting: 'sha256' | 'sha1'): SignatureAlgorithm {
  return setting === 'sha1' ? 'rsa-sha1' : 'rsa-sha256';
}

export interface VerifyOptions {
  /** The only keys that count; KeyInfo in the message is ignored. */
  certificates: readonly X509Certificate[];
  /** Default false: rsa-sha1 signatures and sha1 digests are refused with 'signature_algorithm'. */
  allowSha1?: boolean;
  maxBytes?: number;
}

export interface VerifiedXml {
  /** Parsed from the signed bytes only (canonical form, Signature removed). */
  document: Document;
  root: Element;
  certificate: X509Certificate;
  algorithm: SignatureAlgorithm;
}

/** The direct ds:Signature child test — for callers deciding whether a signature is required. */
export function hasSignature(root: Element): boolean {
  return childElements(root, NS.ds, 'Signature').length > 0;
}

export function verifySignedRoot(xml: string, options: VerifyOptions): VerifiedXml {
  if (options.certificates.length === 0) throw new XmlError('untrusted_key', 'no certificates configured');

  const doc = parseXml(xml, { maxBytes: options.maxBytes });
  const root = doc.documentElement!;
  const signatures = childElements(root, NS.ds, 'Signature');
  if (signatures.length === 0) throw new XmlError('signature_missing', `<${root.localName}> is not signed`);
  if (signatures.length > 1) throw new XmlError('duplicate_element', `<${root.localName}> has ${signatures.length} signatures`);
  const signature = signatures[0]!;

  const algorithm = checkSignatureShape(signature, idOf(root), options.allowSha1 ?? false);

  // Digests do not depend on the key, so a digest mismatch is tampering whatever certificate we try.
  // Only a SignatureValue that no configured key accepts is 'untrusted_key' — that also covers a corrupted
  // value, since without trusting KeyInfo the two cannot be told apart.
  for (const certificate of options.certificates) {
    const outcome = checkWith(certificate, signature, xml);
    if (outcome === 'digest_mismatch') throw new XmlError('signature_invalid', 'signed content does not match its digest');
    if (outcome !== 'wrong_key') return { ...signedContent(outcome, options.maxBytes), certificate, algorithm };
  }
  throw new XmlError('untrusted_key', 'no configured certificate verifies the signature');
}

function checkWith(certificate: X509Certificate, signature: Element, xml: string): SignedXml | 'digest_mismatch' | 'wrong_key' {
  const signed = new SignedXml({
    publicCert: certificate.publicKey,
    // Never take a key from the message (xml-crypto 6 defaults to this too; say it anyway).
    getCertFromKeyInfo: () => null,
    idAttribute: 'AssertionID',
  });
  try {
    // xml-crypto types its DOM against lib.dom's Node; at runtime it is the same xmldom tree it parses itself.
    signed.loadSignature(signature as unknown as Parameters<SignedXml['loadSignature']>[0]);
    // The string parseXml accepted, so xml-crypto's own (lenient) parse builds the same tree.
    return signed.checkSignature(xml) ? signed : 'digest_mismatch';
  } catch (error) {
    if (isSignatureValueMismatch(error)) return 'wrong_key';
    throw new XmlError('signature_invalid', 'signature could not be verified', { cause: error });
  }
}

function isSignatureValueMismatch(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('invalid signature: the signature value');
}

/** "Verify, then use only the signed bytes": re-parse what the Reference digested, nothing else. */
function signedContent(signed: SignedXml, maxBytes: number | undefined): { document: Document; root: Element } {
  const references = signed.getSignedReferences();
  if (references.length !== 1) {
    throw new XmlError('signature_reference', `expected 1 signed reference, got ${references.length}`);
  }
  const document = parseXml(references[0]!, { maxBytes });
  return { document, root: document.documentElement! };
}

function idOf(root: Element): string {
  const id = attribute(root, 'ID');
  const assertionId = attribute(root, 'AssertionID');
  if (id !== undefined && assertionId !== undefined) {
    throw new XmlError('signature_reference', `<${root.localName}> has both ID and AssertionID`);
  }
  const value = id ?? assertionId;
  if (value === undefined || value === '') {
    throw new XmlError('signature_reference', `<${root.localName}> has no ID to reference`);
  }
  return value;
}

/**
 * Whitelists the Signature element down to the shape we sign ourselves. Returns the signature algorithm.
 * KeyInfo is allowed (peers send it) but never read; ds:Object is refused (XSW8 hides its payload there).
 */
function checkSignatureShape(signature: Element, rootId: string, allowSha1: boolean): SignatureAlgorithm {
  const [signedInfo, signatureValue, ...rest] = elementChildren(signature);
  if (!isDs(signedInfo, 'SignedInfo') || !isDs(signatureValue, 'SignatureValue')) {
    throw new XmlError('unexpected_content', 'Signature must start with SignedInfo, SignatureValue');
  }
  if (rest.length > 1 || (rest.length === 1 && !isDs(rest[0], 'KeyInfo'))) {
    throw new XmlError('unexpected_content', 'Signature may only end with one KeyInfo');
  }
  textOf(signatureValue);

  const [c14nMethod, signatureMethod, reference, ...extra] = elementChildren(signedInfo);
  if (!isDs(c14nMethod, 'CanonicalizationMethod') || !isDs(signatureMethod, 'SignatureMethod')) {
    throw new XmlError('unexpected_content', 'SignedInfo must start with CanonicalizationMethod, SignatureMethod');
  }
  if (!isDs(reference, 'Reference')) throw new XmlError('signature_reference', 'SignedInfo has no Reference');
  if (extra.length > 0) throw new XmlError('signature_reference', 'SignedInfo must hold exactly one Reference');

  requireExcC14n(c14nMethod, 'CanonicalizationMethod');
  const algorithm = signatureAlgorithmOf(algorithmOf(signatureMethod), allowSha1);
  if (elementChildren(signatureMethod).length > 0) {
    throw new XmlError('unexpected_content', 'SignatureMethod has children');
  }

  if (attribute(reference, 'URI') !== `#${rootId}`) {
    throw new XmlError('signature_reference', 'Reference URI does not point at the signed root');
  }
  const [transforms, digestMethod, digestValue, ...refExtra] = elementChildren(reference);
  if (!isDs(transforms, 'Transforms') || !isDs(digestMethod, 'DigestMethod') || !isDs(digestValue, 'DigestValue') || refExtra.length > 0) {
    throw new XmlError('unexpected_content', 'Reference must be Transforms, DigestMethod, DigestValue');
  }
  checkTransforms(transforms);
  checkDigestAlgorithm(algorithmOf(digestMethod), allowSha1);
  // A comment inside DigestValue was CVE-2025-29775; textOf refuses it.
  textOf(digestValue);
  return algorithm;
}

/** Enveloped-signature first (it must be: the Signature sits inside what it signs), then optionally exc-c14n. */
function checkTransforms(transforms: Element): void {
  const list = elementChildren(transforms);
  const [first, second, ...more] = list;
  if (!isDs(first, 'Transform') || algorithmOf(first) !== ALG.envelopedSignature || elementChildren(first).length > 0) {
    throw new XmlError('signature_algorithm', 'first transform must be enveloped-signature');
  }
  if (more.length > 0) throw new XmlError('signature_algorithm', 'at most two transforms are allowed');
  if (second === undefined) return;
  if (!isDs(second, 'Transform')) throw new XmlError('unexpected_content', 'Transforms holds a non-Transform element');
  requireExcC14n(second, 'Transform');
}

/** exc-c14n, optionally with an InclusiveNamespaces PrefixList (AD FS and Shibboleth emit one); never WithComments. */
function requireExcC14n(el: Element, what: string): void {
  const algorithm = algorithmOf(el);
  if (algorithm !== ALG.excC14n) throw new XmlError('signature_algorithm', `${what} algorithm ${algorithm} is not allowed`);
  for (const child of elementChildren(el)) {
    if (child.namespaceURI !== ALG.excC14n || child.localName !== 'InclusiveNamespaces') {
      throw new XmlError('unexpected_content', `${what} has an unexpected child`);
    }
  }
}

function signatureAlgorithmOf(uri: string, allowSha1: boolean): SignatureAlgorithm {
  if (uri === ALG.rsaSha256) return 'rsa-sha256';
  if (uri === ALG.rsaSha1 && allowSha1) return 'rsa-sha1';
  throw new XmlError('signature_algorithm', `signature algorithm ${uri} is not allowed`);
}

function checkDigestAlgorithm(uri: string, allowSha1: boolean): void {
  if (uri === ALG.sha256 || (uri === ALG.sha1 && allowSha1)) return;
  throw new XmlError('signature_algorithm', `digest algorithm ${uri} is not allowed`);
}

function algorithmOf(el: Element): string {
  const algorithm = attribute(el, 'Algorithm');
  if (algorithm === undefined) throw new XmlError('unexpected_content', `<${el.localName}> has no Algorithm`);
  return algorithm;
}

function isDs(el: Element | undefined, localName: string): el is Element {
  return el !== undefined && el.namespaceURI === NS.ds && el.localName === localName;
}

/** Child elements in order; text must be whitespace, comments are ignored (c14n drops them too). */
function elementChildren(parent: Element): Element[] {
  const elements: Element[] = [];
  for (let node: Node | null = parent.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === ELEMENT_NODE) elements.push(node as Element);
    else if (node.nodeType === TEXT_NODE && (node.nodeValue ?? '').trim() !== '') {
      throw new XmlError('unexpected_content', `<${parent.localName}> has text between elements`);
    } else if (node.nodeType !== TEXT_NODE && node.nodeType !== COMMENT_NODE) {
      throw new XmlError('unexpected_content', `<${parent.localName}> has unexpected content`);
    }
  }
  return elements;
}
