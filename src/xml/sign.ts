/**
 * Enveloped XML signatures in the one shape verifySignedRoot accepts (and AD FS, Entra ID, xmlsec1 and
 * node-saml verify): one Reference to the element's ID, enveloped-signature + exc-c14n, KeyInfo carrying
 * the certificate.
 */
import type { KeyObject } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { XmlError } from './errors.js';
import { ALG, NS, SAML11_ASSERTION_NS } from './namespaces.js';
import { parseXml } from './parse.js';
import { attribute, childElements, ELEMENT_NODE, type Document, type Element } from './query.js';
import type { SignatureAlgorithm } from './verify.js';

export interface SigningKeyMaterial {
  privateKey: KeyObject;
  /** DER, base64, for ds:X509Certificate. */
  certificateBase64: string;
}

export interface SignOptions {
  key: SigningKeyMaterial;
  /** rsa-sha256 → sha256 digest; rsa-sha1 → sha1 digest. */
  algorithm: SignatureAlgorithm;
  /**
   * The element to sign, found by its ID (or SAML 1.1 AssertionID) value. The Signature goes right after
   * its saml:Issuer child if there is one, else first — except SAML 1.1 assertions, whose schema puts it last.
   */
  referenceId: string;
  /** Input size limit (default as parseXml). */
  maxBytes?: number;
}

const ALGORITHMS: Record<SignatureAlgorithm, { signature: string; digest: string }> = {
  'rsa-sha256': { signature: ALG.rsaSha256, digest: ALG.sha256 },
  'rsa-sha1': { signature: ALG.rsaSha1, digest: ALG.sha1 },
};

// xs:ID is an NCName. Checking it also keeps the value from breaking out of the XPath literals below.
const NCNAME = /^[A-Za-z_][A-Za-z0-9._-]*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function signElement(xml: string, options: SignOptions): string {
  const { key, algorithm, referenceId } = options;
  const algorithms = ALGORITHMS[algorithm];
  if (algorithms === undefined) throw new XmlError('signature_algorithm', `unknown signature algorithm ${String(algorithm)}`);
  if (!NCNAME.test(referenceId)) throw new XmlError('signature_reference', 'referenceId is not an NCName');
  if (!BASE64.test(key.certificateBase64)) throw new XmlError('untrusted_key', 'certificateBase64 is not base64');

  // Our own parser first: we never sign something we would refuse to read (DTDs, duplicate IDs, ...).
  const doc = parseXml(xml, { maxBytes: options.maxBytes });
  const { element, idAttribute } = findById(doc, referenceId);
  if (childElements(element, NS.ds, 'Signature').length > 0) {
    throw new XmlError('duplicate_element', `<${element.localName}> is already signed`);
  }

  // xml-crypto's XPath has no namespace resolver here, hence namespace-uri() predicates; the values are our
  // constants and a validated NCName.
  const target = `//*[@${idAttribute}='${referenceId}']`;
  const hasIssuer = element.namespaceURI !== SAML11_ASSERTION_NS && childElements(element, NS.saml, 'Issuer').length > 0;
  const location = hasIssuer
    ? { reference: `${target}/*[local-name()='Issuer' and namespace-uri()='${NS.saml}']`, action: 'after' as const }
    : { reference: target, action: element.namespaceURI === SAML11_ASSERTION_NS ? ('append' as const) : ('prepend' as const) };

  const signer = new SignedXml({
    privateKey: key.privateKey,
    signatureAlgorithm: algorithms.signature,
    canonicalizationAlgorithm: ALG.excC14n,
    // Without this xml-crypto would not see AssertionID and would add a fresh Id attribute instead.
    idAttribute,
    getKeyInfoContent: (args) => {
      const p = args?.prefix ? `${args.prefix}:` : '';
      return `<${p}X509Data><${p}X509Certificate>${key.certificateBase64}</${p}X509Certificate></${p}X509Data>`;
    },
  });
  signer.addReference({
    xpath: target,
    transforms: [ALG.envelopedSignature, ALG.excC14n],
    digestAlgorithm: algorithms.digest,
  });
  try {
    signer.computeSignature(xml, { prefix: 'ds', location });
  } catch (error) {
    throw new XmlError('signature_invalid', 'signing failed', { cause: error });
  }
  return signer.getSignedXml();
}

function findById(doc: Document, id: string): { element: Element; idAttribute: 'ID' | 'AssertionID' } {
  // parseXml has already refused duplicate IDs, so the first match is the only one.
  const stack: Element[] = [doc.documentElement!];
  for (let element = stack.pop(); element !== undefined; element = stack.pop()) {
    if (attribute(element, 'ID') === id) return { element, idAttribute: 'ID' };
    if (attribute(element, 'AssertionID') === id) return { element, idAttribute: 'AssertionID' };
    for (let child = element.firstChild; child !== null; child = child.nextSibling) {
      if (child.nodeType === ELEMENT_NODE) stack.push(child as Element);
    }
  }
  throw new XmlError('signature_reference', 'no element has the referenceId');
}
