/**
 * Private keys of the shared key set, encrypted before they leave the node: sealed.ts's AES-256-GCM
 * with a key derived by HKDF-SHA256 from keys.encryptionSecret and a random salt per blob. The
 * certificate's thumbprint is the associated data, so a blob copied onto another entry of the set
 * does not open.
 *
 * Stored form: `v1.<salt>.<iv>.<tag>.<ciphertext>`, each part base64url.
 */
import { seal, SealFormatError, unseal } from '../sealed.js';
import { KeyLoadError } from './signing-key.js';

/** HKDF info of key-set blobs: changing it would make every stored key unreadable. */
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

export function encryptPrivateKey(pem: string, secret: string, thumbprint: string): string {
  return seal(pem, secret, { info: INFO, owner: thumbprint });
}

export function decryptPrivateKey(blob: string, secret: string, thumbprint: string): string {
  try {
    return unseal(blob, secret, { info: INFO, owner: thumbprint });
  } catch (err) {
    if (err instanceof SealFormatError) {
      throw new KeyLoadError(`the stored private key of certificate ${thumbprint} is not in a format this version reads`);
    }
    throw new KeyDecryptionError(thumbprint);
  }
}
