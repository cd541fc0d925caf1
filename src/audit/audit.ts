/**
 * The audit trail: one JSON line per security event, separate from the operational log, with the
 * AD FS event each one stands for (1200 token issued, 1201 token failed, 1202 credentials validated,
 * 1203 credentials failed, 1210 extranet lockout). Never passwords, tokens, one-time codes or
 * second-factor secrets: events carry names, reason codes and relying parties only.
 */
import { openSync } from 'node:fs';
import type { Protocol } from '../errors.js';
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACT_PATHS } from '../log.js';

export type AuditEvent =
  | { type: 'signin.succeeded'; user: string; upn: string; method: string; clientIp: string; persistent: boolean; endpoint: 'form' | 'wstrust' }
  | { type: 'signin.failed'; user: string; reason: string; clientIp: string; endpoint: 'form' | 'wstrust' }
  | { type: 'password.changed'; user: string; upn: string; clientIp: string }
  | { type: 'password.change_failed'; user: string; reason: string; clientIp: string }
  | { type: 'lockout.blocked'; user: string; clientIp: string; familiar: boolean }
  | { type: 'lockout.reset'; user: string; by: string }
  | { type: 'token.issued'; protocol: Protocol; rp: string; upn: string; nameId?: string; clientIp: string }
  | { type: 'token.refused'; protocol: Protocol; rp?: string; reason: string; clientIp: string }
  | { type: 'signout'; upn?: string; initiator?: string; relyingParties: number; clientIp: string }
  | { type: 'admin.change'; command: string; target: string; by: string }
  // The second factor (src/mfa). `user` is the lower-cased UPN; `method` what was used ('recovery':
  // a one-time recovery code); `wrongCodes` the user's count in the current window after this one.
  | { type: 'mfa.enrolled'; user: string; method: 'totp'; clientIp: string }
  | { type: 'mfa.succeeded'; user: string; method: 'totp' | 'recovery'; clientIp: string; recoveryCodesLeft?: number }
  | { type: 'mfa.failed'; user: string; reason: 'wrong_code' | 'replayed' | 'too_many_attempts' | 'not_enrolled'; clientIp: string; wrongCodes?: number }
  | { type: 'mfa.reset'; user: string; by: string };

/** AD FS event ids, so an admin's existing queries and alerts have a counterpart. */
const ADFS_EVENT: Record<AuditEvent['type'], number | undefined> = {
  'signin.succeeded': 1202,
  'signin.failed': 1203,
  // AD FS logs a refused change like any failed credential check (1203) when the current password
  // was wrong; a policy refusal proved the password right, so it carries no AD FS id (see adfsEventOf).
  'password.changed': undefined,
  'password.change_failed': 1203,
  'lockout.blocked': 1210,
  'lockout.reset': undefined,
  'token.issued': 1200,
  'token.refused': 1201,
  signout: undefined,
  'admin.change': undefined,
  // AD FS writes its fresh-credential events (1202/1203) for each credential a sign-in validates,
  // an additional authentication provider's too; enrolment and reset have no counterpart.
  'mfa.enrolled': undefined,
  'mfa.succeeded': 1202,
  'mfa.failed': 1203,
  'mfa.reset': undefined,
};

/** Reasons of a refused password change that are a failed credential check (wrong current password). */
const CREDENTIAL_FAILURES: ReadonlySet<string> = new Set(['invalid_credentials', 'account_locked']);

function adfsEventOf(event: AuditEvent): number | undefined {
  if (event.type === 'password.change_failed' && !CREDENTIAL_FAILURES.has(event.reason)) return undefined;
  // No code was checked for a user without a second factor: not a failed credential.
  if (event.type === 'mfa.failed' && event.reason === 'not_enrolled') return undefined;
  return ADFS_EVENT[event.type];
}

export interface AuditLog {
  record(event: AuditEvent, requestId?: string): void;
  /** Writes out what a buffered trail still holds (on shutdown). */
  flush?(): void;
}

/** Audit lines go to their own destination (a file or stdout), through the same redaction as logs. */
export function createAuditLog(destination?: DestinationStream): AuditLog {
  const options = { base: { log: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  const logger: Logger = destination ? pino(options, destination) : pino(options);
  return {
    record(event, requestId) {
      logger.info({ ...event, adfsEventId: adfsEventOf(event), requestId });
    },
  };
}

/** How long an audit line may wait in the buffer of a serving process before it reaches the file. */
export const AUDIT_FLUSH_INTERVAL_MS = 100;

/**
 * The audit file of a serving process: lines are gathered in memory and written together, at most
 * AUDIT_FLUSH_INTERVAL_MS after they were recorded (or once 4 KB are waiting), and everything left is
 * written synchronously on shutdown and at process exit. One synchronous write(2) per token cost more
 * than a tenth of the token's CPU; the price is that a hard kill (SIGKILL, power loss) loses at most
 * the last AUDIT_FLUSH_INTERVAL_MS of lines.
 */
export function createBufferedFileAuditLog(file: string): AuditLog {
  // Opened here, not by the stream: a process that exits right after start-up (a configuration
  // mistake) still flushes at exit without meeting a stream that is not open yet.
  const destination = pino.destination({ dest: openSync(file, 'a'), sync: false, minLength: 4096 });
  const flushSync = () => {
    try {
      destination.flushSync();
    } catch {
      // Not open yet or already closed: nothing buffered that could still be written.
    }
  };
  // A flush is skipped while a write is under way; the next tick catches what that left behind.
  let ticksToFlush = 0;
  const timer = setInterval(() => {
    if (ticksToFlush === 0) return;
    ticksToFlush--;
    destination.flush();
  }, AUDIT_FLUSH_INTERVAL_MS);
  timer.unref();
  process.once('exit', flushSync);
  const log = createAuditLog(destination);
  return {
    record(event, requestId) {
      log.record(event, requestId);
      ticksToFlush = 2;
    },
    flush: flushSync,
  };
}

/** For tests: keeps events in memory. */
export class MemoryAuditLog implements AuditLog {
  readonly events: Array<AuditEvent & { requestId?: string }> = [];
  record(event: AuditEvent, requestId?: string): void {
    this.events.push({ ...event, requestId });
  }
}
