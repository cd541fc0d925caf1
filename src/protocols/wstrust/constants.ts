/**
 * WS-Trust identifiers, for the two versions AD FS serves: WS-Trust February 2005 (the namespace
 * Microsoft's clients call "2005") and OASIS WS-Trust 1.3 (December 2005, "13"). Each request is
 * answered in the version it was sent in; the version is told by the wst namespace of the body.
 */

export type WsTrustVersion = '2005' | '13';

export const WS_TRUST_NS: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/02/trust',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
};

/** wsa:Action of an Issue request (also the SOAPAction MEX lists for each binding). */
export const ISSUE_ACTION: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue',
};

/** wsa:Action of the answer: 1.3 answers with a RequestSecurityTokenResponseCollection (RSTRC). */
export const ISSUE_RESPONSE_ACTION: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal',
};

export const REQUEST_TYPE_ISSUE: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/02/trust/Issue',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue',
};

/** A bearer token: 1.3 names it Bearer, 2005 had the identity namespace's NoProofKey. */
export const KEY_TYPE_BEARER: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer',
};

export const SOAP_NS = {
  /** SOAP 1.2 (application/soap+xml): what MSAL and current clients send. */
  '1.2': 'http://www.w3.org/2003/05/soap-envelope',
  /** SOAP 1.1 (text/xml + SOAPAction header): older clients; AD FS answers both. */
  '1.1': 'http://schemas.xmlsoap.org/soap/envelope/',
} as const;
export type SoapVersion = keyof typeof SOAP_NS;

export const WSA_NS = 'http://www.w3.org/2005/08/addressing';
export const WSP_NS = 'http://schemas.xmlsoap.org/ws/2004/09/policy';
export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
export const WSSE11_NS = 'http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd';
export const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';

/** wsse:Password's Type for a password in clear text (the only kind usernamemixed takes, over TLS). */
export const PASSWORD_TEXT = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';

/** The WS-Trust endpoints OpenFed serves, at AD FS's paths (relative to server.baseUrl). */
export const WS_TRUST_PATHS = {
  usernameMixed: {
    '2005': '/adfs/services/trust/2005/usernamemixed',
    '13': '/adfs/services/trust/13/usernamemixed',
  } as Record<WsTrustVersion, string>,
  /** Kerberos (HTTP Negotiate) on the intranet, with kerberos.enabled. */
  windowsTransport: {
    '2005': '/adfs/services/trust/2005/windowstransport',
    '13': '/adfs/services/trust/13/windowstransport',
  } as Record<WsTrustVersion, string>,
  /** WS-MetadataExchange: the WSDL rich clients read to find the endpoints above. */
  mex: '/adfs/services/trust/mex',
} as const;
