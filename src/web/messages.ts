/**
 * Every sentence a user can see, by stable id. Handlers pick an id; they never write text, so wording
 * is reviewed in one place and what an attacker learns is decided here.
 */
import type { AuthFailureReason } from '../directory/types.js';
import type { MessageId } from '../errors.js';

/** The same refusal reads the same whichever protocol carried it. */
const UNKNOWN_APPLICATION = {
  title: 'Unknown application',
  text: 'The application that sent you here is not registered with this sign-in service. Contact its administrator.',
};
const UNREGISTERED_ADDRESS = {
  title: 'Unregistered address',
  text: 'The application asked for the answer to be sent to an address that is not registered for it, so nothing was sent.',
};

export const PAGE_MESSAGES: Record<MessageId, { title: string; text: string }> = {
  bad_request: { title: 'Bad request', text: 'The request was malformed or incomplete.' },
  csrf_failed: {
    title: 'Form expired',
    text: 'The form you sent was not the one we gave you, or it has expired. Go back, reload the page and try again.',
  },
  not_found: { title: 'Not found', text: 'There is no page at this address.' },
  method_not_allowed: { title: 'Not allowed', text: 'This page cannot be used that way.' },
  payload_too_large: { title: 'Request too large', text: 'The request was larger than this service accepts.' },
  sessions_unavailable: {
    title: 'Service unavailable',
    text: 'Sign-in is temporarily unavailable because the session store cannot be reached. Try again in a few minutes.',
  },
  directory_unavailable: {
    title: 'Service unavailable',
    text: 'Sign-in is temporarily unavailable because no domain controller answered. Try again in a few minutes.',
  },
  too_many_attempts: {
    title: 'Too many sign-in attempts',
    text: 'There have been too many sign-in attempts from your network address. Wait a minute, then try again.',
  },
  pending_request_expired: {
    title: 'Sign-in took too long',
    text: 'The application that sent you here is no longer waiting. Go back to it and start again.',
  },
  saml_request_invalid: { title: 'Invalid sign-in request', text: 'The application sent a sign-in request this service cannot read.' },
  saml_unknown_relying_party: UNKNOWN_APPLICATION,
  saml_unknown_acs: UNREGISTERED_ADDRESS,
  saml_signature_invalid: {
    title: 'Request not trusted',
    text: 'The sign-in request was not signed as this application\'s registration requires.',
  },
  saml_request_expired: { title: 'Request too old', text: 'The sign-in request has expired. Go back to the application and start again.' },
  saml_request_replayed: { title: 'Request already used', text: 'This sign-in request was already used. Go back to the application and start again.' },
  idp_initiated_not_allowed: { title: 'Not available', text: 'Sign-in from this page is not enabled for that application.' },
  wsfed_request_invalid: { title: 'Invalid sign-in request', text: 'The application sent a WS-Federation request this service cannot read.' },
  wsfed_unknown_realm: UNKNOWN_APPLICATION,
  wsfed_unknown_reply: UNREGISTERED_ADDRESS,
  m365_domain_not_federated: {
    title: 'Domain not federated',
    text: 'Your account\'s domain is not federated with Microsoft 365 through this service. Sign in with your organisational user name, or contact your help desk.',
  },
  m365_no_immutable_id: {
    title: 'Account not ready',
    text: 'Your account is missing the identifier Microsoft 365 needs. Contact your help desk.',
  },
  // WS-Trust refusals are read by a program (and shown by it, if at all): the text is a SOAP fault's Reason.
  wstrust_request_invalid: { title: 'Invalid request', text: 'The request is not a WS-Trust Issue request this service can read.' },
  wstrust_not_https: { title: 'HTTPS required', text: 'A user name and password are only accepted over HTTPS.' },
  wstrust_wrong_destination: { title: 'Wrong address', text: 'The request was addressed (wsa:To) to another endpoint than the one that received it.' },
  wstrust_action_not_supported: { title: 'Not supported', text: 'This endpoint does not support the requested action or WS-Trust version.' },
  wstrust_message_expired: { title: 'Request expired', text: 'The request\'s timestamp has expired or is not yet valid. Check the client\'s clock.' },
  wstrust_unknown_relying_party: {
    title: 'Unknown application',
    text: 'The application named in AppliesTo is not registered with this sign-in service.',
  },
  wstrust_authentication_failed: { title: 'Authentication failed', text: 'The security token could not be authenticated or authorized.' },
  wstrust_windows_not_offered: { title: 'Not available', text: 'Windows authentication is only offered on the corporate network.' },
  wstrust_windows_challenge: { title: 'Authentication required', text: 'Authenticate with Kerberos (HTTP Negotiate) to use this endpoint.' },
  internal_error: { title: 'Something went wrong', text: 'An unexpected error occurred. Give the reference below to your help desk.' },
};

/**
 * What the sign-in form says for each failure. Wrong password and unknown user read the same, and a
 * locked account reads like a wrong password too: AD answers 775 whatever password was typed, so
 * "locked" would confirm to an attacker that the name exists and that their guessing worked. The
 * other states are only ever reported by AD after a correct password, so naming them helps the
 * real user and tells an attacker nothing they did not already prove.
 */
export const SIGN_IN_MESSAGES: Record<AuthFailureReason, { status: number; text: string }> = {
  invalid_credentials: { status: 401, text: 'Incorrect user ID or password. Type the correct user ID and password, and try again.' },
  account_locked: { status: 401, text: 'Incorrect user ID or password. Type the correct user ID and password, and try again.' },
  account_disabled: { status: 403, text: 'Your account is disabled. Contact your help desk.' },
  account_expired: { status: 403, text: 'Your account has expired. Contact your help desk.' },
  password_expired: { status: 403, text: 'Your password has expired. Change it, then sign in again.' },
  password_must_change: { status: 403, text: 'You must change your password before you can sign in. Change it, then sign in again.' },
  logon_hours: { status: 403, text: 'Your account is not allowed to sign in at this time.' },
  workstation_restricted: { status: 403, text: 'Your account is not allowed to sign in from here.' },
  directory_unavailable: {
    status: 503,
    text: 'Sign-in is temporarily unavailable because no domain controller answered. Try again in a few minutes.',
  },
};

export const FORM_MESSAGES = {
  missing_fields: 'Enter your user ID and password.',
  too_long: 'The user ID or password is too long.',
} as const;
