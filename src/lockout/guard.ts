/**
 * Applies the extranet smart lockout policy (policy.ts) around a password check, and the
 * per-address throttle in front of it. The sign-in handler calls this and nothing else of lockout/.
 *
 * Users are counted by who they ARE, not how their name was typed: alice, ALICE, CONTOSO\alice and
 * alice@contoso.com are one counter, or an attacker could rotate spellings past the threshold. A
 * typed name is resolved to its UPN once (directory.userPrincipalNameOf, one search, no bind) and the
 * answer cached in the store; names the directory does not know are counted as typed (there is no
 * AD account behind them to protect, and counting them keeps the answers the same as for real users).
 */
import type { AuditLog } from '../audit/audit.js';
import type { Clock } from '../clock.js';
import type { LockoutConfig } from '../config/schema.js';
import type { AuthFailureReason, Directory, Principal } from '../directory/types.js';
import { OpenFedError, ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  addressBlockOf,
  decide,
  EMPTY_STATE,
  recordSuccess,
  refund,
  reserve,
  stateTtlMs,
  userKey,
  type LockoutSettings,
  type LockoutState,
  type Reservation,
} from './policy.js';
import type { LockoutStore, ThrottleResult } from './store.js';

/** 429: too many sign-in attempts from one address. */
export class TooManyAttemptsError extends OpenFedError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'too_many_attempts', `per-address sign-in limit reached; retry after ${retryAfterSeconds} s`);
  }
}

/**
 * What a checked password yields: a sign-in's AuthResult, or a password change's outcome (only the
 * UPN is read of a success; any failure but invalid_credentials proves the password was right).
 */
type AuthLike = { ok: true; principal: Pick<Principal, 'userPrincipalName'> } | { ok: false; reason: AuthFailureReason | (string & {}); detail?: string };

/** No domain controller answered the name lookup before the check: the check was not run. */
export interface NoDirectory {
  ok: false;
  reason: 'directory_unavailable';
  detail: string;
}

/** A refused attempt reads exactly like a wrong password: "locked" would confirm the guess hit a real account. */
export interface LockedOut {
  ok: false;
  reason: 'invalid_credentials';
  detail: string;
  lockedOut: true;
}

export interface AttemptInfo {
  /** As typed (trimmed, NFC). */
  username: string;
  /** After the trusted-proxy rules. */
  clientIp: string;
  requestId: string;
}

/** How long a typed name -> UPN resolution is reused. */
const ALIAS_TTL_MS = 24 * 3_600_000;
/** Compare-and-set retries before giving up on a contended record. */
const MAX_WRITE_ATTEMPTS = 8;

export function lockoutSettings(config: LockoutConfig): LockoutSettings {
  return {
    mode: config.mode,
    threshold: config.threshold,
    observationWindowMs: config.observationWindowMinutes * 60_000,
    familiarLocationMs: config.familiarLocationDays * 86_400_000,
  };
}

export interface LockoutGuardDeps {
  config: LockoutConfig;
  store: LockoutStore;
  directory: Pick<Directory, 'userPrincipalNameOf'>;
  audit: AuditLog;
  logger: Logger;
  clock: Clock;
}

export class LockoutGuard {
  readonly settings: LockoutSettings;
  private readonly store: LockoutStore;
  private readonly directory: Pick<Directory, 'userPrincipalNameOf'>;
  private readonly audit: AuditLog;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(deps: LockoutGuardDeps) {
    this.settings = lockoutSettings(deps.config);
    this.store = deps.store;
    this.directory = deps.directory;
    this.audit = deps.audit;
    this.log = deps.logger.child({ component: 'lockout' });
    this.clock = deps.clock;
  }

  /**
   * Counts a sign-in post from `clientIp` (by its IPv6 /64, see addressBlockOf); throws
   * TooManyAttemptsError (429) past the per-address limit.
   */
  async throttleAddress(clientIp: string): Promise<void> {
    const block = addressBlockOf(clientIp);
    const result: ThrottleResult = await this.store.consumeAddress(block);
    if (!result.allowed) {
      this.log.warn({ clientIp, block, retryAfterSeconds: result.retryAfterSeconds }, 'sign-in attempts from one address over the limit');
      throw new TooManyAttemptsError(result.retryAfterSeconds);
    }
  }

  /**
   * Runs `check` (the password bind) unless the user is locked out for this kind of address and the
   * mode enforces; then updates the counters from its outcome. Only invalid_credentials counts.
   */
  async authenticate<T extends AuthLike>(attempt: AttemptInfo, check: () => Promise<T>): Promise<T | LockedOut | NoDirectory> {
    if (this.settings.mode === 'off') return check();
    const { clientIp } = attempt;
    let resolved: { key: string; known: boolean };
    try {
      resolved = await this.resolve(attempt.username);
    } catch (err) {
      // No DC to tell whose name this is: the bind would have found none either. Answered as the
      // check answers it, so that the caller audits and counts it as every such refusal.
      if (err instanceof ServiceUnavailableError && err.messageId === 'directory_unavailable') {
        return { ok: false, reason: 'directory_unavailable', detail: err.message };
      }
      throw err;
    }
    const { key: user, known } = resolved;
    const ttl = (s: LockoutState) => this.ttlFor(s, known);
    const reserved = await this.reserve(user, attempt, ttl);
    if (reserved === 'refused') {
      return { ok: false, reason: 'invalid_credentials', detail: 'refused by extranet lockout', lockedOut: true };
    }

    let outcome: T;
    try {
      outcome = await check();
    } catch (err) {
      if (reserved) await this.settle(user, (s) => refund(s, reserved), ttl);
      throw err;
    }

    if (outcome.ok) {
      const upnKey = userKey(outcome.principal.userPrincipalName);
      if (reserved && upnKey !== user) await this.settle(user, (s) => refund(s, reserved), ttl);
      await this.settle(upnKey, (s) => recordSuccess(s, clientIp, this.clock.now(), this.settings), (s) => this.ttlFor(s, true));
      await this.remember(userKey(attempt.username), upnKey);
    } else if (outcome.reason === 'invalid_credentials') {
      // The reservation stands: it was a bad password.
      this.log.info({ user, clientIp, familiar: reserved ? reserved.familiar : undefined }, 'bad password counted');
    } else if (reserved) {
      await this.settle(user, (s) => refund(s, reserved), ttl);
    }
    return outcome;
  }

  /**
   * The key a typed name is counted under (see the header), and whether the directory knows it.
   * Throws ServiceUnavailableError when no DC answers (the bind would fail the same way).
   */
  async resolve(typed: string): Promise<{ key: string; known: boolean }> {
    const name = userKey(typed);
    const cached = await this.store.getAlias(name);
    // An empty alias marks a name the directory did not know.
    if (cached !== undefined) return cached === '' ? { key: name, known: false } : { key: cached, known: true };
    // The UPN alone: a whole principal would cost the DC a group expansion for nothing.
    const upn = await this.directory.userPrincipalNameOf(typed);
    if (upn === undefined) {
      // Remembered for a window only: the account may be created meanwhile.
      await this.remember(name, '', this.settings.observationWindowMs);
      return { key: name, known: false };
    }
    const key = userKey(upn);
    await this.remember(name, key);
    return { key, known: true };
  }

  /** Counts the attempt in advance; 'refused' when enforce mode refuses it, undefined when it could not be counted. */
  private async reserve(user: string, attempt: AttemptInfo, ttl: (s: LockoutState) => number): Promise<Reservation | 'refused' | undefined> {
    const { clientIp } = attempt;
    for (let i = 0; i < MAX_WRITE_ATTEMPTS; i++) {
      const now = this.clock.now();
      const current = await this.store.get(user);
      const state = current?.state ?? EMPTY_STATE;
      const decision = decide(state, clientIp, now, this.settings);
      if (decision.locked) {
        // AD FS event 1210, in log-only mode too: that is what log-only is for.
        this.audit.record({ type: 'lockout.blocked', user, clientIp, familiar: decision.familiar }, attempt.requestId);
        this.log.warn(
          { user, clientIp, familiar: decision.familiar, enforced: decision.refuse },
          decision.refuse ? 'sign-in refused by extranet lockout' : 'extranet lockout would refuse this sign-in (log-only)',
        );
        if (decision.refuse) return 'refused';
      }
      const next = reserve(state, decision.familiar, now);
      if (await this.store.compareAndSet(user, current?.version ?? 0, next.state, ttl(next.state))) return next.reservation;
    }
    // Heavy contention on one user: refuse rather than let unknown numbers of binds through.
    this.log.warn({ user, clientIp }, 'lockout state contended; attempt not counted');
    return this.settings.mode === 'enforce' ? 'refused' : undefined;
  }

  /** Read-modify-write with retries; a failure here is logged, never turned into the user's answer. */
  private async settle(user: string, change: (s: LockoutState) => LockoutState, ttl: (s: LockoutState) => number): Promise<void> {
    try {
      for (let i = 0; i < MAX_WRITE_ATTEMPTS; i++) {
        const current = await this.store.get(user);
        const next = change(current?.state ?? EMPTY_STATE);
        if (await this.store.compareAndSet(user, current?.version ?? 0, next, ttl(next))) return;
      }
      this.log.warn({ user }, 'lockout state contended; update dropped');
    } catch (err) {
      this.log.warn({ user, err }, 'could not update lockout state');
    }
  }

  private async remember(name: string, key: string, ttlMs = ALIAS_TTL_MS): Promise<void> {
    try {
      await this.store.setAlias(name, key, ttlMs);
    } catch (err) {
      this.log.warn({ err }, 'could not cache the resolved user name');
    }
  }

  /**
   * A directory user's record lives familiarLocationDays after its last change (counters clear only on
   * success or reset); a name nobody has only the window, so sprayed names cannot pile up.
   */
  private ttlFor(state: LockoutState, known: boolean): number {
    return known || state.familiarIps.length > 0 ? stateTtlMs(this.settings) : this.settings.observationWindowMs;
  }
}
