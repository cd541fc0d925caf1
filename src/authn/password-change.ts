/**
 * A password change from the change-password page: the same guards as a sign-in, since the current
 * password is a password attempt like any other — the per-address throttle counts the post, extranet
 * smart lockout runs around the directory's check of the current password (a wrong one counts as a
 * wrong password at sign-in does, and a locked-out user's attempt never reaches AD), and each
 * outcome is logged and audited (never a password). The directory then decides the new password.
 */
import type { AuditLog } from '../audit/audit.js';
import type { Config } from '../config/schema.js';
import type { Directory, PasswordChangeFailureReason } from '../directory/types.js';
import { ServiceUnavailableError } from '../errors.js';
import type { LockoutGuard } from '../lockout/guard.js';
import type { Logger } from '../log.js';

export interface PasswordChangeAttempt {
  /** As typed; trimmed and NFC-normalised here. */
  username: string;
  current: string;
  next: string;
  /** The new password typed a second time. */
  confirmation: string;
  clientIp: string;
  requestId: string;
  log: Logger;
}

/** Refused here, before the directory was asked. */
export type PasswordChangeFormFailure = 'missing_fields' | 'too_long' | 'mismatch' | 'same_as_current';

export type PasswordChangeOutcome =
  | { ok: true; username: string; upn: string }
  | { ok: false; reason: PasswordChangeFormFailure | Exclude<PasswordChangeFailureReason, 'directory_unavailable'>; username: string };

export interface PasswordChangeDeps {
  config: Pick<Config, 'web'>;
  directory: Pick<Directory, 'changePassword'>;
  lockout: Pick<LockoutGuard, 'throttleAddress' | 'authenticate'>;
  audit: AuditLog;
}

export class PasswordChanges {
  constructor(private readonly deps: PasswordChangeDeps) {}

  /**
   * Runs one change. Throws TooManyAttemptsError past the per-address limit, and
   * ServiceUnavailableError('directory_unavailable') when no DC answered: not the user's to fix. A
   * directory that cannot change passwords (no LDAPS, the DC refused the operation) answers
   * change_unavailable, which the page shows as such.
   */
  async change(attempt: PasswordChangeAttempt): Promise<PasswordChangeOutcome> {
    const { clientIp, requestId, log } = attempt;
    await this.deps.lockout.throttleAddress(clientIp);
    const username = attempt.username.normalize('NFC').trim();
    const refuse = (reason: Extract<PasswordChangeOutcome, { ok: false }>['reason'], detail?: string): PasswordChangeOutcome => {
      log.info({ event: 'password.change_failed', username, reason, detail }, 'password change refused');
      this.deps.audit.record({ type: 'password.change_failed', user: username, reason, clientIp }, requestId);
      return { ok: false, reason, username };
    };
    const { maxUsernameLength, maxPasswordLength } = this.deps.config.web;
    if (!username || !attempt.current || !attempt.next || !attempt.confirmation) return { ok: false, reason: 'missing_fields', username };
    if (username.length > maxUsernameLength || [attempt.current, attempt.next, attempt.confirmation].some((p) => p.length > maxPasswordLength)) {
      return { ok: false, reason: 'too_long', username: '' };
    }
    // Both checked before AD is asked: neither costs the user a bad-password count.
    if (attempt.next !== attempt.confirmation) return refuse('mismatch');
    if (attempt.next === attempt.current) return refuse('same_as_current');

    const outcome = await this.deps.lockout.authenticate({ username, clientIp, requestId }, async () => {
      const result = await this.deps.directory.changePassword(username, attempt.current, attempt.next);
      return result.ok ? { ok: true as const, principal: { userPrincipalName: result.userPrincipalName } } : result;
    });
    if (!outcome.ok) {
      if (outcome.reason === 'directory_unavailable') {
        // An outage, which the directory logs as it changes (lost, still down, back): a warn line per
        // refused change would flood the log then (issue #17). Each one is still at debug and audited.
        log.debug({ event: 'password.change_failed', username, reason: outcome.reason, detail: outcome.detail }, 'password change: no domain controller');
        this.deps.audit.record({ type: 'password.change_failed', user: username, reason: outcome.reason, clientIp }, requestId);
        throw new ServiceUnavailableError('directory_unavailable', outcome.detail ?? 'no domain controller answered');
      }
      return refuse(outcome.reason, outcome.detail);
    }
    const upn = outcome.principal.userPrincipalName;
    log.info({ event: 'password.changed', username, upn }, 'password changed');
    this.deps.audit.record({ type: 'password.changed', user: username, upn, clientIp }, requestId);
    return { ok: true, username, upn };
  }
}
