/**
 * The audit trail: one JSON line per security event, separate from the operational log, with the
 * AD FS event each one stands for (1200 token issued, 1201 token failed, 1202 credentials validated,
 * 1203 credentials failed, 1210 extranet lockout). Never passwords or tokens: events carry names,
 * reason codes and relying parties only.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACT_PATHS } from '../log.js';

export type AuditEvent =
  | { type: 'signin.succeeded'; user: string; upn: string; method: string; clientIp: string; persistent: boolean }
  | { type: 'signin.failed'; user: string; reason: string; clientIp: string }
  | { type: 'lockout.blocked'; user: string; clientIp: string; familiar: boolean }
  | { type: 'lockout.reset'; user: string; by: string }
  | { type: 'token.issued'; protocol: 'saml2' | 'wsfed'; rp: string; upn: string; nameId?: string; clientIp: string }
  | { type: 'token.refused'; protocol: 'saml2' | 'wsfed'; rp?: string; reason: string; clientIp: string }
  | { type: 'signout'; upn?: string; initiator?: string; relyingParties: number; clientIp: string }
  | { type: 'admin.change'; command: string; target: string; by: string };

/** AD FS event ids, so an admin's existing queries and alerts have a counterpart. */
const ADFS_EVENT: Record<AuditEvent['type'], number | undefined> = {
  'signin.succeeded': 1202,
  'signin.failed': 1203,
  'lockout.blocked': 1210,
  'lockout.reset': undefined,
  'token.issued': 1200,
  'token.refused': 1201,
  signout: undefined,
  'admin.change': undefined,
};

export interface AuditLog {
  record(event: AuditEvent, requestId?: string): void;
}

/** Audit lines go to their own destination (a file or stdout), through the same redaction as logs. */
export function createAuditLog(destination?: DestinationStream): AuditLog {
  const options = { base: { log: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  const logger: Logger = destination ? pino(options, destination) : pino(options);
  return {
    record(event, requestId) {
      logger.info({ ...event, adfsEventId: ADFS_EVENT[event.type], requestId });
    },
  };
}

/** For tests: keeps events in memory. */
export class MemoryAuditLog implements AuditLog {
  readonly events: Array<AuditEvent & { requestId?: string }> = [];
  record(event: AuditEvent, requestId?: string): void {
    this.events.push({ ...event, requestId });
  }
}
