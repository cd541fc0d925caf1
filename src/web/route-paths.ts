/** Every path OpenFed serves (routes.ts wires them); handlers link to each other through these names. */
export const ROUTES = {
  home: '/',
  signIn: '/signin',
  signOut: '/signout',
  health: '/healthz',
  adfsProbe: '/adfs/probe',
  ready: '/readyz',
  assets: '/assets',
  /** AD FS's passive endpoint: SAML 2.0 SSO and SLO (and WS-Federation later). */
  sso: '/adfs/ls/',
  idpInitiatedSignOn: '/adfs/ls/idpinitiatedsignon',
  /** AD FS 2.0's name for the same page, still in many bookmarks. */
  idpInitiatedSignOnAspx: '/adfs/ls/IdpInitiatedSignOn.aspx',
  federationMetadata: '/FederationMetadata/2007-06/FederationMetadata.xml',
} as const;
