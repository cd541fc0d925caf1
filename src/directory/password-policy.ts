/**
 * The domain's password rules, checked before a new password is sent, so a refusal can name the rule.
 *
 * AD refuses every policy failure of a password change alike (constraintViolation, "data 52d"), and
 * its diagnostic text is neither stable across Windows builds and Samba nor fit for users. So the
 * rules that depend on the password alone (length, complexity) are checked here first, with AD's own
 * definitions; when AD still says 52d, the two rules that depend on the account's history are told
 * apart by the password's age (explainPolicyRefusal). Pure: no LDAP, no clock.
 */
import type { PasswordRuleFailure } from './types.js';

/** The policy in effect for one user: the domain's, or the fine-grained one (PSO) that applies to them. */
export interface PasswordPolicy {
  /** minPwdLength / msDS-MinimumPasswordLength. */
  minLength: number;
  /** pwdProperties bit 0 (DOMAIN_PASSWORD_COMPLEX) / msDS-PasswordComplexityEnabled. */
  complexity: boolean;
  /** minPwdAge / msDS-MinimumPasswordAge, as a positive duration in ms (AD stores a negative interval). */
  minAgeMs: number;
  /** pwdHistoryLength / msDS-PasswordHistoryLength. */
  historyLength: number;
  /** Where it came from, for logs. */
  source: string;
}

/** What the complexity rule compares the password with. */
export interface PasswordOwner {
  sAMAccountName: string;
  displayName?: string;
}

/** Characters AD splits a display name at before checking each part against the password. */
const DISPLAY_NAME_DELIMITERS = /[,.\-_ #\t\u2010-\u2015]/;
/** AD ignores name parts (and account names) shorter than this. */
const MIN_NAME_TOKEN = 3;
/** Categories a complex password needs characters from. */
const COMPLEXITY_CATEGORIES_NEEDED = 3;

/**
 * The length and complexity rules, as AD applies them ("Passwords must meet complexity
 * requirements"): at least 3 of the character categories — upper-case letters, lower-case letters,
 * digits, other characters (symbols, punctuation), and letters without case (Asian scripts, as
 * Windows Server 2008 and later and Samba count them) — and neither the sAMAccountName nor any part of
 * the display name of 3 or more characters, case-insensitively. Length counts UTF-16 code units, as
 * AD does.
 */
export function checkNewPassword(password: string, policy: PasswordPolicy, owner: PasswordOwner): Extract<PasswordRuleFailure, 'too_short' | 'complexity'> | undefined {
  if (password.length < policy.minLength) return 'too_short';
  if (policy.complexity && !meetsComplexity(password, owner)) return 'complexity';
  return undefined;
}

export function meetsComplexity(password: string, owner: PasswordOwner): boolean {
  const lower = password.toLowerCase();
  const sam = owner.sAMAccountName.toLowerCase();
  if (sam.length >= MIN_NAME_TOKEN && lower.includes(sam)) return false;
  for (const token of (owner.displayName ?? '').split(DISPLAY_NAME_DELIMITERS)) {
    if (token.length >= MIN_NAME_TOKEN && lower.includes(token.toLowerCase())) return false;
  }
  return characterCategories(password) >= COMPLEXITY_CATEGORIES_NEEDED;
}

/** How many of AD's five character categories the password uses. */
export function characterCategories(password: string): number {
  const found = new Set<string>();
  for (const ch of password) {
    if (/\p{Lu}/u.test(ch)) found.add('upper');
    else if (/\p{Ll}/u.test(ch)) found.add('lower');
    else if (/[0-9]/.test(ch)) found.add('digit');
    else if (/\p{L}/u.test(ch)) found.add('caseless letter');
    else found.add('other');
  }
  return found.size;
}

/**
 * Which rule a 52d refusal meant, once length and complexity passed here: "too recent" when the
 * password was set less than the minimum age ago (never for pwdLastSet 0, "must change", which AD
 * lets change at once), else "in history" when the policy keeps one, else the policy in general
 * (a rule OpenFed cannot see, e.g. a password filter DLL). Without a readable policy, only the
 * general answer is honest.
 */
export function explainPolicyRefusal(policy: PasswordPolicy | undefined, passwordLastSetMs: number | undefined, nowMs: number): Extract<PasswordRuleFailure, 'too_recent' | 'in_history' | 'rejected_by_policy'> {
  if (!policy) return 'rejected_by_policy';
  if (policy.minAgeMs > 0 && passwordLastSetMs !== undefined && passwordLastSetMs + policy.minAgeMs > nowMs) return 'too_recent';
  if (policy.historyLength > 0) return 'in_history';
  return 'rejected_by_policy';
}

/** AD's negative 100-ns intervals (minPwdAge = -864000000000 is one day) as positive ms; 0 for "none". */
export function intervalToMs(value: string | undefined): number {
  if (value === undefined || !/^-?\d+$/.test(value)) return 0;
  const ticks = BigInt(value);
  // -2^63 means "never" for maxPwdAge; for minPwdAge it cannot occur, but it must not become a huge age.
  if (ticks >= 0n || ticks === -(2n ** 63n)) return 0;
  return Number(-ticks / 10_000n);
}

/** A password as unicodePwd carries it: the UTF-16LE bytes of the password in double quotes. */
export function unicodePwdValue(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}
