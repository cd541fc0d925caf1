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
import type { AuthFailureReason } from './types.js';

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
