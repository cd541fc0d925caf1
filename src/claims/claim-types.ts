/**
 * Claim type URIs OpenFed issues, as AD FS names them (federation reference §1a); used by tokens and
 * by the metadata that offers them. Always the http:// forms: claim URIs are opaque identifiers,
 * compared byte for byte.
 */
export const CLAIM_TYPE = {
  emailAddress: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  group: 'http://schemas.xmlsoap.org/claims/Group',
  /** AD FS 1.x UPN; the one Microsoft 365 receives (AttributeNamespace http://schemas.xmlsoap.org/claims, AttributeName UPN). */
  adfs1Upn: 'http://schemas.xmlsoap.org/claims/UPN',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  nameIdentifier: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  groupSid: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groupsid',
  insideCorporateNetwork: 'http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork',
  authnMethodsReferences: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  immutableId: 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID',
  psso: 'http://schemas.microsoft.com/2014/03/psso',
} as const;
