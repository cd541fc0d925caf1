/**
 * Every sentence a user can see, by stable id. Handlers pick an id; they never write text, so wording
 * is reviewed in one place and what an attacker learns is decided here. The wording itself lives in
 * the catalogues (i18n/en.ts, de.ts, fr.ts): pages say it in the reader's language through
 * `t('page.<id>.title')`, `t('signInFailure.<reason>')`, `t('form.<reason>')`.
 *
 * The records below are the English texts by id, for what a program reads rather than a person: a
 * WS-Trust SOAP fault's Reason, a JSON error body. They are not translated.
 */
import type { AuthFailureReason } from '../directory/types.js';
import type { MessageId } from '../errors.js';
import { en } from './i18n/en.js';

export const PAGE_MESSAGES: Readonly<Record<MessageId, { title: string; text: string }>> = en.page;

/**
 * What the sign-in form says for each failure, and with which status. Wrong password and unknown
 * user read the same, and a locked account reads like a wrong password too: AD answers 775 whatever
 * password was typed, so "locked" would confirm to an attacker that the name exists and that their
 * guessing worked. The other states are only ever reported by AD after a correct password, so naming
 * them helps the real user and tells an attacker nothing they did not already prove.
 */
const SIGN_IN_STATUS: Readonly<Record<AuthFailureReason, number>> = {
  invalid_credentials: 401,
  account_locked: 401,
  account_disabled: 403,
  account_expired: 403,
  password_expired: 403,
  password_must_change: 403,
  logon_hours: 403,
  workstation_restricted: 403,
  directory_unavailable: 503,
};

export const SIGN_IN_MESSAGES: Readonly<Record<AuthFailureReason, { status: number; text: string }>> = Object.fromEntries(
  Object.entries(SIGN_IN_STATUS).map(([reason, status]) => [reason, { status, text: en.signInFailure[reason as AuthFailureReason] }]),
) as Record<AuthFailureReason, { status: number; text: string }>;

export const FORM_MESSAGES: Readonly<Record<keyof typeof en.form, string>> = en.form;

/**
 * The change-password page (/adfs/portal/updatepassword), English only for now: to be moved into the
 * catalogues (i18n/) with the other pages. Each refusal of the domain's policy names the rule in
 * plain words, never AD's text; a wrong current password reads as a wrong password at sign-in does.
 */
export const PASSWORD_CHANGE_MESSAGES = {
  title: 'Change password',
  heading: 'Change your password',
  username: 'User ID',
  current: 'Current password',
  next: 'New password',
  confirmation: 'Confirm new password',
  submit: 'Change password',
  expiredNotice: 'Your password has expired. Choose a new one to continue.',
  mustChangeNotice: 'You must change your password before you can sign in. Choose a new one to continue.',
  changedTitle: 'Password changed',
  changedText: 'Your password has been changed. Use the new one from now on.',
  signIn: 'Sign in',
  unavailableTitle: 'Password change unavailable',
  unavailableText: 'Passwords cannot be changed here at the moment. Contact your help desk to change your password.',
  failures: {
    missing_fields: 'Enter your user ID, your current password and the new password twice.',
    too_long: 'The user ID or a password is too long.',
    mismatch: 'The new password and its confirmation do not match. Type the same new password twice.',
    same_as_current: 'The new password must be different from the current one.',
    invalid_credentials: 'Incorrect user ID or current password. Type them again.',
    account_locked: 'Incorrect user ID or current password. Type them again.',
    account_disabled: 'Your account is disabled. Contact your help desk.',
    account_expired: 'Your account has expired. Contact your help desk.',
    password_expired: 'Your password has expired.',
    password_must_change: 'You must change your password.',
    logon_hours: 'Your account is not allowed to sign in at this time.',
    workstation_restricted: 'Your account is not allowed to sign in from here.',
    too_short: 'The new password is too short. Choose a longer one.',
    complexity:
      'The new password is not complex enough. Use at least three of: capital letters, small letters, digits and symbols, and do not include your user name or parts of your name.',
    in_history: 'You have used this password before. Choose one you have not used recently.',
    too_recent: 'Your password was changed too recently to change it again. Try again later, or contact your help desk.',
    rejected_by_policy: "The new password does not meet your organisation's password rules. Choose another.",
    change_unavailable: 'Passwords cannot be changed here at the moment. Contact your help desk to change your password.',
  },
} as const;
