/**
 * The token-signing keys in use: the primary signs, the next one (during a rollover) is only
 * published. Readers ask on every use rather than keeping a key, so a rollover reaches every
 * token and metadata document without restart.
 */
import type { SigningKey } from './signing-key.js';

export interface KeyRing {
  /** The key that signs every token and message now. */
  readonly primary: SigningKey;
  /** The secondary certificate: published in metadata next to the primary, never used to sign. */
  readonly next: SigningKey | undefined;
  /**
   * Former primaries, still published until they expire so tokens they signed shortly before a
   * rollover keep validating; never used to sign.
   */
  readonly previous: readonly SigningKey[];
}

/** A ring that never changes: the configured key (keys.signing) and optionally keys.next. */
export function fixedKeyRing(primary: SigningKey, next?: SigningKey): KeyRing {
  return { primary, next, previous: [] };
}
