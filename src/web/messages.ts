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
import { en, type Catalogue } from './i18n/en.js';

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
 * The change-password page (/adfs/portal/updatepassword) in English, for tests and programs; the page
 * itself says it in the reader's language through `t('passwordChange.<id>')` and
 * `t('passwordChange.failures.<reason>')`. Each refusal of the domain's policy names the rule in plain
 * words, never AD's text; a wrong current password reads as a wrong password at sign-in does.
 */
export const PASSWORD_CHANGE_MESSAGES: Readonly<Catalogue['passwordChange']> = en.passwordChange;
