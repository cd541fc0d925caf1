/**
 * The second factor: TOTP (RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30 s steps,
 * accepted within ±1 step) with one-time recovery codes. The web layer calls it after a password
 * sign-in: status() to choose between enrolment and a code prompt, beginEnrolment() and
 * confirmEnrolment() to enrol, verify() at each step-up; the help desk calls reset() through
 * `openfed mfa reset`.
 *
 * - Secrets are sealed (sealed.ts: AES-256-GCM, key from keys.encryptionSecret by HKDF) with the
 *   user key as associated data, before any store sees them; a blob moved to another user does not
 *   open, and one that does not open is an error, never "not enrolled" (which would offer enrolment).
 * - A TOTP code is accepted once: the replay cache (shared with SAML's, through Redis on a farm)
 *   remembers each user's accepted time step until its code can no longer be valid.
 * - Wrong codes count per user in a fixed window begun by the first one; at the limit every code
 *   is refused until the window ends, whether right or wrong, so guessing gains nothing.
 * - Recovery codes: 10 random codes of 10 characters (50 bits each), shown once at enrolment and
 *   kept as scrypt hashes. scrypt rather than a fast hash because the store may leak (a backup, a
 *   Redis dump) and a recovery code bypasses the authenticator; one salt per set rather than per
 *   code, so an attempt costs one scrypt whatever the number of codes left — per-code salts would
 *   cost ten, and with 50 random bits per code the shared salt gives an offline attacker nothing
 *   usable. A used code is removed with a compare-and-set, so two nodes cannot both accept it.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { authenticator } from 'otplib';
import type { AuditEvent, AuditLog } from '../audit/audit.js';
import { systemClock, type Clock } from '../clock.js';
import { InternalError } from '../errors.js';
import { seal, SealFormatError, unseal } from '../sealed.js';
import type { ReplayCache } from '../sessions/types.js';
import { mfaUserKey, type MfaEnrolment, type MfaMethod, type MfaStore } from './types.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** RFC 6238 as every authenticator app reads an otpauth:// URI without parameters. */
const STEP_SECONDS = 30;
const DIGITS = 6;
const CODE_SHAPE = new RegExp(`^\\d{${DIGITS}}$`);
/** Steps accepted either side of now: a phone's clock a little off, a code typed as it changes. */
const WINDOW_STEPS = 1;
/** 160 bits, the HMAC-SHA-1 block RFC 4226 recommends (base32: 32 characters). */
const SECRET_BYTES = 20;
/** How long a begun enrolment waits for its first code. */
const PENDING_TTL_MS = 10 * 60_000;
/**
 * How long an accepted step is remembered: its code is valid until WINDOW_STEPS steps after it
 * ends, i.e. at most (2 × WINDOW_STEPS + 1) steps after it was accepted; one step more for margin.
 */
const REPLAY_TTL_MS = (2 * WINDOW_STEPS + 2) * STEP_SECONDS * 1000;

const RECOVERY_CODE_COUNT = 10;
const RECOVERY_CODE_LENGTH = 10;
/** Crockford's base32 alphabet: no i, l, o, u; what people misread is mapped back (normalise). */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const RECOVERY_SHAPE = new RegExp(`^[${RECOVERY_ALPHABET}]{${RECOVERY_CODE_LENGTH}}$`);
const SCRYPT_KEY_LENGTH = 32;

/** HKDF info of second-factor secrets (sealed.ts): changing it makes every stored secret unreadable. */
const SEAL_INFO = 'openfed mfa totp secret v1';

export type MfaFailureReason = Extract<AuditEvent, { type: 'mfa.failed' }>['reason'];

/** Where a request came from, for the audit trail. */
export interface MfaRequestContext {
  clientIp: string;
  requestId?: string;
}

export type MfaVerifyResult =
  | { ok: true; via: 'totp' | 'recovery'; /** Only with via 'recovery'. */ recoveryCodesLeft?: number }
  | { ok: false; reason: MfaFailureReason; /** wrong_code: codes left before the limit. */ attemptsLeft?: number; /** too_many_attempts: until the window ends. */ retryAfterSeconds?: number };

export type BeginEnrolmentResult =
  | { ok: true; /** base32, for typing into an app that cannot scan. */ secret: string; otpauthUri: string; expiresAt: number }
  | { ok: false; reason: 'already_enrolled' };

export type ConfirmEnrolmentResult =
  | { ok: true; method: MfaMethod; /** Shown once, never stored in clear. */ recoveryCodes: string[] }
  | { ok: false; reason: 'no_pending' | 'wrong_code' | 'replayed' | 'already_enrolled' };

export interface MfaStatus {
  user: string;
  enrolled: boolean;
  enrolledAt?: number;
  methods: Array<{ method: MfaMethod; addedAt: number }>;
  recoveryCodesLeft: number;
  /** An enrolment was begun and waits for its first code. */
  pendingEnrolment: boolean;
  /** Wrong codes in the current window. */
  wrongCodes: number;
  /** > 0 when the limit is reached: ms until codes are accepted again. */
  blockedForMs: number;
}

export interface MfaServiceOptions {
  store: MfaStore;
  replay: ReplayCache;
  audit: AuditLog;
  /**
   * keys.encryptionSecret, the same on every node. Without it status() and reset() still work (the
   * help desk can always reset), but enrolling and verifying fail with an error that names it.
   */
  encryptionSecret: string | undefined;
  /** The issuer label authenticator apps show (mfa.issuer, else the organisation or host name). */
  issuer: string;
  /** mfa.maxWrongCodes: wrong codes per user per window before every code is refused. */
  maxWrongCodes?: number;
  /** mfa.wrongCodeWindowMinutes. */
  wrongCodeWindowMinutes?: number;
  clock?: Clock;
}

/** A stored secret that does not open: another keys.encryptionSecret, or an altered or moved record. */
export class MfaSecretError extends InternalError {
  constructor(user: string, cause?: unknown) {
    super(
      `keys.encryptionSecret does not decrypt the second-factor secret of ${user}: is OPENFED_KEY_ENCRYPTION_SECRET ` +
        'the same as on the node where the user enrolled? (A record altered or copied from another user does not open ' +
        `either.) If the secret is lost, \`openfed mfa reset ${user}\` lets the user enrol again.`,
      { cause },
    );
    this.name = 'MfaSecretError';
  }
}

export class MfaService {
  private readonly store: MfaStore;
  private readonly replay: ReplayCache;
  private readonly audit: AuditLog;
  private readonly encryptionSecret: string | undefined;
  private readonly issuer: string;
  private readonly maxWrongCodes: number;
  private readonly windowMs: number;
  private readonly clock: Clock;

  constructor(options: MfaServiceOptions) {
    if (options.encryptionSecret !== undefined && options.encryptionSecret.length < 32) {
      throw new InternalError('the second factor needs keys.encryptionSecret of at least 32 characters');
    }
    this.store = options.store;
    this.replay = options.replay;
    this.audit = options.audit;
    this.encryptionSecret = options.encryptionSecret;
    this.issuer = options.issuer;
    this.maxWrongCodes = options.maxWrongCodes ?? 5;
    this.windowMs = (options.wrongCodeWindowMinutes ?? 15) * 60_000;
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.maxWrongCodes) || this.maxWrongCodes < 1) throw new InternalError('mfa.maxWrongCodes must be a whole number of at least 1');
    if (!(this.windowMs > 0)) throw new InternalError('mfa.wrongCodeWindowMinutes must be more than 0');
  }

  async status(upn: string): Promise<MfaStatus> {
    return readMfaStatus(this.store, upn, this.maxWrongCodes);
  }

  /**
   * A new TOTP secret for a user without a second factor, kept (sealed) for 10 minutes until
   * confirmEnrolment proves the app has it. A second call replaces the first secret.
   */
  async beginEnrolment(upn: string, options: { keepPending?: boolean } = {}): Promise<BeginEnrolmentResult> {
    const user = mfaUserKey(upn);
    if (await this.store.get(user)) return { ok: false, reason: 'already_enrolled' };
    const now = this.clock.now();
    // The page shown again after a wrong first code: the secret the app has already scanned, not a new one.
    const pending = options.keepPending ? await this.store.getPending(user) : undefined;
    if (pending) {
      const secret = this.unseal(user, pending.sealedSecret);
      return { ok: true, secret, otpauthUri: this.totp(now).keyuri(upn.trim(), this.issuer, secret), expiresAt: pending.createdAt + PENDING_TTL_MS };
    }
    const secret = authenticator.generateSecret(SECRET_BYTES);
    await this.store.putPending(user, { method: 'totp', sealedSecret: this.seal(user, secret), createdAt: now }, PENDING_TTL_MS);
    return { ok: true, secret, otpauthUri: this.totp(now).keyuri(upn.trim(), this.issuer, secret), expiresAt: now + PENDING_TTL_MS };
  }

  /**
   * The first code from the app: on success the enrolment is stored and the recovery codes returned
   * (the only time they exist in clear). The code is spent, so it cannot also answer a verify().
   */
  async confirmEnrolment(upn: string, code: string, context: MfaRequestContext): Promise<ConfirmEnrolmentResult> {
    const user = mfaUserKey(upn);
    const pending = await this.store.getPending(user);
    if (!pending) return { ok: false, reason: 'no_pending' };
    if (await this.store.get(user)) return { ok: false, reason: 'already_enrolled' };
    const now = this.clock.now();
    const step = this.matchingStep(this.unseal(user, pending.sealedSecret), code, now);
    if (step === undefined) return { ok: false, reason: 'wrong_code' };
    if (!(await this.firstUse(user, step))) return { ok: false, reason: 'replayed' };

    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const salt = randomBytes(16);
    const enrolment: MfaEnrolment = {
      methods: [{ method: 'totp', sealedSecret: pending.sealedSecret, addedAt: now }],
      recovery: { salt: salt.toString('base64url'), hashes: await Promise.all(codes.map((c) => hashRecoveryCode(normalise(c), salt))), issuedAt: now },
      enrolledAt: now,
    };
    if (!(await this.store.compareAndSet(user, 0, enrolment))) return { ok: false, reason: 'already_enrolled' };
    await this.store.deletePending(user);
    this.audit.record({ type: 'mfa.enrolled', user, method: 'totp', clientIp: context.clientIp }, context.requestId);
    return { ok: true, method: 'totp', recoveryCodes: codes };
  }

  /** A code from the app (6 digits, spaces allowed) or a recovery code (dash and case as you like). */
  async verify(upn: string, code: string, context: MfaRequestContext): Promise<MfaVerifyResult> {
    const user = mfaUserKey(upn);
    const fail = (reason: MfaFailureReason, extra: { wrongCodes?: number; attemptsLeft?: number; retryAfterSeconds?: number } = {}): MfaVerifyResult => {
      this.audit.record(
        { type: 'mfa.failed', user, reason, clientIp: context.clientIp, ...(extra.wrongCodes !== undefined ? { wrongCodes: extra.wrongCodes } : {}) },
        context.requestId,
      );
      return {
        ok: false,
        reason,
        ...(extra.attemptsLeft !== undefined ? { attemptsLeft: extra.attemptsLeft } : {}),
        ...(extra.retryAfterSeconds !== undefined ? { retryAfterSeconds: extra.retryAfterSeconds } : {}),
      };
    };

    const stored = await this.store.get(user);
    if (!stored) return fail('not_enrolled');
    const wrong = await this.store.wrongCodes(user);
    if (wrong.count >= this.maxWrongCodes) {
      return fail('too_many_attempts', { wrongCodes: wrong.count, retryAfterSeconds: Math.max(1, Math.ceil(wrong.ttlMs / 1000)) });
    }

    const now = this.clock.now();
    const compact = code.replace(/\s+/g, '');
    // Six digits are the app's code; anything else may be a recovery code (which can be all digits).
    if (CODE_SHAPE.test(compact)) {
      for (const credential of stored.enrolment.methods) {
        const step = this.matchingStep(this.unseal(user, credential.sealedSecret), compact, now);
        if (step === undefined) continue;
        // A replay is not a guess: it proves nothing and costs no attempt, but it is refused and audited.
        if (!(await this.firstUse(user, step))) return fail('replayed');
        await this.succeeded(user, wrong.count);
        this.audit.record({ type: 'mfa.succeeded', user, method: 'totp', clientIp: context.clientIp }, context.requestId);
        return { ok: true, via: 'totp' };
      }
    } else {
      const candidate = normalise(code);
      if (RECOVERY_SHAPE.test(candidate)) {
        const used = await this.useRecoveryCode(user, candidate);
        if (used === 'replayed') return fail('replayed');
        if (used !== undefined) {
          await this.succeeded(user, wrong.count);
          this.audit.record({ type: 'mfa.succeeded', user, method: 'recovery', clientIp: context.clientIp, recoveryCodesLeft: used.left }, context.requestId);
          return { ok: true, via: 'recovery', recoveryCodesLeft: used.left };
        }
      }
    }

    const counted = await this.store.addWrongCode(user, this.windowMs);
    return fail('wrong_code', { wrongCodes: counted.count, attemptsLeft: Math.max(0, this.maxWrongCodes - counted.count) });
  }

  /** See resetMfa. */
  reset(upn: string, by: { by: string; requestId?: string }): Promise<boolean> {
    return resetMfa(this.store, this.audit, upn, by);
  }

  // ------------------------------------------------------------------------------------------ parts

  /** otplib's authenticator at `now` (its clock is its epoch option, so ours can be injected). */
  private totp(now: number) {
    return authenticator.clone({ epoch: now, step: STEP_SECONDS, window: WINDOW_STEPS, digits: DIGITS });
  }

  /** The time step whose code `code` is, within the window around `now`; undefined when none. */
  private matchingStep(secret: string, code: string, now: number): number | undefined {
    const compact = code.replace(/\s+/g, '');
    if (!CODE_SHAPE.test(compact)) return undefined;
    const delta = this.totp(now).checkDelta(compact, secret);
    return delta === null ? undefined : Math.floor(now / 1000 / STEP_SECONDS) + delta;
  }

  private firstUse(user: string, step: number): Promise<boolean> {
    return this.replay.firstUse(`mfa-totp:${user}:${step}`, REPLAY_TTL_MS);
  }

  /** A success clears the wrong-code count (as a good password does for lockout). */
  private async succeeded(user: string, wrongCodes: number): Promise<void> {
    if (wrongCodes > 0) await this.store.clearWrongCodes(user);
  }

  /** Removes the code from the user's set: how many are left, 'replayed' when another request just used it, undefined when it is not one. */
  private async useRecoveryCode(user: string, candidate: string): Promise<{ left: number } | 'replayed' | undefined> {
    let stored = await this.store.get(user);
    if (!stored) return undefined;
    const hash = await hashRecoveryCode(candidate, Buffer.from(stored.enrolment.recovery.salt, 'base64url'));
    let matchedBefore = false;
    // Compare-and-set: another node writing meanwhile (a code used, a reset) means read and try again.
    for (let attempt = 0; attempt < 5 && stored; attempt++) {
      const { enrolment, version } = stored;
      const index = enrolment.recovery.hashes.findIndex((h) => sameHash(h, hash));
      if (index < 0) return matchedBefore ? 'replayed' : undefined;
      matchedBefore = true;
      const hashes = enrolment.recovery.hashes.filter((_, i) => i !== index);
      if (await this.store.compareAndSet(user, version, { ...enrolment, recovery: { ...enrolment.recovery, hashes } })) return { left: hashes.length };
      stored = await this.store.get(user);
    }
    return matchedBefore ? 'replayed' : undefined;
  }

  private secret(): string {
    if (this.encryptionSecret === undefined) {
      throw new InternalError('the second factor needs keys.encryptionSecret (prefer OPENFED_KEY_ENCRYPTION_SECRET): its secrets are encrypted with it');
    }
    return this.encryptionSecret;
  }

  private seal(user: string, secret: string): string {
    return seal(secret, this.secret(), { info: SEAL_INFO, owner: user });
  }

  private unseal(user: string, blob: string): string {
    const encryptionSecret = this.secret();
    try {
      return unseal(blob, encryptionSecret, { info: SEAL_INFO, owner: user });
    } catch (err) {
      if (err instanceof SealFormatError) throw new InternalError(`the stored second-factor secret of ${user} is not in a format this version reads`, { cause: err });
      throw new MfaSecretError(user, err);
    }
  }
}

/**
 * What is stored for a user, without opening any secret: for the web flow (enrol or ask for a code?)
 * and `openfed mfa status`. `maxWrongCodes`: mfa.maxWrongCodes, to say whether codes are refused now.
 */
export async function readMfaStatus(store: MfaStore, upn: string, maxWrongCodes: number): Promise<MfaStatus> {
  const user = mfaUserKey(upn);
  const [stored, pending, wrong] = await Promise.all([store.get(user), store.getPending(user), store.wrongCodes(user)]);
  const enrolment = stored?.enrolment;
  return {
    user,
    enrolled: enrolment !== undefined,
    ...(enrolment ? { enrolledAt: enrolment.enrolledAt } : {}),
    methods: (enrolment?.methods ?? []).map((m) => ({ method: m.method, addedAt: m.addedAt })),
    recoveryCodesLeft: enrolment?.recovery.hashes.length ?? 0,
    pendingEnrolment: pending !== undefined,
    wrongCodes: wrong.count,
    blockedForMs: wrong.count >= maxWrongCodes ? wrong.ttlMs : 0,
  };
}

/**
 * Forgets the user's second factor, a pending enrolment and the wrong-code count (the help desk,
 * when a phone is lost): the next sign-in that needs MFA enrols again. Opens no secret, so it works
 * even when keys.encryptionSecret was lost. Audited (mfa.reset, with who). true when one was enrolled.
 */
export async function resetMfa(store: MfaStore, audit: AuditLog, upn: string, by: { by: string; requestId?: string }): Promise<boolean> {
  const user = mfaUserKey(upn);
  const existed = await store.delete(user);
  await Promise.all([store.deletePending(user), store.clearWrongCodes(user)]);
  audit.record({ type: 'mfa.reset', user, by: by.by }, by.requestId);
  return existed;
}

function newRecoveryCode(): string {
  // 256 is a multiple of 32: each byte's low five bits are uniform.
  const chars = [...randomBytes(RECOVERY_CODE_LENGTH)].map((b) => RECOVERY_ALPHABET[b & 31]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

/** As typed: any case, dashes and spaces, and the letters Crockford's base32 reads as digits. */
function normalise(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
}

async function hashRecoveryCode(normalised: string, salt: Buffer): Promise<string> {
  return (await scrypt(normalised, salt, SCRYPT_KEY_LENGTH)).toString('base64url');
}

function sameHash(stored: string, computed: string): boolean {
  const a = Buffer.from(stored, 'base64url');
  const b = Buffer.from(computed, 'base64url');
  return a.length === b.length && timingSafeEqual(a, b);
}
