/**
 * Values derived from an SSO session id with a farm-wide secret, so every protocol and every node
 * computes the same SessionIndex (and transient NameID) without storing them.
 */
import { createHmac } from 'node:crypto';

/** An xs:ID-shaped opaque value: "_" and 128 bits of HMAC-SHA256(secret, label). */
export function deriveSessionValue(secret: string, label: string): string {
  return `_${createHmac('sha256', secret).update(label).digest('hex').slice(0, 32)}`;
}

export function sessionIndexFor(secret: string, sessionId: string): string {
  return deriveSessionValue(secret, `session-index|${sessionId}`);
}
