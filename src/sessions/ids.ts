/**
 * Opaque ids for sessions and pending requests. They are bearer secrets (whoever presents the
 * cookie is the user), so they come from the CSPRNG and carry no meaning.
 */
import { createHash, randomBytes } from 'node:crypto';

/** 256 bits: far beyond guessing range, and only 43 characters in a cookie. */
const ID_BYTES = 32;
/** base64url of ID_BYTES without padding. */
export const ID_LENGTH = Math.ceil((ID_BYTES * 8) / 6);

const ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${ID_LENGTH}}$`);

export function newId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

/**
 * Whether a value from a cookie or URL can be an id we issued. Checked before any store lookup so
 * attacker-chosen strings (huge, or with key-pattern characters like `*` and `:`) never reach Redis.
 */
export function isWellFormedId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/**
 * Replay keys are built from message content (issuer + request ID) of any length; hashing gives
 * every key the same small size in memory and in Redis.
 */
export function replayKeyDigest(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
