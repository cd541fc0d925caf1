/**
 * Extranet lockout against the domain's own account lockout (lockoutThreshold on the domain head).
 *
 * Smart lockout keeps two counters per user, one for familiar and one for unknown addresses, and
 * each lets `threshold` bad passwords through to AD before it refuses. So AD can see 2 × threshold
 * bad passwords in a row (an attacker from the internet uses up the unknown counter, the real user
 * mistypes from the office), and the account is only safe while that stays below the domain's
 * lockoutThreshold. One rule, used by `openfed doctor` and by the start-up warning.
 */
import type { LockoutConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

export interface DomainLockoutPolicy {
  /** The domain's DN, for messages. */
  domain: string;
  /** lockoutThreshold; 0 = the domain never locks accounts. */
  threshold: number;
}

/**
 * - `never`: the domain never locks accounts (lockoutThreshold 0);
 * - `safe`: 2 × threshold < the domain's, neither counter nor both together reach it;
 * - `both-counters`: each counter alone stays below the domain's, both together reach it;
 * - `one-counter`: one counter alone reaches it, AD locks before OpenFed refuses.
 */
export type DomainLockoutRisk = 'never' | 'safe' | 'both-counters' | 'one-counter';

export function domainLockoutRisk(threshold: number, domainThreshold: number): DomainLockoutRisk {
  if (domainThreshold === 0) return 'never';
  if (threshold >= domainThreshold) return 'one-counter';
  if (2 * threshold >= domainThreshold) return 'both-counters';
  return 'safe';
}

/** The largest lockout.threshold that is `safe` against a domain threshold; 0 when none is (domain 1 or 2). */
export function largestSafeThreshold(domainThreshold: number): number {
  return Math.floor((domainThreshold - 1) / 2);
}

/** "use 4 or less", or why no value works. */
export function thresholdAdvice(domainThreshold: number): string {
  const safe = largestSafeThreshold(domainThreshold);
  return safe > 0 ? `use ${safe} or less` : 'the domain leaves no room below it (raise its lockoutThreshold to 3 or more)';
}

/**
 * At start-up, with lockout.mode enforce and an AD directory: one warning when the domain can lock an
 * account that extranet lockout is meant to protect. Runs beside the start, never delays or stops it:
 * a DC that does not answer here is reported by the directory's own health checks.
 */
export async function warnIfDomainLocksFirst(
  lockout: Pick<LockoutConfig, 'mode' | 'threshold'>,
  readDomainPolicy: () => Promise<DomainLockoutPolicy>,
  logger: Logger,
): Promise<void> {
  if (lockout.mode !== 'enforce') return;
  let domain: DomainLockoutPolicy;
  try {
    domain = await readDomainPolicy();
  } catch (err) {
    logger.info({ err: String((err as Error)?.message ?? err) }, "could not read the domain's lockoutThreshold to compare it with lockout.threshold (openfed doctor does too)");
    return;
  }
  const risk = domainLockoutRisk(lockout.threshold, domain.threshold);
  if (risk !== 'both-counters' && risk !== 'one-counter') return;
  const reach =
    risk === 'one-counter'
      ? `${lockout.threshold} bad passwords from one kind of address`
      : `${2 * lockout.threshold} bad passwords (${lockout.threshold} from unknown and ${lockout.threshold} from familiar addresses)`;
  logger.warn(
    { lockoutThreshold: lockout.threshold, domain: domain.domain, domainLockoutThreshold: domain.threshold },
    `lockout.threshold ${lockout.threshold}: AD can still lock accounts, since ${reach} reach the lockoutThreshold of ${domain.domain} (${domain.threshold}); ${thresholdAdvice(domain.threshold)}`,
  );
}
