/**
 * WS-Trust messages as clients write them, without any service: a RequestSecurityToken as MSAL writes
 * it (and twisted, for the refusals), and a reading of the SOAP faults we answer with.
 */
import { DOMParser, type Element } from '@xmldom/xmldom';
import { ISSUE_ACTION, KEY_TYPE_BEARER, REQUEST_TYPE_ISSUE, SOAP_NS, WS_TRUST_NS, type SoapVersion, type WsTrustVersion } from '../../src/protocols/wstrust/constants.js';

export const M365_REALM = 'urn:federation:MicrosoftOnline';

export interface RstOptions {
  version: WsTrustVersion;
  soap?: SoapVersion;
  to: string;
  username: string;
  password: string;
  appliesTo?: string;
  action?: string;
  /** false: no Timestamp; default now .. now + 10 min. */
  timestamp?: { created: string; expires?: string } | false;
  /** Raw XML added to the Header (e.g. a block marked mustUnderstand). */
  extraHeader?: string;
  keyType?: string;
  tokenType?: string;
  messageId?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** A RequestSecurityToken as MSAL 1.21's wstrust_request._build_rst writes it. */
export function buildRst(o: RstOptions): string {
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const ts = o.timestamp === false ? '' : `<wsu:Timestamp wsu:Id='_0'><wsu:Created>${o.timestamp?.created ?? iso(now)}</wsu:Created>${
    o.timestamp ? (o.timestamp.expires ? `<wsu:Expires>${o.timestamp.expires}</wsu:Expires>` : '') : `<wsu:Expires>${iso(now + 600_000)}</wsu:Expires>`
  }</wsu:Timestamp>`;
  const soap = o.soap ?? '1.2';
  return `<s:Envelope xmlns:s='${SOAP_NS[soap]}' xmlns:wsa='http://www.w3.org/2005/08/addressing' xmlns:wsu='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd'>
  <s:Header>
    <wsa:Action s:mustUnderstand='1'>${o.action ?? ISSUE_ACTION[o.version]}</wsa:Action>
    <wsa:MessageID>${o.messageId ?? 'urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0'}</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>
    <wsa:To s:mustUnderstand='1'>${esc(o.to)}</wsa:To>
    ${o.extraHeader ?? ''}
    <wsse:Security s:mustUnderstand='1' xmlns:wsse='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd'>
      ${ts}
      <wsse:UsernameToken wsu:Id='ADALUsernameToken'><wsse:Username>${esc(o.username)}</wsse:Username><wsse:Password>${esc(o.password)}</wsse:Password></wsse:UsernameToken>
    </wsse:Security>
  </s:Header>
  <s:Body>
    <wst:RequestSecurityToken xmlns:wst='${WS_TRUST_NS[o.version]}'>
      <wsp:AppliesTo xmlns:wsp='http://schemas.xmlsoap.org/ws/2004/09/policy'><wsa:EndpointReference><wsa:Address>${esc(o.appliesTo ?? M365_REALM)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>
      <wst:KeyType>${o.keyType ?? KEY_TYPE_BEARER[o.version]}</wst:KeyType>
      <wst:RequestType>${REQUEST_TYPE_ISSUE[o.version]}</wst:RequestType>
      ${o.tokenType ? `<wst:TokenType>${o.tokenType}</wst:TokenType>` : ''}
    </wst:RequestSecurityToken>
  </s:Body>
</s:Envelope>`;
}

export interface Fault {
  soap: SoapVersion;
  code: string;
  subcode?: string;
  /** The subcode's namespace, resolved from its prefix. */
  subcodeNs?: string;
  reason: string;
}

/** Reads a SOAP 1.2 or 1.1 fault; throws when the body is not one. */
export function readFault(xml: string): Fault {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const root = doc.documentElement!;
  const soap: SoapVersion = root.namespaceURI === SOAP_NS['1.1'] ? '1.1' : '1.2';
  const env = SOAP_NS[soap];
  const fault = root.getElementsByTagNameNS(env, 'Fault')[0];
  if (!fault) throw new Error(`not a SOAP fault: ${xml.slice(0, 300)}`);
  if (soap === '1.1') {
    const code = fault.getElementsByTagName('faultcode')[0]!;
    const [prefix] = (code.textContent ?? '').split(':');
    return { soap, code: code.textContent ?? '', subcodeNs: code.lookupNamespaceURI(prefix ?? null) ?? undefined, reason: fault.getElementsByTagName('faultstring')[0]?.textContent ?? '' };
  }
  const values = fault.getElementsByTagNameNS(env, 'Value');
  const subcode = values[1] as Element | undefined;
  const [prefix] = (subcode?.textContent ?? '').split(':');
  return {
    soap,
    code: values[0]?.textContent ?? '',
    subcode: subcode?.textContent ?? undefined,
    subcodeNs: subcode?.lookupNamespaceURI(prefix ?? null) ?? undefined,
    reason: fault.getElementsByTagNameNS(env, 'Text')[0]?.textContent ?? '',
  };
}

