/**
 * What every directory (Active Directory over LDAP, or the demo file) yields and accepts.
 * Protocol and claims code depends on these types only, never on ldapts.
 */

export interface GroupRef {
  /** sAMAccountName of the group (AD FS "Group" claim uses the down-level name). */
  name: string;
  /** String form S-1-5-21-...; empty for groups a directory cannot give a SID for. */
  sid: string;
  dn?: string;
}

/** The signed-in user, in the same shape whichever directory produced it. */
export interface Principal {
  dn: string;
  /** Raw 16 bytes of objectGUID. */
  objectGuid: Buffer;
  /** Raw bytes of ms-DS-ConsistencyGuid when set. */
  consistencyGuid?: Buffer;
  userPrincipalName: string;
  sAMAccountName: string;
  /** NetBIOS name of the user's domain, for DOMAIN\user claims. */
  netbiosDomain: string;
  mail?: string;
  displayName?: string;
  givenName?: string;
  sn?: string;
  /** Transitive group membership, from one query. */
  groups: GroupRef[];
  /** Extra AD attributes requested by configuration (string values only). */
  attributes: Record<string, string[]>;
}

/**
 * A user as Entra Connect would read it, for the readiness checks: the attributes as stored, with
 * nothing filled in (no implicit UPN), since what is missing is what those checks look for.
 */
export interface DirectoryUserRecord {
  dn: string;
  sAMAccountName: string;
  /** Only the explicit userPrincipalName. */
  userPrincipalName?: string;
  mail?: string;
  /** Every value, prefix included (SMTP:, smtp:, X500:, sip: ...). */
  proxyAddresses: string[];
  displayName?: string;
  /** Raw 16 bytes of objectGUID. */
  objectGuid: Buffer;
  /** Raw bytes of ms-DS-ConsistencyGuid when set. */
  consistencyGuid?: Buffer;
  userAccountControl: number;
}

/** Which users a readiness run covers: a subtree, the transitive members of a group, or all of baseDn. */
export type UserScope = { ou: string } | { group: string } | { all: true };

/**
 * The closed set of reasons a password sign-in can fail. Each AD bind sub-code maps to one of
 * these in ad-errors.ts; what the user is shown is decided in web/, never here.
 */
export type AuthFailureReason =
  | 'invalid_credentials' // 52e, 525, unknown user, empty password, ambiguous name
  | 'account_disabled' // 533
  | 'account_locked' // 775
  | 'account_expired' // 701
  | 'password_expired' // 532
  | 'password_must_change' // 773
  | 'logon_hours' // 530
  | 'workstation_restricted' // 531
  | 'directory_unavailable'; // every DC down or timing out

/**
 * Why a password change was refused, besides the reasons a sign-in gives for the current password:
 * the rule of the domain's policy the new one breaks (password-policy.ts names it; never AD's text),
 * or a directory that cannot change passwords (no encrypted connection, or AD refused the operation).
 */
export type PasswordRuleFailure =
  | 'too_short' // below minPwdLength
  | 'complexity' // fewer than 3 character categories, or contains the account or display name
  | 'in_history' // one of the last pwdHistoryLength passwords
  | 'too_recent' // changed less than minPwdAge ago
  | 'rejected_by_policy'; // 52d, and OpenFed cannot tell which rule (unreadable fine-grained policy, a filter)

export type PasswordChangeFailureReason = AuthFailureReason | PasswordRuleFailure | 'change_unavailable';

export type PasswordChangeResult =
  | { ok: true; /** whose password changed, for lockout and audit */ userPrincipalName: string }
  | { ok: false; reason: PasswordChangeFailureReason; /** for logs only */ detail?: string };

/** Whether this directory can change passwords at all, decided from configuration alone. */
export type PasswordChangeSupport = { available: true } | { available: false; detail: string };

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: AuthFailureReason; /** for logs only */ detail?: string };

export interface HealthResult {
  ok: boolean;
  detail: string;
}

export interface Directory {
  /** A short name for logs: "active-directory" or "demo". */
  readonly kind: string;
  /**
   * Checks a password. Accepts user@suffix, DOMAIN\user, bare sAMAccountName and, when configured,
   * the alternate login attribute. Never throws for a user's mistake; throws only for programming errors.
   */
  authenticate(username: string, password: string): Promise<AuthResult>;
  /** Looks a user up without a password (SSO refresh of claims, admin commands). */
  findPrincipal(username: string): Promise<Principal | undefined>;
  /**
   * For a user who proved who they are without a password here (a Kerberos ticket): found, and
   * allowed to sign in now — disabled, locked, expired accounts and passwords that must change are
   * refused with the reasons a password check gives. Never throws for a user's state.
   */
  checkAccount(username: string): Promise<AuthResult>;
  /**
   * Only the user's UPN (explicit or implicit), for counting sign-in attempts per person: one
   * lookup, no groups. Same errors as findPrincipal.
   */
  userPrincipalNameOf(username: string): Promise<string | undefined>;
  /**
   * Changes a user's password with the current one, as the user would (AD applies history, minimum
   * age and complexity). Same name forms and error rules as authenticate; never throws for a user's
   * mistake. A password that expired or must change can be changed: that is what this is for.
   */
  changePassword(username: string, current: string, next: string): Promise<PasswordChangeResult>;
  /** Can changePassword work with this configuration (AD only changes passwords over an encrypted connection). */
  passwordChangeSupport(): PasswordChangeSupport;
  /** Readiness probe: can we reach a DC and search as the service account. */
  health(): Promise<HealthResult>;
  close(): Promise<void>;
}
