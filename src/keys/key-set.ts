/**
 * The managed key set as it is stored and shared by every node: a primary that signs, an optional
 * next certificate published ahead of its promotion, and former primaries still published until
 * they expire, so a token signed just before a rollover keeps validating at relying parties that
 * refreshed our metadata. Pure: the document, its edits and the rollover decision (AD FS
 * AutoCertificateRollover); storage is in store.ts and keys/redis-store.ts, timers in
 * key-manager.ts.
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { KeyLoadError, type SigningKey } from './signing-key.js';
import { InternalError } from '../errors.js';

export type KeyRole = 'primary' | 'next' | 'previous';
export type KeyOrigin = 'generated' | 'imported';

const DAY_MS = 86_400_000;

const storedKey = z
  .object({
    thumbprint: z.string().regex(/^[0-9A-F]{40}$/),
    role: z.enum(['primary', 'next', 'previous']),
    origin: z.enum(['generated', 'imported']),
    /** When it joined the set (epoch ms): the promotion threshold counts from here. */
    addedAt: z.number().int(),
    notAfter: z.number().int(),
    /** DER, base64. */
    certificate: z.string().min(1),
    /** Clear PKCS#8 PEM only in files readable by the owner; `encrypted` (encryption.ts) anywhere else. */
    privateKey: z.union([z.object({ pem: z.string() }).strict(), z.object({ encrypted: z.string() }).strict()]),
  })
  .strict();

const storedKeySet = z
  .object({
    format: z.literal(1),
    /** Grows by one with every change: nodes poll it to know when to re-read. */
    version: z.number().int().positive(),
    keys: z.array(storedKey),
  })
  .strict()
  .refine((s) => s.keys.filter((k) => k.role === 'primary').length === 1, { message: 'expected exactly one primary' })
  .refine((s) => s.keys.filter((k) => k.role === 'next').length <= 1, { message: 'expected at most one next' })
  .refine((s) => new Set(s.keys.map((k) => k.thumbprint)).size === s.keys.length, { message: 'expected each thumbprint once' });

export type StoredKey = z.infer<typeof storedKey>;
export type StoredKeySet = z.infer<typeof storedKeySet>;
export type ProtectPrivateKey = (pem: string, thumbprint: string) => StoredKey['privateKey'];

/** The stored document is damaged or from a newer release. */
export class KeySetFormatError extends KeyLoadError {
  constructor(detail: string) {
    super(`the stored token-signing key set is unreadable: ${detail}`);
    this.name = 'KeySetFormatError';
  }
}

/** An `openfed keys` change that is refused; the message says why and what to do. */
export class KeySetChangeError extends InternalError {
  constructor(message: string) {
    super(message);
    this.name = 'KeySetChangeError';
  }
}

export function parseKeySet(json: string): StoredKeySet {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new KeySetFormatError('not JSON');
  }
  const result = storedKeySet.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new KeySetFormatError(`${issue?.path.join('.') || 'document'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

export function serializeKeySet(set: StoredKeySet): string {
  return JSON.stringify(set);
}

export function storedEntry(key: SigningKey, role: KeyRole, origin: KeyOrigin, addedAt: number, protect: ProtectPrivateKey): StoredKey {
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    thumbprint: key.thumbprint,
    role,
    origin,
    addedAt,
    notAfter: key.notAfter.getTime(),
    certificate: key.certificateBase64,
    privateKey: protect(pem, key.thumbprint),
  };
}

export function firstKeySet(primary: StoredKey): StoredKeySet {
  return { format: 1, version: 1, keys: [{ ...primary, role: 'primary' }] };
}

export const primaryOf = (set: Pick<StoredKeySet, 'keys'>): StoredKey => set.keys.find((k) => k.role === 'primary')!;
export const nextOf = (set: Pick<StoredKeySet, 'keys'>): StoredKey | undefined => set.keys.find((k) => k.role === 'next');

/** The certificate's subject, for listings. */
export function subjectOf(entry: Pick<StoredKey, 'certificate'>): string {
  try {
    return new X509Certificate(Buffer.from(entry.certificate, 'base64')).subject.replaceAll('\n', ', ');
  } catch {
    return '(unreadable certificate)';
  }
}

// ------------------------------------------------------------------------------------------- edits
// Each returns the set with version + 1, or throws KeySetChangeError.

const bump = (set: StoredKeySet, keys: StoredKey[]): StoredKeySet => ({ ...set, version: set.version + 1, keys });

/** Adds a certificate as the next one: published from now on, signing once promoted. */
export function addNext(set: StoredKeySet, entry: StoredKey, now: number): StoredKeySet {
  if (set.keys.some((k) => k.thumbprint === entry.thumbprint)) {
    throw new KeySetChangeError(`certificate ${entry.thumbprint} is already in the key set`);
  }
  const waiting = nextOf(set);
  if (waiting) {
    throw new KeySetChangeError(`certificate ${waiting.thumbprint} is already waiting as the next one: promote or remove it first`);
  }
  if (entry.notAfter <= now) throw new KeySetChangeError(`certificate ${entry.thumbprint} has expired (${new Date(entry.notAfter).toISOString()})`);
  return bump(set, [...set.keys, { ...entry, role: 'next' }]);
}

/**
 * The next certificate becomes the primary; the old primary stays published (role previous) until it
 * expires, for tokens it signed that are still in flight.
 */
export function promoteNext(set: StoredKeySet, now: number, thumbprint?: string): StoredKeySet {
  const next = nextOf(set);
  if (!next) throw new KeySetChangeError('there is no next certificate to promote: add one first (openfed keys add)');
  if (thumbprint !== undefined && normalizeThumbprint(thumbprint) !== next.thumbprint) {
    throw new KeySetChangeError(`certificate ${thumbprint} is not the next certificate (${next.thumbprint} is)`);
  }
  if (next.notAfter <= now) throw new KeySetChangeError(`certificate ${next.thumbprint} has expired: remove it and add a valid one`);
  return bump(
    set,
    set.keys.flatMap((k): StoredKey[] => {
      if (k.role === 'next') return [{ ...k, role: 'primary' }];
      if (k.role === 'primary') return k.notAfter > now ? [{ ...k, role: 'previous' }] : [];
      return [k];
    }),
  );
}

export function removeKey(set: StoredKeySet, thumbprint: string): StoredKeySet {
  const wanted = normalizeThumbprint(thumbprint);
  const entry = set.keys.find((k) => k.thumbprint === wanted);
  if (!entry) throw new KeySetChangeError(`certificate ${thumbprint} is not in the key set (openfed keys list shows it)`);
  if (entry.role === 'primary') {
    throw new KeySetChangeError(`certificate ${entry.thumbprint} is the primary, which signs every token: promote another one first`);
  }
  return bump(set, set.keys.filter((k) => k !== entry));
}

/** Drops certificates that expired (never the primary): nothing can validate with them any more. */
export function pruneKeys(set: StoredKeySet, thumbprints: readonly string[]): StoredKeySet {
  return bump(set, set.keys.filter((k) => k.role === 'primary' || !thumbprints.includes(k.thumbprint)));
}

/** Accepts the forms admins paste: lower case, with colons or spaces (certutil, openssl, Windows UI). */
export function normalizeThumbprint(thumbprint: string): string {
  return thumbprint.replace(/[\s:]/g, '').toUpperCase();
}

// ---------------------------------------------------------------------------------------- rollover

export interface RolloverPolicy {
  /** false: only expired former primaries are dropped; the admin adds and promotes. */
  autoRollover: boolean;
  generationThresholdDays: number;
  promotionThresholdDays: number;
}

export type RolloverAction = { kind: 'generate' } | { kind: 'promote'; thumbprint: string } | { kind: 'prune'; thumbprints: string[] };

/**
 * What the set needs now, one step at a time (the caller applies it and asks again):
 *  - prune former primaries that have expired (and, automatic, an expired next one);
 *  - promote the next certificate once it has been published promotionThresholdDays, or at once
 *    when the primary has expired (it can no longer be validated anyway);
 *  - generate a next certificate generationThresholdDays before the primary expires.
 */
export function decideRollover(set: Pick<StoredKeySet, 'keys'>, now: number, policy: RolloverPolicy): RolloverAction | undefined {
  // An expired next one is dropped only in automatic mode, which then makes a fresh one; an admin's
  // stays listed for the admin to replace.
  const expired = set.keys
    .filter((k) => (k.role === 'previous' || (k.role === 'next' && policy.autoRollover)) && k.notAfter <= now)
    .map((k) => k.thumbprint);
  if (expired.length > 0) return { kind: 'prune', thumbprints: expired };
  if (!policy.autoRollover) return undefined;
  const primary = primaryOf(set);
  const next = nextOf(set);
  if (next) {
    const due = now - next.addedAt >= policy.promotionThresholdDays * DAY_MS || primary.notAfter <= now;
    return due ? { kind: 'promote', thumbprint: next.thumbprint } : undefined;
  }
  if (primary.notAfter - now <= policy.generationThresholdDays * DAY_MS) return { kind: 'generate' };
  return undefined;
}
