/**
 * The HTTP-Redirect and HTTP-POST bindings (SAML bindings §3.4, §3.5): getting a message's XML out
 * of a request, with size caps before and after inflating, and the Redirect binding's detached
 * query-string signature.
 */
import { createVerify, createSign, type KeyObject, type X509Certificate } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SamlError } from '../../errors.js';
import { SIG_ALG } from './constants.js';

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;

function fromBase64(encoded: string, maxBytes: number, what: string): Buffer {
  // base64 grows data by 4/3; refuse before decoding anything bigger than the cap allows.
  if (encoded.length > Math.ceil((maxBytes * 4) / 3) + 4096) throw new SamlError('saml_request_invalid', `${what} too large`);
  if (!BASE64.test(encoded)) throw new SamlError('saml_request_invalid', `${what} is not base64`);
  return Buffer.from(encoded, 'base64');
}

function utf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SamlError('saml_request_invalid', `${what} is not UTF-8`);
  }
}

/** HTTP-Redirect: base64 of DEFLATE (raw). maxOutputLength stops zip bombs while inflating. */
export function decodeRedirectMessage(encoded: string, maxBytes: number): string {
  const compressed = fromBase64(encoded, maxBytes, 'Redirect-binding message');
  let xml: Buffer;
  try {
    xml = inflateRawSync(compressed, { maxOutputLength: maxBytes });
  } catch (err) {
    const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /larger than/i.test(String(err));
    throw new SamlError('saml_request_invalid', tooBig ? 'Redirect-binding message inflates beyond the size cap' : 'Redirect-binding message is not DEFLATE data');
  }
  return utf8(xml, 'Redirect-binding message');
}

/** HTTP-POST: plain base64 of the XML. */
export function decodePostMessage(encoded: string, maxBytes: number): string {
  const xml = fromBase64(encoded, maxBytes, 'POST-binding message');
  if (xml.length > maxBytes) throw new SamlError('saml_request_invalid', 'POST-binding message too large');
  return utf8(xml, 'POST-binding message');
}

export function encodeRedirectMessage(xml: string): string {
  return deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64');
}

export function encodePostMessage(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

type MessageParam = 'SAMLRequest' | 'SAMLResponse';

/**
 * The signed octets of a Redirect-binding message are the query parameters exactly as they arrived
 * (still URL-encoded), in the order message, RelayState, SigAlg (bindings §3.4.4.1). Re-encoding
 * parsed values would break signatures from SPs that encode differently, so read the raw query.
 */
function rawParams(rawQuery: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (params.has(name)) throw new SamlError('saml_request_invalid', `query parameter ${name} appears twice`);
    params.set(name, eq < 0 ? '' : pair.slice(eq + 1));
  }
  return params;
}

export interface RedirectSignature {
  algorithm: keyof typeof SIG_ALG;
  certificate: X509Certificate;
}

/**
 * Checks the detached signature of a Redirect-binding message against the RP's certificates only.
 * Returns undefined when the message carries no signature (the caller decides whether that is
 * allowed); throws when a signature is present but does not verify or uses an algorithm not allowed.
 */
export function verifyRedirectSignature(
  rawQuery: string,
  param: MessageParam,
  certificates: readonly X509Certificate[],
  allowSha1: boolean,
): RedirectSignature | undefined {
  const params = rawParams(rawQuery);
  const sigAlg = params.get('SigAlg');
  const signature = params.get('Signature');
  if (sigAlg === undefined && signature === undefined) return undefined;
  if (sigAlg === undefined || signature === undefined) throw new SamlError('saml_signature_invalid', 'SigAlg without Signature or the reverse', { top: 'Requester', sub: 'RequestDenied' });
  const alg = decodeURIComponent(sigAlg.replace(/\+/g, ' '));
  const algorithm = (Object.keys(SIG_ALG) as (keyof typeof SIG_ALG)[]).find((k) => SIG_ALG[k] === alg);
  if (!algorithm || (algorithm === 'rsa-sha1' && !allowSha1)) {
    throw new SamlError('saml_signature_invalid', `signature algorithm not allowed: ${alg.slice(0, 100)}`, { top: 'Requester', sub: 'RequestDenied' });
  }
  const message = params.get(param);
  if (message === undefined) throw new SamlError('saml_request_invalid', `no ${param}`);
  const relayState = params.get('RelayState');
  const octets = `${param}=${message}${relayState === undefined ? '' : `&RelayState=${relayState}`}&SigAlg=${sigAlg}`;
  const sig = Buffer.from(decodeURIComponent(signature.replace(/\+/g, ' ')), 'base64');
  for (const certificate of certificates) {
    const verifier = createVerify(algorithm === 'rsa-sha256' ? 'RSA-SHA256' : 'RSA-SHA1');
    verifier.update(octets, 'utf8');
    if (verifier.verify(certificate.publicKey, sig)) return { algorithm, certificate };
  }
  throw new SamlError('saml_signature_invalid', 'Redirect-binding signature does not verify with any registered certificate', {
    top: 'Requester',
    sub: 'RequestDenied',
  });
}

/** Builds a signed Redirect-binding query string (for the LogoutRequests and LogoutResponses we send). */
export function signedRedirectQuery(
  param: MessageParam,
  xml: string,
  relayState: string | undefined,
  key: KeyObject,
  algorithm: keyof typeof SIG_ALG,
): string {
  let query = `${param}=${encodeURIComponent(encodeRedirectMessage(xml))}`;
  if (relayState !== undefined) query += `&RelayState=${encodeURIComponent(relayState)}`;
  query += `&SigAlg=${encodeURIComponent(SIG_ALG[algorithm])}`;
  const signer = createSign(algorithm === 'rsa-sha256' ? 'RSA-SHA256' : 'RSA-SHA1');
  signer.update(query, 'utf8');
  return `${query}&Signature=${encodeURIComponent(signer.sign(key).toString('base64'))}`;
}
