/**
 * What a WS-Trust Issue request gets back: the RequestSecurityTokenResponse (in a Collection for 1.3)
 * with the signed assertion, or a SOAP fault. Pure; every value escaped.
 *
 * The assertion goes in as the exact bytes that were signed, and never through a parser or serialiser
 * again: MSAL hands the text between the RequestedSecurityToken tags to Entra ID as it is (it finds it
 * with a regular expression), so the assertion declares its own namespaces and nothing else in the
 * RSTR may be named TokenType or RequestedSecurityToken.
 */
import type { SoapFaultAnswer, SoapFaultSubcode } from '../../errors.js';
import { escapeXml as x } from '../../xml/escape.js';
import type { ActiveToken } from '../wsfed/idp.js';
import { TOKEN_TYPE } from '../wsfed/token.js';
import {
  ISSUE_RESPONSE_ACTION,
  KEY_TYPE_BEARER,
  REQUEST_TYPE_ISSUE,
  SOAP_NS,
  WS_TRUST_NS,
  WSA_NS,
  WSP_NS,
  WSSE_NS,
  WSSE11_NS,
  WSU_NS,
  type SoapVersion,
  type WsTrustVersion,
} from './constants.js';

/** How a SecurityTokenReference names a SAML assertion (WSS SAML Token Profile 1.1 §3.4). */
const REFERENCE = {
  saml11: {
    tokenType: 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1',
    valueType: 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID',
  },
  saml2: {
    tokenType: 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0',
    valueType: 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID',
  },
} as const;

/** How long the answer's own wsu:Timestamp says it is fresh (AD FS: five minutes). */
const RESPONSE_FRESH_MS = 5 * 60_000;

export interface ResponseInput {
  soap: SoapVersion;
  version: WsTrustVersion;
  /** The request's wsa:MessageID. */
  relatesTo?: string;
  now: number;
  token: Omit<ActiveToken, 'nameId'>;
}

const instant = (ms: number) => new Date(ms).toISOString();

/** The SOAP response carrying the issued token. */
export function buildIssueResponse(input: ResponseInput): string {
  const { version, token } = input;
  const t = WS_TRUST_NS[version];
  const reference = REFERENCE[token.tokenType];
  const tokenReference =
    `<o:SecurityTokenReference xmlns:o="${WSSE_NS}" xmlns:k="${WSSE11_NS}" k:TokenType="${reference.tokenType}">` +
    `<o:KeyIdentifier ValueType="${reference.valueType}">${x(token.assertionId)}</o:KeyIdentifier></o:SecurityTokenReference>`;
  const rstr =
    '<t:RequestSecurityTokenResponse>' +
    `<t:Lifetime><u:Created>${instant(token.notBefore)}</u:Created><u:Expires>${instant(token.notOnOrAfter)}</u:Expires></t:Lifetime>` +
    `<wsp:AppliesTo xmlns:wsp="${WSP_NS}"><wsa:EndpointReference xmlns:wsa="${WSA_NS}"><wsa:Address>${x(token.appliesTo)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
    `<t:RequestedSecurityToken>${token.assertion}</t:RequestedSecurityToken>` +
    `<t:RequestedAttachedReference>${tokenReference}</t:RequestedAttachedReference>` +
    `<t:RequestedUnattachedReference>${tokenReference}</t:RequestedUnattachedReference>` +
    `<t:TokenType>${TOKEN_TYPE[token.tokenType]}</t:TokenType>` +
    `<t:RequestType>${REQUEST_TYPE_ISSUE[version]}</t:RequestType>` +
    `<t:KeyType>${KEY_TYPE_BEARER[version]}</t:KeyType>` +
    '</t:RequestSecurityTokenResponse>';
  const body = version === '13' ? `<t:RequestSecurityTokenResponseCollection xmlns:t="${t}">${rstr}</t:RequestSecurityTokenResponseCollection>` : rstr.replace('<t:RequestSecurityTokenResponse>', `<t:RequestSecurityTokenResponse xmlns:t="${t}">`);
  return envelope(input.soap, ISSUE_RESPONSE_ACTION[version], input.relatesTo, body, input.now);
}

export interface FaultInput {
  soap: SoapVersion;
  /** The endpoint's version: the namespace of wst: subcodes. */
  version: WsTrustVersion;
  relatesTo?: string;
  fault: Pick<SoapFaultAnswer, 'code' | 'subcode'>;
  /** Human-readable, from the message catalogue; never an internal detail. */
  reason: string;
}

const FAULT_ACTION = 'http://www.w3.org/2005/08/addressing/soap/fault';

/** The SOAP fault, in the SOAP version the client spoke. */
export function buildFault(input: FaultInput): string {
  const { soap, fault } = input;
  const [prefix, local] = fault.subcode.split(':') as [string, string];
  const subcodeNs = subcodeNamespace(fault.subcode, input.version);
  if (soap === '1.1') {
    // SOAP 1.1 has one faultcode: the envelope's own for MustUnderstand / VersionMismatch, else the subcode (WS-Trust §11).
    const code =
      fault.code === 'MustUnderstand' || fault.code === 'VersionMismatch' ? `<faultcode>s:${fault.code}</faultcode>` : `<faultcode xmlns:${prefix}="${subcodeNs}">${prefix}:${local}</faultcode>`;
    return `<s:Envelope xmlns:s="${SOAP_NS['1.1']}"><s:Body><s:Fault>${code}<faultstring xml:lang="en-US">${x(input.reason)}</faultstring></s:Fault></s:Body></s:Envelope>`;
  }
  const body =
    `<s:Fault><s:Code><s:Value>s:${fault.code}</s:Value><s:Subcode><s:Value xmlns:${prefix}="${subcodeNs}">${prefix}:${local}</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">${x(input.reason)}</s:Text></s:Reason></s:Fault>`;
  return envelope('1.2', FAULT_ACTION, input.relatesTo, body);
}

function subcodeNamespace(subcode: SoapFaultSubcode, version: WsTrustVersion): string {
  if (subcode.startsWith('wst:')) return WS_TRUST_NS[version];
  if (subcode.startsWith('wsse:')) return WSSE_NS;
  return WSA_NS;
}

/** Header: wsa:Action, wsa:RelatesTo, and (answers only) a wsse:Security timestamp, as AD FS sends them. */
function envelope(soap: SoapVersion, action: string, relatesTo: string | undefined, body: string, now?: number): string {
  const security =
    now === undefined
      ? ''
      : `<o:Security s:mustUnderstand="1" xmlns:o="${WSSE_NS}"><u:Timestamp u:Id="_0"><u:Created>${instant(now)}</u:Created>` +
        `<u:Expires>${instant(now + RESPONSE_FRESH_MS)}</u:Expires></u:Timestamp></o:Security>`;
  return (
    `<s:Envelope xmlns:s="${SOAP_NS[soap]}" xmlns:a="${WSA_NS}" xmlns:u="${WSU_NS}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${action}</a:Action>` +
    (relatesTo !== undefined ? `<a:RelatesTo>${x(relatesTo)}</a:RelatesTo>` : '') +
    security +
    '</s:Header>' +
    `<s:Body>${body}</s:Body></s:Envelope>`
  );
}
