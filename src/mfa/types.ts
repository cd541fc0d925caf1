/**
 * The second factor's stored state, per user (the lower-cased UPN, see mfaUserKey): the enrolment
 * (its methods and the remaining recovery codes), a short-lived pending enrolment waiting for its
 * first code, and the wrong-code counter. Secrets reach a store already sealed (service.ts); a
 * store only keeps what it is given. Implementations: MemoryMfaStore (below: tests, one process),
 * file-store.ts (one node without Redis), redis-store.ts (a farm, on the process's Redis connection).
 *
 * Every method of a credential is one entry of `methods`, so WebAuthn credentials can join TOTP
 * later without a new record shape.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';

/** What a user can prove possession of. Only TOTP today; 'webauthn' would be added here. */
export type MfaMethod = 'totp';

/** The key every MFA record of a user is kept under: the UPN, NFC, trimmed, lower-cased. */
export function mfaUserKey(upn: string): string {
  return upn.normalize('NFC').trim().toLowerCase();
}

const credentialSchema = z.object({
  method: z.literal('totp'),
  /** The base32 secret, sealed (sealed.ts) with the user key as associated data. */
  sealedSecret: z.string().min(1),
  /** Epoch ms. */
  addedAt: z.number().int().nonnegative(),
});

const enrolmentSchema = z.object({
  methods: z.array(credentialSchema).min(1),
  recovery: z.object({
    /** scrypt salt shared by the user's codes (base64url); see service.ts for why one per set. */
    salt: z.string().min(1),
    /** scrypt hashes (base64url) of the codes not used yet; a used code is removed. */
    hashes: z.array(z.string().min(1)),
    issuedAt: z.number().int().nonnegative(),
  }),
  enrolledAt: z.number().int().nonnegative(),
});

const pendingSchema = z.object({
  method: z.literal('totp'),
  sealedSecret: z.string().min(1),
  createdAt: z.number().int().nonnegative(),
});

export type MfaEnrolment = z.infer<typeof enrolmentSchema>;
export type PendingEnrolment = z.infer<typeof pendingSchema>;

export interface VersionedEnrolment {
  enrolment: MfaEnrolment;
  /** 1 after the first write, one more with each; compareAndSet checks it. */
  version: number;
}

export interface WrongCodeCount {
  count: number;
  /** How long until the window (started by its first wrong code) ends and the count is forgotten. */
  ttlMs: number;
}

export const NO_WRONG_CODES: WrongCodeCount = { count: 0, ttlMs: 0 };

/** A stored record this version cannot read: never treated as "not enrolled" (that would offer enrolment). */
export class MfaRecordError extends Error {
  override readonly name = 'MfaRecordError';
}

export interface MfaStore {
  readonly kind: 'memory' | 'file' | 'redis';
  /** The user's enrolment, or undefined when there is none. Throws MfaRecordError for a damaged one. */
  get(user: string): Promise<VersionedEnrolment | undefined>;
  /**
   * Writes `enrolment` only if the stored version is still `expectedVersion` (0 = no enrolment yet):
   * false when another request or node wrote first (read again). A recovery code is used up this
   * way, so two nodes cannot both accept it.
   */
  compareAndSet(user: string, expectedVersion: number, enrolment: MfaEnrolment): Promise<boolean>;
  /** Forgets the enrolment (help-desk reset); true when there was one. */
  delete(user: string): Promise<boolean>;

  /** The enrolment begun and not yet confirmed; undefined when none or expired. */
  getPending(user: string): Promise<PendingEnrolment | undefined>;
  /** Replaces any pending enrolment of the user; kept for ttlMs. */
  putPending(user: string, pending: PendingEnrolment, ttlMs: number): Promise<void>;
  deletePending(user: string): Promise<void>;

  /** The wrong-code count of the current window (0 when none). */
  wrongCodes(user: string): Promise<WrongCodeCount>;
  /** Counts one wrong code; the first one starts a window of windowMs. Returns the count after it. */
  addWrongCode(user: string, windowMs: number): Promise<WrongCodeCount>;
  clearWrongCodes(user: string): Promise<void>;

  /** Closes what the store opened itself (never a shared Redis connection). */
  close(): Promise<void>;
}

/** Reads a stored enrolment (JSON text), failing clearly: a hand edit or a newer release. */
export function parseEnrolment(user: string, json: string): MfaEnrolment {
  return parseWith(enrolmentSchema, user, json, 'enrolment');
}

export function parsePending(user: string, json: string): PendingEnrolment {
  return parseWith(pendingSchema, user, json, 'pending enrolment');
}

function parseWith<T>(schema: z.ZodType<T>, user: string, json: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new MfaRecordError(`the stored second-factor ${what} of ${user} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new MfaRecordError(`the stored second-factor ${what} of ${user} is not one this version reads`);
  return parsed.data;
}

interface Expiring<V> {
  value: V;
  expiresAt: number;
}

/**
 * One process's MFA state, expiring by the injected clock: tests, and the contract's reference. Not
 * for a server (a restart would forget every enrolment): openMfaStore picks a file or Redis.
 */
export class MemoryMfaStore implements MfaStore {
  readonly kind = 'memory';
  // Values are kept as JSON text, so a caller mutating what it read cannot change the store.
  private readonly enrolments = new Map<string, { json: string; version: number }>();
  private readonly pending = new Map<string, Expiring<string>>();
  private readonly wrong = new Map<string, Expiring<number>>();

  constructor(private readonly clock: Clock = systemClock) {}

  async get(user: string): Promise<VersionedEnrolment | undefined> {
    const stored = this.enrolments.get(user);
    return stored && { enrolment: parseEnrolment(user, stored.json), version: stored.version };
  }

  async compareAndSet(user: string, expectedVersion: number, enrolment: MfaEnrolment): Promise<boolean> {
    const version = this.enrolments.get(user)?.version ?? 0;
    if (version !== expectedVersion) return false;
    this.enrolments.set(user, { json: JSON.stringify(enrolment), version: version + 1 });
    return true;
  }

  async delete(user: string): Promise<boolean> {
    return this.enrolments.delete(user);
  }

  async getPending(user: string): Promise<PendingEnrolment | undefined> {
    const json = this.live(this.pending, user);
    return json === undefined ? undefined : parsePending(user, json);
  }

  async putPending(user: string, pending: PendingEnrolment, ttlMs: number): Promise<void> {
    this.pending.set(user, { value: JSON.stringify(pending), expiresAt: this.clock.now() + ttlMs });
  }

  async deletePending(user: string): Promise<void> {
    this.pending.delete(user);
  }

  async wrongCodes(user: string): Promise<WrongCodeCount> {
    const entry = this.wrong.get(user);
    const count = this.live(this.wrong, user);
    return entry && count !== undefined ? { count, ttlMs: entry.expiresAt - this.clock.now() } : NO_WRONG_CODES;
  }

  async addWrongCode(user: string, windowMs: number): Promise<WrongCodeCount> {
    const now = this.clock.now();
    const current = this.live(this.wrong, user) === undefined ? undefined : this.wrong.get(user);
    const next = current ? { value: current.value + 1, expiresAt: current.expiresAt } : { value: 1, expiresAt: now + windowMs };
    this.wrong.set(user, next);
    return { count: next.value, ttlMs: next.expiresAt - now };
  }

  async clearWrongCodes(user: string): Promise<void> {
    this.wrong.delete(user);
  }

  async close(): Promise<void> {}

  private live<V>(map: Map<string, Expiring<V>>, user: string): V | undefined {
    const entry = map.get(user);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      map.delete(user);
      return undefined;
    }
    return entry.value;
  }
}
