/**
 * Secrets sealed before they are stored: AES-256-GCM with a key derived by HKDF-SHA256 from a
 * configured secret (keys.encryptionSecret) and a random salt per blob. `info` names the purpose,
 * so one configured secret yields unrelated keys for token-signing keys and second-factor secrets;
 * the associated data names the owner (a certificate thumbprint, a user), so a blob copied onto
 * another entry does not open.
 *
 * Stored form: `v1.<salt>.<iv>.<tag>.<ciphertext>`, each part base64url. Callers turn the two
 * failures into their own errors, which say what was stored and which setting to check.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';

export interface SealContext {
  /** HKDF info: what the blob is for (a different purpose, a different key). */
  info: string;
  /** Associated data: whose blob it is. Authenticated, not stored. */
  owner: string;
}

/** The blob is not `v1.<5 parts>`: written by another version, or not by us at all. */
export class SealFormatError extends Error {
  override readonly name = 'SealFormatError';
}

/** The blob does not open: another secret, another owner, or altered bytes (GCM cannot tell which). */
class SealOpenError extends Error {
  override readonly name = 'SealOpenError';
}

function derive(secret: string, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, 32));
}

export function seal(plaintext: string, secret: string, context: SealContext): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(secret, salt, context.info), iv);
  cipher.setAAD(Buffer.from(context.owner, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, ...[salt, iv, cipher.getAuthTag(), body].map((p) => p.toString('base64url'))].join('.');
}

export function unseal(blob: string, secret: string, context: SealContext): string {
  const parts = blob.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new SealFormatError('not a v1 sealed blob');
  const [salt, iv, tag, body] = parts.slice(1).map((p) => Buffer.from(p, 'base64url')) as [Buffer, Buffer, Buffer, Buffer];
  // A short tag would weaken the authentication GCM gives; ours are always 16 bytes.
  if (tag.length !== 16) throw new SealOpenError('authentication tag of the wrong length');
  try {
    const decipher = createDecipheriv('aes-256-gcm', derive(secret, salt, context.info), iv);
    decipher.setAAD(Buffer.from(context.owner, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new SealOpenError('the blob does not open with this secret and owner', { cause: err });
  }
}
