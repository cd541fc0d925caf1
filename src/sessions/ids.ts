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
 * Leading characters of a session id that name its user's slot tag (see sessionId). 18 bits: enough
 * tags (262,144) to spread users evenly over Redis Cluster's 16,384 slots.
 */
export const SLOT_TAG_LENGTH = 3;

/**
 * A user's slot tag: the first characters of SHA-256 of the lower-cased UPN. The user's session keys
 * and session index carry it as a Redis hash tag, so the scripts that touch them together stay in
 * one Cluster slot, while different users still land on different slots and nodes.
 */
export function userSlotTag(userPrincipalName: string): string {
  return createHash('sha256').update(userPrincipalName.toLowerCase()).digest('base64url').slice(0, SLOT_TAG_LENGTH);
}

/**
 * A session id: the user's slot tag, then 240 random bits. Same length and alphabet as newId(), so
 * isWellFormedId() accepts both; the tag makes the session key computable from the cookie alone.
 * It tells nothing a cookie holder could not learn by using the session.
 */
export function newSessionId(userPrincipalName: string): string {
  const randomChars = ID_LENGTH - SLOT_TAG_LENGTH;
  return userSlotTag(userPrincipalName) + randomBytes((randomChars * 6) / 8).toString('base64url');
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
