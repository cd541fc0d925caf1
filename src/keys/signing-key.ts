/**
 * The token-signing key: parsed once into a KeyObject (never PEM per signature) together with its
 * certificate. From PEM files, a PKCS#12 file, or — when nothing is configured — a self-signed
 * RSA-2048 certificate made on first start, valid one year like AD FS's.
 */
import { createPrivateKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 resolves its providers through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import forge from 'node-forge';
import type { SigningKeyConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { InternalError } from '../errors.js';

export interface SigningKey {
  privateKey: KeyObject;
  certificate: X509Certificate;
  /** DER bytes base64, as it goes into ds:X509Certificate and metadata. */
  certificateBase64: string;
  /** SHA-1 thumbprint, upper-case hex without colons: how AD FS and Entra ID name certificates. */
  thumbprint: string;
  notAfter: Date;
  /** Where it came from: configured files, made by OpenFed, or added with `openfed keys add`. */
  source: 'pem' | 'pkcs12' | 'generated' | 'imported';
}

export class KeyLoadError extends InternalError {
  constructor(message: string) {
    super(message);
    this.name = 'KeyLoadError';
  }
}

// PKCS#12 bag types (RFC 7292 §4.2).
const KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const PKCS8_SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';

const GENERATED_KEY = 'signing-key.pem';
const GENERATED_CERT = 'signing-cert.pem';

export async function loadSigningKey(
  config: SigningKeyConfig | undefined,
  dataDir: string,
  subjectHost: string,
  logger: Logger,
  /** The configuration key named in errors (keys.signing, keys.next). */
  configKey = 'keys.signing',
): Promise<SigningKey> {
  if (config && 'keyFile' in config) {
    return fromPem(read(config.keyFile, `${configKey}.keyFile`), read(config.certFile, `${configKey}.certFile`), 'pem');
  }
  if (config && 'pkcs12File' in config) {
    return fromPkcs12(readFileSync(checkExists(config.pkcs12File, `${configKey}.pkcs12File`)), config.pkcs12Password);
  }
  const dir = join(dataDir, 'keys');
  const keyPath = join(dir, GENERATED_KEY);
  const certPath = join(dir, GENERATED_CERT);
  if (!existsSync(keyPath) || !existsSync(certPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { keyPem, certPem } = await generateSelfSigned(`OpenFed Token Signing - ${subjectHost}`, new Date());
    // Write then rename, so a crash mid-write never leaves a half key that the next start trips on.
    writeFileSync(`${keyPath}.tmp`, keyPem, { mode: 0o600 });
    writeFileSync(`${certPath}.tmp`, certPem, { mode: 0o644 });
    renameSync(`${keyPath}.tmp`, keyPath);
    renameSync(`${certPath}.tmp`, certPath);
    logger.warn({ certPath }, 'created a self-signed token-signing certificate (valid 1 year)');
  }
  chmodSync(keyPath, 0o600);
  const key = fromPem(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'), 'generated');
  return key;
}

export function fromPem(keyPem: string, certPem: string, source: SigningKey['source']): SigningKey {
  let privateKey: KeyObject;
  let certificate: X509Certificate;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch {
    throw new KeyLoadError('token-signing key: not a readable PEM private key (encrypted PEM is not supported; use PKCS#12)');
  }
  try {
    certificate = new X509Certificate(certPem);
  } catch {
    throw new KeyLoadError('token-signing certificate: not a readable PEM certificate');
  }
  return check(privateKey, certificate, source);
}

export function fromPkcs12(der: Buffer, password: string): SigningKey {
  let keyPem: string | undefined;
  let certPem: string | undefined;
  try {
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der.toString('binary')), password);
    const bags = (bagType: string) => p12.getBags({ bagType })[bagType] ?? [];
    const keyBag = bags(PKCS8_SHROUDED_KEY_BAG)[0] ?? bags(KEY_BAG)[0];
    if (keyBag?.key) keyPem = forge.pki.privateKeyToPem(keyBag.key);
    // A .pfx often carries the chain too; the signing certificate is the one matching the key.
    const certs = bags(CERT_BAG).flatMap((b) => (b.cert ? [forge.pki.certificateToPem(b.cert)] : []));
    const key = keyPem ? createPrivateKey(keyPem) : undefined;
    certPem = certs.find((pem) => key && new X509Certificate(pem).checkPrivateKey(key));
  } catch {
    throw new KeyLoadError('token-signing PKCS#12: cannot be opened (wrong password or not a PKCS#12 file)');
  }
  if (!keyPem) throw new KeyLoadError('token-signing PKCS#12: holds no private key');
  if (!certPem) throw new KeyLoadError('token-signing PKCS#12: holds no certificate for its private key');
  return fromPem(keyPem, certPem, 'pkcs12');
}

function check(privateKey: KeyObject, certificate: X509Certificate, source: SigningKey['source']): SigningKey {
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new KeyLoadError(`token-signing key: expected an RSA key, got ${privateKey.asymmetricKeyType}`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new KeyLoadError(`token-signing key: expected at least 2048 bits, got ${bits}`);
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new KeyLoadError('token-signing certificate does not belong to the token-signing key');
  }
  return {
    privateKey,
    certificate,
    certificateBase64: certificate.raw.toString('base64'),
    thumbprint: certificate.fingerprint.replaceAll(':', '').toUpperCase(),
    notAfter: new Date(certificate.validTo),
    source,
  };
}

// @peculiar/x509 is typed against the DOM's WebCrypto; node's is the same API under other names.
type SelfSignedParams = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0];

/** A self-signed RSA-2048 / SHA-256 certificate valid for one year from `now`. */
export async function generateSelfSigned(commonName: string, now: Date): Promise<{ keyPem: string; certPem: string }> {
  const crypto = webcrypto;
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 1);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=${commonName.replace(/[,+="\\<>;#]/g, ' ')}`,
      notBefore: now,
      notAfter,
      keys: keys as unknown as SelfSignedParams['keys'],
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ],
    },
    crypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { keyPem, certPem: cert.toString('pem') + '\n' };
}

function read(path: string, key: string): string {
  return readFileSync(checkExists(path, key), 'utf8');
}

function checkExists(path: string, key: string): string {
  if (!existsSync(path)) throw new KeyLoadError(`configuration key ${key}: file ${path} does not exist`);
  return path;
}
