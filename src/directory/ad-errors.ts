/**
 * What a failed Active Directory simple bind means.
 *
 * AD answers every failed bind with resultCode 49 (invalidCredentials) and hides the real reason in
 * the diagnostic message, e.g. "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext
 * error, data 52e, v1db1". The DSID and the trailing token differ between Windows builds and Samba,
 * so only the hex Win32 error after "data" is trusted.
 *
 * AD reports the state-specific codes only when the password was right; with a wrong password a
 * disabled or expired account still answers 52e. So every code below except 52e/525/775 proves the
 * user knew the password, which is why the web layer may tell them more (e.g. "change your password").
 */
import type { AuthFailureReason, PasswordChangeFailureReason } from './types.js';

const AD_BIND_ERRORS: Readonly<Record<string, { reason: AuthFailureReason; why: string }>> = {
  // ERROR_NO_SUCH_USER. Windows gives it for an unknown name; it must look exactly like a wrong
  // password to the caller, or the sign-in page becomes a user-enumeration oracle.
  '525': { reason: 'invalid_credentials', why: 'user not found' },
  // ERROR_LOGON_FAILURE: wrong password (also what Samba says for an unknown user).
  '52e': { reason: 'invalid_credentials', why: 'wrong password' },
  // ERROR_INVALID_LOGON_HOURS: the password is right but logonHours forbid this time of day.
  '530': { reason: 'logon_hours', why: 'not permitted to log on at this time' },
  // ERROR_INVALID_WORKSTATION: userWorkstations restricts where the user may log on.
  '531': { reason: 'workstation_restricted', why: 'not permitted to log on from this workstation' },
  // ERROR_PASSWORD_EXPIRED: older than maxPwdAge; the user can still change it with the old one.
  '532': { reason: 'password_expired', why: 'password expired' },
  // ERROR_ACCOUNT_DISABLED: userAccountControl ACCOUNTDISABLE.
  '533': { reason: 'account_disabled', why: 'account disabled' },
  // ERROR_ACCOUNT_EXPIRED: accountExpires is in the past. Distinct from a password expiry: only an
  // administrator can fix it, so it must not lead to a change-password page.
  '701': { reason: 'account_expired', why: 'account expired' },
  // ERROR_PASSWORD_MUST_CHANGE: pwdLastSet=0 ("user must change password at next logon").
  '773': { reason: 'password_must_change', why: 'password must be changed' },
  // ERROR_ACCOUNT_LOCKED_OUT: given for right and wrong passwords alike once locked, so it does not
  // prove knowledge of the password; it does reveal that the account exists, as AD FS does too.
  '775': { reason: 'account_locked', why: 'account locked out' },
};

export interface BindFailure {
  reason: AuthFailureReason;
  /** The AD "data" code as found (lower-case hex), for logs; undefined when the message had none. */
  adCode: string | undefined;
  /** A short internal description for logs. */
  detail: string;
}

const DATA_CODE = / data ([0-9a-f]+),/i;

/** The hex code after "data" in an AD diagnostic message, lower-cased, or undefined. */
export function adDataCode(message: string): string | undefined {
  return DATA_CODE.exec(message)?.[1]?.toLowerCase();
}

/**
 * Classifies the message of an invalidCredentials (49) bind error. Anything not in the table fails
 * closed as invalid_credentials, with the raw code kept in `detail` so a new code shows up in logs.
 */
export function classifyBindFailure(message: string): BindFailure {
  const adCode = adDataCode(message);
  const known = adCode === undefined ? undefined : AD_BIND_ERRORS[adCode];
  if (known) return { reason: known.reason, adCode, detail: `AD ${adCode}: ${known.why}` };
  return {
    reason: 'invalid_credentials',
    adCode,
    detail: adCode === undefined ? 'bind rejected without an AD data code' : `unknown AD bind code ${adCode}`,
  };
}

/**
 * What AD's answer to a password change (modify of unicodePwd: delete the old value, add the new)
 * means. 'policy' is any rule of the domain's policy (length, complexity, history, minimum age): AD
 * says only "data 52d" and password-policy.ts works out which rule it was.
 */
export interface PasswordChangeRefusal {
  reason: Exclude<PasswordChangeFailureReason, 'too_short' | 'complexity' | 'in_history' | 'too_recent' | 'rejected_by_policy'> | 'policy';
  adCode: string | undefined;
  detail: string;
}

const AD_CHANGE_ERRORS: Readonly<Record<string, { reason: PasswordChangeRefusal['reason']; why: string }>> = {
  // ERROR_PASSWORD_RESTRICTION: the new password breaks a rule of the policy in effect for the user.
  '52d': { reason: 'policy', why: 'password policy' },
  // ERROR_INVALID_PASSWORD: the old value in the delete is not the current password (AD counts it
  // as a bad password, as a failed bind).
  '56': { reason: 'invalid_credentials', why: 'current password does not match' },
  '52e': { reason: 'invalid_credentials', why: 'current password does not match' },
  '775': { reason: 'account_locked', why: 'account locked out' },
};

/** LDAP result codes of a modify: 19 constraintViolation, 50 insufficientAccessRights, 53 unwillingToPerform. */
const CONSTRAINT_VIOLATION = 19;
const INSUFFICIENT_ACCESS = 50;
const UNWILLING_TO_PERFORM = 53;

/**
 * Classifies AD's refusal of a password change. An unknown code fails closed as a general policy
 * refusal of the DC's (change_unavailable), with the code kept for the log.
 */
export function classifyPasswordChangeFailure(resultCode: number, message: string): PasswordChangeRefusal {
  // A modify's Win32 code leads the message ("0000052D: AtrErr: DSID-03191083, ... data 0, ..." from
  // Windows, "0000052D: Constraint violation - ..." from Samba); its "data" is not the code, unlike a bind's.
  const adCode = /^0*([0-9a-f]+):/i.exec(message)?.[1]?.toLowerCase() ?? adDataCode(message);
  const known = adCode === undefined ? undefined : AD_CHANGE_ERRORS[adCode];
  if (known && (resultCode === CONSTRAINT_VIOLATION || resultCode === 49)) return { reason: known.reason, adCode, detail: `AD ${adCode}: ${known.why}` };
  // 53 is what AD answers for unicodePwd over an unencrypted connection; 50 when the Change Password
  // right has been taken away. Neither is the user's to fix.
  if (resultCode === UNWILLING_TO_PERFORM) return { reason: 'change_unavailable', adCode, detail: 'the DC is unwilling to change the password (no encryption?)' };
  if (resultCode === INSUFFICIENT_ACCESS) return { reason: 'change_unavailable', adCode, detail: 'the DC refused the Change Password right' };
  return { reason: 'change_unavailable', adCode, detail: `password change refused with result ${resultCode}${adCode ? `, AD ${adCode}` : ''}` };
}

/**
 * The account state as AD stores it, for a user who proved who they are without a bind (a Kerberos
 * ticket stays valid after the account is disabled or locked): the same reasons a bind would give.
 */
export interface AccountAttributes {
  /** userAccountControl. */
  userAccountControl: number;
  /** msDS-User-Account-Control-Computed: the DC's own reading of lockout and password expiry. */
  computed: number;
  /** accountExpires, a FILETIME (100 ns since 1601); 0 and 2^63-1 mean never. */
  accountExpires: bigint;
  /** pwdLastSet, a FILETIME; 0 = must change at next logon. */
  pwdLastSet: bigint;
}

const UF_ACCOUNTDISABLE = 0x2;
const UF_LOCKOUT = 0x10;
const UF_PASSWORD_EXPIRED = 0x80_0000;
const FILETIME_NEVER = 0x7fff_ffff_ffff_ffffn;
/** 100-ns intervals between 1601-01-01 and 1970-01-01. */
const FILETIME_UNIX_EPOCH = 116_444_736_000_000_000n;

/** FILETIME → epoch ms. */
export function fileTimeToMs(value: bigint): number {
  return Number((value - FILETIME_UNIX_EPOCH) / 10_000n);
}

/**
 * In the order a bind reports them (disabled before locked before expired), so a ticket sign-in
 * reads exactly as a password sign-in would; undefined when the account may sign in now.
 */
export function accountStateFailure(account: AccountAttributes, nowMs: number): { reason: AuthFailureReason; detail: string } | undefined {
  if (account.userAccountControl & UF_ACCOUNTDISABLE) return { reason: 'account_disabled', detail: 'account disabled' };
  if (account.computed & UF_LOCKOUT) return { reason: 'account_locked', detail: 'account locked out' };
  const expires = account.accountExpires;
  if (expires !== 0n && expires !== FILETIME_NEVER && fileTimeToMs(expires) <= nowMs) return { reason: 'account_expired', detail: 'account expired' };
  if (account.pwdLastSet === 0n) return { reason: 'password_must_change', detail: 'password must be changed' };
  if (account.computed & UF_PASSWORD_EXPIRED) return { reason: 'password_expired', detail: 'password expired' };
  return undefined;
}
