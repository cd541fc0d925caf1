/** SAML 2.0 identifiers (SAML core and bindings, OASIS 2005). */
export const BINDING = {
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
} as const;

export const NAME_ID_FORMAT = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
} as const;
export type NameIdFormatName = keyof typeof NAME_ID_FORMAT;

/**
 * Not a format SAML defines (2.0 only has persistent, transient, entity, encrypted; "unspecified" is
 * SAML 1.1's), yet several SPs send it. Kept out of NAME_ID_FORMAT so metadata never advertises it.
 */
export const NAME_ID_FORMAT_SAML2_UNSPECIFIED = 'urn:oasis:names:tc:SAML:2.0:nameid-format:unspecified';

/** "Any format": SAML 1.1's unspecified, its SAML 2.0 look-alike, or no Format at all (core §2.2.2: an omitted Format means unspecified). */
export function isUnspecifiedNameIdFormat(format: string | undefined): boolean {
  return format === undefined || format === NAME_ID_FORMAT.unspecified || format === NAME_ID_FORMAT_SAML2_UNSPECIFIED;
}

export const ATTRNAME_FORMAT = {
  uri: 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
  basic: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  unspecified: 'urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified',
} as const;

export const AUTHN_CONTEXT = {
  passwordProtectedTransport: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
  unspecified: 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified',
  /** AD FS's statement for Windows Integrated Authentication (Kerberos), in SAML 1.1 and 2.0 tokens alike. */
  windows: 'urn:federation:authentication:windows',
  /** SAML authn context §3.4.12: the principal authenticated with Kerberos (SAML 2.0 RPs may ask for it). */
  kerberos: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos',
  /** Microsoft's statement that multi-factor authentication was done (Entra ID reads it from SAML and WS-Fed alike). */
  multipleAuthn: 'http://schemas.microsoft.com/claims/multipleauthn',
} as const;

/**
 * Authentication context classes we deem stronger than PasswordProtectedTransport: a second factor or
 * a key the user holds. We never authenticate with them, but knowing they are stronger is what lets
 * a Comparison="maximum" request that lists them be answered with our weaker method.
 */
export const STRONGER_AUTHN_CONTEXTS: readonly string[] = [
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SoftwarePKI',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'https://refeds.org/profile/mfa',
  'http://schemas.microsoft.com/claims/multipleauthn',
];

export const STATUS_PREFIX = 'urn:oasis:names:tc:SAML:2.0:status:';
export const STATUS_SUCCESS = `${STATUS_PREFIX}Success`;
export const CM_BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export const SIG_ALG = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha1': 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
} as const;
