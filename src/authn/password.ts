/**
 * A password sign-in, the same whichever door it came through — the sign-in form or a WS-Trust
 * UsernameToken: the per-address throttle, the length limits, extranet smart lockout around the
 * directory's bind, and the log and audit lines (AD FS events 1202 / 1203). What the door does with
 * the outcome (a page, a session, a token, a SOAP fault) is the door's business; what counts as an
 * attempt, and what is recorded about it, is decided here once.
 */
import type { AuditEvent, AuditLog } from '../audit/audit.js';
import type { Config } from '../config/schema.js';
import type { AuthFailureReason, AuthResult, Principal } from '../directory/types.js';
import { ServiceUnavailableError } from '../errors.js';
import type { LockoutGuard } from '../lockout/guard.js';
import type { Logger } from '../log.js';

/** Which door took the password: recorded with each attempt, so the audit trail tells the endpoints apart. */
export type PasswordEndpoint = Extract<AuditEvent, { type: 'signin.failed' }>['endpoint'];

export interface PasswordAttempt {
  /** As sent; trimmed and NFC-normalised here. */
  username: string;
  password: string;
  /** After the trusted-proxy rules. */
  clientIp: string;
  requestId: string;
  log: Logger;
  endpoint: PasswordEndpoint;
  /** "Keep me signed in" was chosen (recorded with a success). */
  persistent?: boolean;
}

export type PasswordSignIn =
  | { ok: true; principal: Principal; username: string }
  /** Refused before the directory was asked. */
  | { ok: false; reason: 'missing_fields' | 'too_long'; username: string }
  | { ok: false; reason: Exclude<AuthFailureReason, 'directory_unavailable'>; username: string };

export interface PasswordSignInDeps {
  config: Pick<Config, 'web'>;
  lockout: Pick<LockoutGuard, 'throttleAddress' | 'authenticate'>;
  audit: AuditLog;
}

export class PasswordSignIns {
  constructor(private readonly deps: PasswordSignInDeps) {}

  /**
   * Runs one attempt. `check` is the bind itself (the form runs it through passport); it gets the
   * normalised name. Throws TooManyAttemptsError past the per-address limit and
   * ServiceUnavailableError when no domain controller answered: neither is the user's mistake.
   */
  async signIn(attempt: PasswordAttempt, check: (username: string) => Promise<AuthResult>): Promise<PasswordSignIn> {
    const { clientIp, requestId, log, endpoint } = attempt;
    // Counted before anything else, so malformed attempts use up the address's allowance too.
    await this.deps.lockout.throttleAddress(clientIp);
    const username = attempt.username.normalize('NFC').trim();
    const { maxUsernameLength, maxPasswordLength } = this.deps.config.web;
    if (!username || !attempt.password) return { ok: false, reason: 'missing_fields', username };
    if (username.length > maxUsernameLength || attempt.password.length > maxPasswordLength) return { ok: false, reason: 'too_long', username: '' };

    // Extranet smart lockout decides whether AD is asked at all, and learns from its answer.
    const outcome = await this.deps.lockout.authenticate({ username, clientIp, requestId }, () => check(username));
    if (!outcome.ok) {
      // No DC answering is an outage, which the directory logs as it changes (lost, still down,
      // back): a line per refused sign-in would flood the log then (issue #17). Each one is still
      // at debug, in the audit trail and in the metrics.
      const level = outcome.reason === 'directory_unavailable' ? 'debug' : 'info';
      log[level]({ event: 'signin.failed', username, reason: outcome.reason, detail: outcome.detail, endpoint }, 'sign-in failed');
      this.deps.audit.record({ type: 'signin.failed', user: username, reason: outcome.reason, clientIp, endpoint }, requestId);
      if (outcome.reason === 'directory_unavailable') {
        throw new ServiceUnavailableError('directory_unavailable', outcome.detail ?? 'no domain controller answered');
      }
      return { ok: false, reason: outcome.reason, username };
    }
    const upn = outcome.principal.userPrincipalName;
    const persistent = attempt.persistent ?? false;
    log.info({ event: 'signin.succeeded', username, upn, method: 'password', persistent, endpoint }, 'sign-in succeeded');
    this.deps.audit.record({ type: 'signin.succeeded', user: username, upn, method: 'password', clientIp, persistent, endpoint }, requestId);
    return { ok: true, principal: outcome.principal, username };
  }
}
