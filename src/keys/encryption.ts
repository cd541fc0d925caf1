/**
 * Private keys of the shared key set, encrypted before they leave the node: AES-256-GCM with a key
 * derived by HKDF-SHA256 from keys.encryptionSecret and a random salt per blob. The certificate's
 * thumbprint is the associated data, so a blob copied onto another entry of the set does not open.
 *
 * Stored form: `v1.<salt>.<iv>.<tag>.<ciphertext>`, each part base64url.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { KeyLoadError } from './signing-key.js';

const VERSION = 'v1';
const INFO = 'openfed token-signing private key v1';

/** The secret does not open a stored key: almost always a different secret on this node. */
export class KeyDecryptionError extends KeyLoadError {
  constructor(thumbprint: string) {
    super(
      `keys.encryptionSecret does not decrypt the stored private key of certificate ${thumbprint}: ` +
        'is OPENFED_KEY_ENCRYPTION_SECRET the same as on the node that stored it?',
    );
    this.name = 'KeyDecryptionError';
  }
}

function derive(secret: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, INFO, 32));
}

export function encryptPrivateKey(pem: string, secret: string, thumbprint: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(secret, salt), iv);
  cipher.setAAD(Buffer.from(thumbprint, 'utf8'));
  const body = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return [VERSION, salt, iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

export function decryptPrivateKey(blob: string, secret: string, thumbprint: string): string {
  const parts = blob.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) {
    throw new KeyLoadError(`the stored private key of certificate ${thumbprint} is not in a format this version reads`);
  }
  const [salt, iv, tag, body] = parts.slice(1).map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer, Buffer];
  // A short tag would weaken the authentication GCM gives; ours are always 16 bytes.
  if (tag.length !== 16) throw new KeyDecryptionError(thumbprint);
  try {
    const decipher = createDecipheriv('aes-256-gcm', derive(secret, salt), iv);
    decipher.setAAD(Buffer.from(thumbprint, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyDecryptionError(thumbprint);
  }
}
