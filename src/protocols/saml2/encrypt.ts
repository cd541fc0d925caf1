/**
 * Encrypting SAML 2.0 assertions to a service provider's encryption certificate (XML Encryption:
 * EncryptedData of Type Element, the content key wrapped with RSA-OAEP in an EncryptedKey inside KeyInfo —
 * the shape AD FS, Shibboleth, node-saml and xmlsec1 all read). The cryptography is xml-encryption's; this
 * module only decides algorithms, encrypts the signed assertion and puts the ciphertext in its place.
 * Pure: no I/O beyond the CSPRNG.
 *
 * Everything comes out in exclusive canonical form, so a Response signature made afterwards digests the
 * bytes as they are (xml/canonical-sign): the plaintext is the canonical signed assertion, exactly the
 * bytes its signature covers (CR as &#xD;, so a CRLF in a value survives decryption), and the
 * EncryptedAssertion is canonicalised once, being the one piece of markup we do not write ourselves.
 */
import type { X509Certificate } from 'node:crypto';
import { encrypt, type EncryptionAlgorithm, type EncryptOptions } from 'xml-encryption';
import { canonicalizeElement, signCanonical } from '../../xml/canonical-sign.js';
import { NS } from '../../xml/namespaces.js';
import { DEFAULT_MAX_BYTES, parseXml } from '../../xml/parse.js';
import { attribute, childElements, isElement, type Document, type Element } from '../../xml/query.js';
import { RESPONSE_END, type BuiltResponse, type SignPolicy } from './response.js';
import { InternalError } from '../../errors.js';

export interface EncryptionOptions {
  certificate: X509Certificate;
  /** Default aes256-gcm; aes128-cbc/aes256-cbc only for old SPs; key transport rsa-oaep-mgf1p. */
  dataAlgorithm?: 'aes256-gcm' | 'aes128-gcm' | 'aes256-cbc' | 'aes128-cbc';
}

export class AssertionEncryptionError extends InternalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AssertionEncryptionError';
  }
}

const DATA_ALGORITHMS: Record<NonNullable<EncryptionOptions['dataAlgorithm']>, EncryptionAlgorithm> = {
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
};

// rsa-oaep-mgf1p (SHA-1 OAEP digest and MGF1) rather than xmlenc11#rsa-oaep: it is the one OAEP identifier
// every SP stack (AD FS, Shibboleth SP 2.x, older node/java libraries) decrypts. SHA-1 inside OAEP is not a
// collision use, so it costs no security. RSA-1.5 is never emitted (Bleichenbacher).
const KEY_TRANSPORT = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

const MIN_RSA_BITS = 2048;

/**
 * Replaces the (already signed) <Assertion ID=assertionId> in a SAML Response document with
 * <EncryptedAssertion><xenc:EncryptedData>…</xenc:EncryptedData></EncryptedAssertion>, in the assertion
 * namespace, same position. Returns the new Response XML in exclusive canonical form. Throws on any failure
 * (never returns plaintext). sealResponse does the same for a Response it built, without parsing it.
 */
export async function encryptAssertion(responseXml: string, assertionId: string, options: EncryptionOptions): Promise<string> {
  const key = encryptionSettings(options);

  const doc = parseOwn(responseXml);
  const response = doc.documentElement!;
  if (!isElement(response, NS.samlp, 'Response')) throw new AssertionEncryptionError('not a SAML 2.0 Response');
  // A Response signature covers the assertion's bytes; replacing them afterwards would ship a signature that
  // can never verify. The order is sign assertion → encrypt → sign response (sealResponse).
  if (childElements(response, NS.ds, 'Signature').length > 0) {
    throw new AssertionEncryptionError('the Response is already signed; encrypt before signing it');
  }
  // Only a direct child: that is the one place an SP looks for it, and parseXml already refused duplicate IDs.
  const assertion = childElements(response, NS.saml, 'Assertion').find((a) => attribute(a, 'ID') === assertionId);
  if (assertion === undefined) throw new AssertionEncryptionError('the Response has no Assertion with that ID');

  // exc-c14n of the element is what the assertion's signature digested, and it declares every namespace
  // the subtree uses, so the plaintext stands alone once decrypted.
  const plaintext = canonicalizeElement(assertion);
  const encrypted = await encryptToElement(plaintext, key);
  response.replaceChild(doc.importNode(encrypted.element, true), assertion);
  const sealed = canonicalizeElement(response);

  checkSealed(sealed, assertionId, plaintext);
  return sealed;
}

/** sign assertion → encrypt → sign response, per the RP's policy; one RSA signature per signed element. */
export async function sealResponse(built: BuiltResponse, policy: SignPolicy & { encryption?: EncryptionOptions }): Promise<string> {
  // Encryption is not authentication: anyone holding the SP's public certificate can encrypt an assertion
  // of their own making. Without a signature somewhere the SP would have nothing tying it to us.
  if (policy.encryption && !policy.signAssertion && !policy.signResponse) {
    throw new AssertionEncryptionError('an encrypted assertion must be signed, or carried in a signed Response');
  }
  const signing = { key: policy.key, algorithm: policy.algorithm };
  let assertion = policy.signAssertion ? signCanonical(built.assertion, signing) : built.assertion.xml;
  if (policy.encryption) {
    const encrypted = await encryptToElement(assertion, encryptionSettings(policy.encryption));
    if (encrypted.canonical.includes(assertion) || encrypted.canonical.includes(`"${built.assertionId}"`)) {
      throw new AssertionEncryptionError('the EncryptedAssertion does not have the expected shape');
    }
    assertion = encrypted.canonical;
  }
  // The Response we built is canonical and so is every piece put into it: signed as it stands.
  const response = { xml: built.head + built.status + assertion + RESPONSE_END, id: built.responseId, signatureAt: built.head.length };
  return policy.signResponse ? signCanonical(response, signing) : response.xml;
}

interface EncryptionSettings {
  algorithm: EncryptionAlgorithm;
  publicKeyPem: string;
  certificatePem: string;
}

// The registry keeps one X509Certificate per SP: its PEM forms are made once, not per token.
const encryptionKeys = new WeakMap<X509Certificate, { publicKeyPem: string; certificatePem: string }>();

function encryptionSettings(options: EncryptionOptions): EncryptionSettings {
  const algorithm = DATA_ALGORITHMS[options.dataAlgorithm ?? 'aes256-gcm'];
  if (algorithm === undefined) throw new AssertionEncryptionError(`unknown data encryption algorithm ${String(options.dataAlgorithm)}`);
  let key = encryptionKeys.get(options.certificate);
  if (key === undefined) {
    key = encryptionKey(options.certificate);
    encryptionKeys.set(options.certificate, key);
  }
  return { algorithm, ...key };
}

/**
 * The plaintext as <EncryptedAssertion xmlns=saml><xenc:EncryptedData>…: parsed (so it is a well-formed
 * element we would accept ourselves before it goes anywhere near an SP) and canonical.
 */
async function encryptToElement(plaintext: string, settings: EncryptionSettings): Promise<{ element: Element; canonical: string }> {
  const { algorithm } = settings;
  let encryptedData: string;
  try {
    encryptedData = await encryptElement(plaintext, {
      rsa_pub: settings.publicKeyPem,
      pem: settings.certificatePem,
      keyEncryptionAlgorithm: KEY_TRANSPORT,
      encryptionAlgorithm: algorithm,
      // xml-encryption refuses CBC unless told otherwise (padding-oracle exposure at SPs that report
      // decryption errors); the caller opted in for an SP that cannot do GCM. Key transport stays OAEP
      // regardless, so this never lets RSA-1.5 through.
      disallowEncryptionWithInsecureAlgorithm: !algorithm.endsWith('-cbc'),
      warnInsecureAlgorithm: false,
    });
  } catch (error) {
    throw new AssertionEncryptionError('encryption failed', { cause: error });
  }
  const wrapper = parseOwn(`<EncryptedAssertion xmlns="${NS.saml}">${encryptedData.trim()}</EncryptedAssertion>`);
  const element = wrapper.documentElement!;
  const first = element.firstChild;
  if (first === null || first !== element.lastChild || !isElement(first, NS.xenc, 'EncryptedData')) {
    throw new AssertionEncryptionError('xml-encryption did not return one EncryptedData');
  }
  return { element, canonical: canonicalizeElement(element) };
}

function encryptionKey(certificate: X509Certificate): { publicKeyPem: string; certificatePem: string } {
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'rsa') {
    // rsa-pss keys cannot do OAEP key transport, and XML Encryption has no interoperable EC key agreement for SAML.
    throw new AssertionEncryptionError(`encryption certificate: expected an RSA key, got ${key.asymmetricKeyType}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new AssertionEncryptionError(`encryption certificate: expected at least ${MIN_RSA_BITS} bits, got ${bits}`);
  return { publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(), certificatePem: certificate.toString() };
}

function encryptElement(plaintext: string, options: EncryptOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    encrypt(plaintext, options, (error: Error | null, result: string) => {
      if (error) reject(error);
      else if (typeof result !== 'string' || result.length === 0) reject(new Error('xml-encryption returned nothing'));
      else resolve(result);
    });
  });
}

/**
 * Documents we built ourselves: still through parseXml (no DTDs, duplicate IDs or PIs ever leave here), but
 * the size limit is for inbound messages — an RP with many group claims must not fail sign-in because base64
 * made its encrypted assertion a third larger.
 */
function parseOwn(xml: string): Document {
  return parseXml(xml, { maxBytes: ownLimit(xml) });
}

function ownLimit(xml: string): number {
  return Math.max(DEFAULT_MAX_BYTES, Buffer.byteLength(xml, 'utf8'));
}

/** The last line of defence for "never returns plaintext": re-read what we are about to hand back. */
function checkSealed(sealed: string, assertionId: string, plaintext: string): void {
  const doc = parseOwn(sealed);
  const response = doc.documentElement!;
  const encrypted = childElements(response, NS.saml, 'EncryptedAssertion');
  const stillPlain = childElements(response, NS.saml, 'Assertion').some((a) => attribute(a, 'ID') === assertionId);
  const data = encrypted.length === 1 ? childElements(encrypted[0]!, NS.xenc, 'EncryptedData') : [];
  if (stillPlain || encrypted.length !== 1 || data.length !== 1 || sealed.includes(plaintext) || sealed.includes(`"${assertionId}"`)) {
    throw new AssertionEncryptionError('the sealed Response does not have the expected shape');
  }
}
