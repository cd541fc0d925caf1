/**
 * Every sentence a user can see, in English: the reference catalogue. de.ts and fr.ts have the same
 * keys (the compiler checks it through `Catalogue`, test/web/i18n.test.ts checks it again at run
 * time), so a page never falls back to English halfway through. Ids under `page`, `signInFailure`
 * and `form` are the stable ids of messages.ts.
 *
 * {{name}} is filled in by i18next; {{when, datetime(…)}} is formatted with Intl for the page's language.
 */
export const en = {
  meta: { name: 'English' },
  layout: {
    product: 'Sign-in service',
    language: 'Language',
    helpDesk: 'Help desk',
    privacy: 'Privacy',
    logoAlt: '{{organisation}} logo',
  },
  signin: {
    title: 'Sign in',
    heading: 'Sign in',
    headingTo: 'Sign in to {{organisation}}',
    username: 'User ID',
    usernamePlaceholder: 'someone@example.com',
    usernameHint: 'Your organisational account: name@domain, DOMAIN\\name or your user name.',
    password: 'Password',
    capsLock: 'Caps Lock is on.',
    keepSignedIn: 'Keep me signed in',
    keepSignedInHint: 'Only on a device you alone use.',
    submit: 'Sign in',
    reference: 'Reference: {{id}}',
  },
  home: {
    title: 'Signed in',
    heading: 'You are signed in',
    name: 'Name',
    upn: 'User principal name',
    account: 'Account',
    signedInAt: 'Signed in at',
    sessionEnds: 'Session ends',
    sessionEndsValue: '{{when, datetime(dateStyle: medium; timeStyle: long)}} ({{relative}})',
    signedInAtValue: '{{when, datetime(dateStyle: medium; timeStyle: long)}}',
    groups: 'Groups',
    noGroups: 'none',
    applications: 'Applications you signed in to',
    noApplications: 'None yet in this session.',
    signOut: 'Sign out',
    anonymousTitle: 'Welcome',
    anonymousHeading: 'Welcome',
    notSignedIn: 'You are not signed in.',
    signIn: 'Sign in',
  },
  signedOut: {
    title: 'Signed out',
    heading: 'You have signed out',
    ended: 'Your single sign-on session has ended.',
    partial: 'Some applications did not confirm that they signed you out. Close the browser to finish signing out.',
    closeBrowser: 'Close the browser to finish signing out of applications that keep their own session.',
    applications: 'Applications',
    returnTo: 'Return to the application',
    signInAgain: 'Sign in again',
    result: {
      'signed-out': 'Signed out',
      'not-confirmed': 'Did not confirm: close the browser',
      'not-asked': 'Could not be asked: close the browser',
      cleanup: 'Asked to sign out',
      'no-logout': 'Has no sign-out: close the browser',
    },
  },
  progress: {
    signingIn: 'Signing in',
    signingInHeading: 'Signing you in…',
    signingOut: 'Signing you out…',
    noScript: 'JavaScript is off: press Continue to finish signing in.',
    continue: 'Continue',
  },
  idpInitiated: {
    title: 'Sign in to an application',
    signedInAs: 'Signed in as',
    none: 'No application offers sign-in from here.',
  },
  error: {
    reference: 'Reference',
    time: 'Time',
    quote: 'Give this reference to your help desk if you contact them.',
    home: 'Go to the start page',
  },
  page: {
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
    saml_unknown_relying_party: {
      title: 'Unknown application',
      text: 'The application that sent you here is not registered with this sign-in service. Contact its administrator.',
    },
    saml_unknown_acs: {
      title: 'Unregistered address',
      text: 'The application asked for the answer to be sent to an address that is not registered for it, so nothing was sent.',
    },
    saml_signature_invalid: {
      title: 'Request not trusted',
      text: "The sign-in request was not signed as this application's registration requires.",
    },
    saml_request_expired: { title: 'Request too old', text: 'The sign-in request has expired. Go back to the application and start again.' },
    saml_request_replayed: { title: 'Request already used', text: 'This sign-in request was already used. Go back to the application and start again.' },
    idp_initiated_not_allowed: { title: 'Not available', text: 'Sign-in from this page is not enabled for that application.' },
    wsfed_request_invalid: { title: 'Invalid sign-in request', text: 'The application sent a WS-Federation request this service cannot read.' },
    wsfed_unknown_realm: {
      title: 'Unknown application',
      text: 'The application that sent you here is not registered with this sign-in service. Contact its administrator.',
    },
    wsfed_unknown_reply: {
      title: 'Unregistered address',
      text: 'The application asked for the answer to be sent to an address that is not registered for it, so nothing was sent.',
    },
    m365_domain_not_federated: {
      title: 'Domain not federated',
      text: "Your account's domain is not federated with Microsoft 365 through this service. Sign in with your organisational user name, or contact your help desk.",
    },
    m365_no_immutable_id: {
      title: 'Account not ready',
      text: 'Your account is missing the identifier Microsoft 365 needs. Contact your help desk.',
    },
    // WS-Trust refusals are read by a program: its SOAP fault carries the English text (messages.ts).
    wstrust_request_invalid: { title: 'Invalid request', text: 'The request is not a WS-Trust Issue request this service can read.' },
    wstrust_not_https: { title: 'HTTPS required', text: 'A user name and password are only accepted over HTTPS.' },
    wstrust_wrong_destination: { title: 'Wrong address', text: 'The request was addressed (wsa:To) to another endpoint than the one that received it.' },
    wstrust_action_not_supported: { title: 'Not supported', text: 'This endpoint does not support the requested action or WS-Trust version.' },
    wstrust_message_expired: { title: 'Request expired', text: "The request's timestamp has expired or is not yet valid. Check the client's clock." },
    wstrust_unknown_relying_party: {
      title: 'Unknown application',
      text: 'The application named in AppliesTo is not registered with this sign-in service.',
    },
    wstrust_authentication_failed: { title: 'Authentication failed', text: 'The security token could not be authenticated or authorized.' },
    wstrust_windows_not_offered: { title: 'Not available', text: 'Windows authentication is only offered on the corporate network.' },
    wstrust_windows_challenge: { title: 'Authentication required', text: 'Authenticate with Kerberos (HTTP Negotiate) to use this endpoint.' },
    access_denied: { title: 'Access denied', text: 'You are not allowed to sign in to this application. If you think you should be, contact your help desk.' },
    mfa_required: {
      title: 'Additional verification required',
      text: 'This application requires multi-factor authentication, which this sign-in cannot satisfy. Contact your help desk.',
    },
    internal_error: { title: 'Something went wrong', text: 'An unexpected error occurred. Give the reference below to your help desk.' },
  },
  signInFailure: {
    invalid_credentials: 'Incorrect user ID or password. Type the correct user ID and password, and try again.',
    account_locked: 'Incorrect user ID or password. Type the correct user ID and password, and try again.',
    account_disabled: 'Your account is disabled. Contact your help desk.',
    account_expired: 'Your account has expired. Contact your help desk.',
    password_expired: 'Your password has expired. Change it, then sign in again.',
    password_must_change: 'You must change your password before you can sign in. Change it, then sign in again.',
    logon_hours: 'Your account is not allowed to sign in at this time.',
    workstation_restricted: 'Your account is not allowed to sign in from here.',
    directory_unavailable: 'Sign-in is temporarily unavailable because no domain controller answered. Try again in a few minutes.',
  },
  form: {
    missing_fields: 'Enter your user ID and password.',
    too_long: 'The user ID or password is too long.',
  },
};

/** The shape every language's catalogue has: the same keys, each a string. */
export type Catalogue = typeof en;
