import { WS_TRUST_PATHS } from '../protocols/wstrust/constants.js';

/** Every path OpenFed serves (routes.ts wires them); handlers link to each other through these names. */
export const ROUTES = {
  home: '/',
  signIn: '/signin',
  signOut: '/signout',
  /** The second factor: the code (or, the first time, the authenticator app's enrolment). */
  mfa: '/mfa',
  mfaEnrol: '/mfa/enrol',
  mfaContinue: '/mfa/continue',
  health: '/healthz',
  adfsProbe: '/adfs/probe',
  ready: '/readyz',
  assets: '/assets',
  /** Generated from config.branding: the theme stylesheet and the logo (web/branding.ts). */
  branding: '/branding',
  /** Change password (AD FS's path): from the sign-in form when a password expired or must change, or on its own. */
  updatePassword: '/adfs/portal/updatepassword',
  /** AD FS's passive endpoint: SAML 2.0 SSO and SLO (and WS-Federation later). */
  sso: '/adfs/ls/',
  idpInitiatedSignOn: '/adfs/ls/idpinitiatedsignon',
  /** AD FS 2.0's name for the same page, still in many bookmarks. */
  idpInitiatedSignOnAspx: '/adfs/ls/IdpInitiatedSignOn.aspx',
  federationMetadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
  /** WS-Trust for rich clients (wsTrust.enabled), at AD FS's paths (protocols/wstrust/constants.ts). */
  wsTrust2005UsernameMixed: WS_TRUST_PATHS.usernameMixed['2005'],
  wsTrust13UsernameMixed: WS_TRUST_PATHS.usernameMixed['13'],
  wsTrust2005WindowsTransport: WS_TRUST_PATHS.windowsTransport['2005'],
  wsTrust13WindowsTransport: WS_TRUST_PATHS.windowsTransport['13'],
  mex: WS_TRUST_PATHS.mex,
} as const;
