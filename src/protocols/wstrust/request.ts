/**
 * Reading a WS-Trust Issue request (RequestSecurityToken) in a SOAP 1.2 or 1.1 envelope, with a
 * WS-Security UsernameToken, as MSAL, Office and WCF clients send it to usernamemixed. Pure: the bytes
 * in, a typed request out, or a WsTrustError that becomes the SOAP fault.
 *
 * Every refusal names the exact condition (the fault subcode a client can act on); nothing in the
 * envelope is trusted for more than it says: one of each header, header blocks we do not understand
 * but must (mustUnderstand) refused, the body one RST in the version of the endpoint.
 */
import { WsTrustError, type MessageId, type SoapFaultCode, type SoapFaultSubcode } from '../../errors.js';
import { parseXml } from '../../xml/parse.js';
import { attribute, childElements, ELEMENT_NODE, isElement, optionalChild, textOf, type Element } from '../../xml/query.js';
import { XmlError } from '../../xml/errors.js';
import {
  ISSUE_ACTION,
  KEY_TYPE_BEARER,
  PASSWORD_TEXT,
  REQUEST_TYPE_ISSUE,
  SOAP_NS,
  WS_TRUST_NS,
  WSA_NS,
  WSP_NS,
  WSSE_NS,
  WSU_NS,
  type SoapVersion,
  type WsTrustVersion,
} from './constants.js';

/** WS-Addressing's August 2004 draft: older WS-Trust 2005 clients name the AppliesTo endpoint in it. */
const WSA_2004_NS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const WSA_ANONYMOUS = 'http://www.w3.org/2005/08/addressing/anonymous';

/** Token types a client may ask for; without one it gets what its relying party is configured for. */
export const REQUESTED_TOKEN_TYPE: Readonly<Record<string, 'saml11' | 'saml2'>> = {
  'urn:oasis:names:tc:SAML:1.0:assertion': 'saml11',
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1': 'saml11',
  'urn:oasis:names:tc:SAML:2.0:assertion': 'saml2',
  'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0': 'saml2',
};

export interface RequestSecurityToken {
  soap: SoapVersion;
  version: WsTrustVersion;
  /** wsa:MessageID, echoed in wsa:RelatesTo. */
  messageId?: string;
  /** wsa:To as sent. */
  to: string;
  timestamp?: { created: number; expires?: number };
  /** The UsernameToken (usernamemixed); windowstransport has none, its caller is authenticated by HTTP. */
  credentials?: UsernameCredentials;
  /** The relying party the token is for (AppliesTo's endpoint address). */
  appliesTo: string;
  tokenType?: 'saml11' | 'saml2';
}

export interface UsernameCredentials {
  username: string;
  /** Never logged, never kept past the bind. */
  password: string;
}

export interface RequestLimits {
  maxBytes: number;
  /** Longest user name / password accepted (the sign-in form's limits). */
  maxUsernameLength: number;
  maxPasswordLength: number;
}

const fault = (messageId: MessageId, detail: string, subcode: SoapFaultSubcode = 'wst:InvalidRequest', code: SoapFaultCode = 'Sender') =>
  new WsTrustError(messageId, detail, { code, subcode });
const invalid = (detail: string) => fault('wstrust_request_invalid', detail, 'wst:InvalidRequest');
const badSecurity = (detail: string) => fault('wstrust_request_invalid', detail, 'wsse:InvalidSecurity');

/** The SOAP version of an envelope, read before anything else so even a refusal speaks the client's SOAP. */
export function soapVersionOf(root: Element): SoapVersion | undefined {
  if (root.localName !== 'Envelope') return undefined;
  if (root.namespaceURI === SOAP_NS['1.2']) return '1.2';
  if (root.namespaceURI === SOAP_NS['1.1']) return '1.1';
  return undefined;
}

/**
 * Parses and checks the envelope's shape. `version` is the endpoint's: a 1.3 request sent to the 2005
 * endpoint is refused as an action it does not support, as AD FS's per-version bindings do.
 * `soapAction` is the SOAPAction header (or the action parameter of the content type), when sent.
 */
export function readRequestSecurityToken(
  xml: string,
  version: WsTrustVersion,
  soapAction: string | undefined,
  limits: RequestLimits,
): RequestSecurityToken & { credentials: UsernameCredentials };
/** `transport`: the caller is authenticated by the HTTP request (windowstransport); a UsernameToken is not read. */
export function readRequestSecurityToken(xml: string, version: WsTrustVersion, soapAction: string | undefined, limits: RequestLimits, mode: 'transport'): RequestSecurityToken;
export function readRequestSecurityToken(
  xml: string,
  version: WsTrustVersion,
  soapAction: string | undefined,
  limits: RequestLimits,
  mode: 'username' | 'transport' = 'username',
): RequestSecurityToken {
  let root: Element;
  try {
    root = parseXml(xml, { maxBytes: limits.maxBytes, maxDepth: 16 }).documentElement!;
  } catch (error) {
    if (error instanceof XmlError) throw invalid(`SOAP request refused by the XML parser (${error.code}): ${error.message}`);
    throw error;
  }
  const soap = soapVersionOf(root);
  if (soap === undefined) {
    throw fault('wstrust_request_invalid', `root is {${root.namespaceURI ?? ''}}${root.localName}, not a SOAP envelope`, undefined, 'VersionMismatch');
  }
  const env = SOAP_NS[soap];
  const header = one(root, env, 'Header');
  const body = one(root, env, 'Body');
  if (!header) throw fault('wstrust_request_invalid', 'no SOAP Header', 'wsa:MessageAddressingHeaderRequired');
  if (!body) throw invalid('no SOAP Body');
  for (const child of elementChildren(root)) {
    const name = child.localName;
    if (!(isElement(child, env, 'Header') || isElement(child, env, 'Body'))) throw invalid(`unexpected <${name}> in the envelope`);
  }

  const headers = readHeaders(header, env, mode);
  const rst = bodyRequest(body, version);

  if (headers.action !== ISSUE_ACTION[version]) {
    throw fault('wstrust_action_not_supported', `action ${headers.action.slice(0, 200)} is not ${ISSUE_ACTION[version]}`, 'wsa:ActionNotSupported');
  }
  // WS-Addressing SOAP binding §4: a SOAPAction that is sent must equal wsa:Action.
  if (soapAction !== undefined && soapAction !== '' && soapAction !== headers.action) {
    throw fault('wstrust_action_not_supported', 'SOAPAction differs from wsa:Action', 'wsa:ActionMismatch');
  }

  const requestType = text(one(rst, WS_TRUST_NS[version], 'RequestType'), 'RequestType', 512);
  if (requestType !== REQUEST_TYPE_ISSUE[version]) {
    throw fault('wstrust_action_not_supported', `RequestType ${requestType.slice(0, 200)} is not Issue`, 'wst:InvalidRequest');
  }
  const keyTypeElement = one(rst, WS_TRUST_NS[version], 'KeyType');
  if (keyTypeElement) {
    const keyType = text(keyTypeElement, 'KeyType', 512);
    // Only bearer tokens: a proof key would need key material this endpoint does not negotiate.
    if (keyType !== KEY_TYPE_BEARER[version]) {
      throw fault('wstrust_request_invalid', `KeyType ${keyType.slice(0, 200)} is not supported (bearer only)`, 'wst:BadRequest');
    }
  }
  const tokenTypeElement = one(rst, WS_TRUST_NS[version], 'TokenType');
  let tokenType: RequestSecurityToken['tokenType'];
  if (tokenTypeElement) {
    const requested = text(tokenTypeElement, 'TokenType', 512);
    tokenType = Object.hasOwn(REQUESTED_TOKEN_TYPE, requested) ? REQUESTED_TOKEN_TYPE[requested] : undefined;
    if (tokenType === undefined) throw fault('wstrust_request_invalid', `TokenType ${requested.slice(0, 200)} is not offered`, 'wst:BadRequest');
  }

  const security = headers.security;
  const credentials = mode === 'username' ? usernameToken(security, limits) : undefined;
  return {
    soap,
    version,
    messageId: headers.messageId,
    to: headers.to,
    timestamp: security ? readTimestamp(security) : undefined,
    ...(credentials ? { credentials } : {}),
    appliesTo: appliesTo(rst),
    tokenType,
  };
}

interface Headers {
  action: string;
  to: string;
  messageId?: string;
  security?: Element;
}

function usernameToken(security: Element | undefined, limits: RequestLimits): UsernameCredentials {
  const token = security && one(security, WSSE_NS, 'UsernameToken');
  if (!token) throw fault('wstrust_authentication_failed', 'no UsernameToken in wsse:Security', 'wsse:UnsupportedSecurityToken');
  const username = text(one(token, WSSE_NS, 'Username'), 'Username', limits.maxUsernameLength);
  const passwordElement = one(token, WSSE_NS, 'Password');
  if (!passwordElement) throw fault('wstrust_authentication_failed', 'UsernameToken has no Password', 'wsse:UnsupportedSecurityToken');
  const passwordType = attribute(passwordElement, 'Type');
  if (passwordType !== undefined && passwordType !== PASSWORD_TEXT) {
    // A digest cannot be checked against AD, which only verifies the password itself by a bind.
    throw fault('wstrust_authentication_failed', `password type ${passwordType.slice(0, 200)} is not PasswordText`, 'wsse:UnsupportedSecurityToken');
  }
  return { username, password: text(passwordElement, 'Password', limits.maxPasswordLength, true) };
}

/** The header blocks this endpoint understands; any other marked mustUnderstand is a fault (SOAP 1.2 §5.2.3). */
const UNDERSTOOD: ReadonlyArray<readonly [string, string]> = [
  [WSA_NS, 'Action'],
  [WSA_NS, 'To'],
  [WSA_NS, 'MessageID'],
  [WSA_NS, 'ReplyTo'],
  [WSSE_NS, 'Security'],
];

function readHeaders(header: Element, env: string, mode: 'username' | 'transport'): Headers {
  for (const block of elementChildren(header)) {
    const understood = UNDERSTOOD.some(([ns, name]) => isElement(block, ns, name));
    const mustUnderstand = block.getAttributeNS(env, 'mustUnderstand');
    if (!understood && (mustUnderstand === '1' || mustUnderstand === 'true')) {
      throw fault('wstrust_request_invalid', `header {${block.namespaceURI ?? ''}}${block.localName} must be understood`, undefined, 'MustUnderstand');
    }
  }
  const actionElement = one(header, WSA_NS, 'Action');
  const toElement = one(header, WSA_NS, 'To');
  if (!actionElement) throw fault('wstrust_request_invalid', 'no wsa:Action header', 'wsa:MessageAddressingHeaderRequired');
  if (!toElement) throw fault('wstrust_request_invalid', 'no wsa:To header', 'wsa:MessageAddressingHeaderRequired');
  const replyTo = one(header, WSA_NS, 'ReplyTo');
  if (replyTo) {
    // The answer always goes back on this HTTP response; a request to send it elsewhere is not one we serve.
    const address = text(one(replyTo, WSA_NS, 'Address'), 'ReplyTo/Address', 2048);
    if (address !== WSA_ANONYMOUS) throw fault('wstrust_request_invalid', 'ReplyTo is not anonymous', 'wsa:OnlyAnonymousAddressSupported');
  }
  const messageIdElement = one(header, WSA_NS, 'MessageID');
  const security = one(header, WSSE_NS, 'Security');
  if (!security && mode === 'username') throw fault('wstrust_authentication_failed', 'no wsse:Security header', 'wsse:InvalidSecurity');
  return {
    action: text(actionElement, 'Action', 512),
    to: text(toElement, 'To', 2048),
    messageId: messageIdElement ? text(messageIdElement, 'MessageID', 512) : undefined,
    security,
  };
}

function bodyRequest(body: Element, version: WsTrustVersion): Element {
  const children = elementChildren(body);
  if (children.length !== 1) throw invalid(`SOAP Body has ${children.length} elements, not one RequestSecurityToken`);
  const rst = children[0]!;
  if (rst.localName !== 'RequestSecurityToken') throw invalid(`SOAP Body holds <${rst.localName}>, not RequestSecurityToken`);
  if (rst.namespaceURI !== WS_TRUST_NS[version]) {
    const other: WsTrustVersion = version === '13' ? '2005' : '13';
    if (rst.namespaceURI === WS_TRUST_NS[other]) {
      throw fault('wstrust_action_not_supported', `a WS-Trust ${other} request at the WS-Trust ${version} endpoint`, 'wsa:ActionNotSupported');
    }
    throw invalid(`RequestSecurityToken in namespace ${(rst.namespaceURI ?? '').slice(0, 200)}`);
  }
  return rst;
}

function appliesTo(rst: Element): string {
  const applies = one(rst, WSP_NS, 'AppliesTo');
  if (!applies) throw fault('wstrust_unknown_relying_party', 'no wsp:AppliesTo', 'wst:InvalidScope');
  const references = [...childElements(applies, WSA_NS, 'EndpointReference'), ...childElements(applies, WSA_2004_NS, 'EndpointReference')];
  if (references.length !== 1) throw fault('wstrust_unknown_relying_party', `AppliesTo has ${references.length} endpoint references`, 'wst:InvalidScope');
  const reference = references[0]!;
  const address = text(one(reference, reference.namespaceURI!, 'Address'), 'AppliesTo address', 1024);
  if (address === '') throw fault('wstrust_unknown_relying_party', 'AppliesTo address is empty', 'wst:InvalidScope');
  return address;
}

/** WS-Security §10: Created required when a Timestamp is sent; Expires optional. Checked by the caller against the clock. */
function readTimestamp(security: Element): RequestSecurityToken['timestamp'] {
  const timestamp = one(security, WSU_NS, 'Timestamp');
  if (!timestamp) return undefined;
  const createdElement = one(timestamp, WSU_NS, 'Created');
  if (!createdElement) throw badSecurity('Timestamp has no Created');
  const expiresElement = one(timestamp, WSU_NS, 'Expires');
  const created = instant(text(createdElement, 'Created', 64));
  const expires = expiresElement ? instant(text(expiresElement, 'Expires', 64)) : undefined;
  if (expires !== undefined && expires < created) throw badSecurity('Timestamp expires before it was created');
  return { created, expires };
}

/** xs:dateTime in UTC (a Z or an offset) — what WS-Security requires; a local time has no instant. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function instant(value: string): number {
  const trimmed = value.trim();
  const ms = DATE_TIME.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(ms)) throw badSecurity('Timestamp is not an xs:dateTime in UTC');
  return ms;
}

/** One child at most; a repeated element is refused (two parsers picking different ones is an attack). */
function one(parent: Element, ns: string, localName: string): Element | undefined {
  try {
    return optionalChild(parent, ns, localName);
  } catch (error) {
    if (error instanceof XmlError) throw invalid(error.message);
    throw error;
  }
}

/** Text content, capped; comments or child elements inside are refused (textOf). Trimmed unless `exact`. */
function text(el: Element | undefined, name: string, max: number, exact = false): string {
  if (!el) throw invalid(`no ${name}`);
  let value: string;
  try {
    value = textOf(el);
  } catch (error) {
    if (error instanceof XmlError) throw invalid(`${name}: ${error.message}`);
    throw error;
  }
  if (!exact) value = value.trim();
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
}

function elementChildren(parent: Element): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === ELEMENT_NODE) found.push(node as Element);
  }
  return found;
}
