/**
 * The WS-MetadataExchange document of /adfs/services/trust/mex: a WSDL naming each WS-Trust endpoint,
 * its SOAP binding and its security policy, shaped like AD FS's (names, policy assertions, element
 * order) but listing only what OpenFed serves.
 *
 * Rich clients do not read it the way a WSDL toolkit would. MSAL (Python, .NET) walks fixed paths
 * (/work/shared/docs/client-facts.md): a top-level wsp:Policy with a wsu:Id holding a TransportBinding and
 * the username token at an exact depth, a wsdl:binding that references it with soap12:binding and
 * soap12:operation (its soapAction decides the WS-Trust version), and a wsdl:port whose
 * wsa10:EndpointReference/wsa10:Address is https. Everything below is laid out for that walk; a SOAP 1.1
 * binding is never listed, since MSAL 1.21 dereferences soap12:binding unconditionally and crashes on one.
 *
 * Pure: the same baseUrl gives the same bytes, so the web layer builds it once at start-up.
 */
import { escapeXml } from '../../xml/escape.js';
import { attribute, childElements, optionalChild, textOf, type Element } from '../../xml/query.js';
import { ISSUE_ACTION, ISSUE_RESPONSE_ACTION, WS_TRUST_NS, WS_TRUST_PATHS, WSA_NS, WSP_NS, WSU_NS, type WsTrustVersion } from './constants.js';

/** Namespaces of the MEX document (and of a client's reading of it), with AD FS's prefixes. */
export const MEX_NS = {
  wsdl: 'http://schemas.xmlsoap.org/wsdl/',
  soap12: 'http://schemas.xmlsoap.org/wsdl/soap12/',
  xsd: 'http://www.w3.org/2001/XMLSchema',
  wsaw: 'http://www.w3.org/2006/05/addressing/wsdl',
  tns: 'http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice',
  /** Negotiate (Kerberos) over HTTP: the windowstransport policies' marker. */
  httpPolicy: 'http://schemas.microsoft.com/ws/06/2004/policy/http',
} as const;

/**
 * WS-SecurityPolicy: the 2005 draft speaks for WS-Trust 2005 bindings, OASIS 1.2 for WS-Trust 1.3. A
 * client looks for each version's assertions in its own namespace only.
 */
export const SECURITY_POLICY_NS: Record<WsTrustVersion, string> = {
  '2005': 'http://schemas.xmlsoap.org/ws/2005/07/securitypolicy',
  '13': 'http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702',
};

/** soap12:binding's transport: SOAP over HTTP. MSAL skips bindings with any other. */
export const SOAP_HTTP_TRANSPORT = 'http://schemas.xmlsoap.org/soap/http';

/** AD FS's contract (portType) and operation per version; the binding and port names derive from them. */
const CONTRACT: Record<WsTrustVersion, { portType: string; operation: string; request: string; response: string }> = {
  '2005': { portType: 'IWSTrustFeb2005Async', operation: 'TrustFeb2005IssueAsync', request: 'RequestSecurityToken', response: 'RequestSecurityTokenResponse' },
  '13': { portType: 'IWSTrust13Async', operation: 'Trust13IssueAsync', request: 'RequestSecurityToken', response: 'RequestSecurityTokenResponseCollection' },
};

/** The wst prefix per version in this document (AD FS's: t for 2005, trust for 1.3). */
const TRUST_PREFIX: Record<WsTrustVersion, string> = { '2005': 't', '13': 'trust' };

/**
 * One endpoint MEX lists. Adding an authentication (Kerberos at windowstransport: a `policy` made of
 * http:NegotiateAuthentication and a TransportBinding without timestamp) is one more row in a table like
 * USERNAME_MIXED_ENDPOINTS; nothing else here changes.
 */
export interface MexEndpoint {
  version: WsTrustVersion;
  /** Relative to baseUrl. */
  path: string;
  /** AD FS's binding family ("UserNameWSTrustBinding"); the binding is `<family>_<portType>`. */
  bindingFamily: string;
  /** The assertions of the policy's wsp:All, given the version's WS-SecurityPolicy prefix `sp`. */
  policy: (version: WsTrustVersion) => string;
  /**
   * The WS-SecurityPolicy namespace `sp` stands for in this row's policy; default the row's version.
   * AD FS writes its Kerberos (windowstransport) policies in the 2005 draft for both versions, and
   * that is where MSAL looks for their TransportBinding.
   */
  policyNamespace?: WsTrustVersion;
}

/**
 * sp:TransportBinding as AD FS writes it: HTTPS, Basic256, strict layout and, for message-level tokens
 * (a UsernameToken), a timestamp. 2005's HttpsToken spells the client-certificate choice as an
 * attribute; 1.2 made it a nested assertion, absent = not required.
 */
export function transportBinding(version: WsTrustVersion, options: { timestamp: boolean }): string {
  const https = version === '2005' ? '<sp:HttpsToken RequireClientCertificate="false"/>' : '<sp:HttpsToken/>';
  return (
    '<sp:TransportBinding><wsp:Policy>' +
    `<sp:TransportToken><wsp:Policy>${https}</wsp:Policy></sp:TransportToken>` +
    '<sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite>' +
    '<sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout>' +
    (options.timestamp ? '<sp:IncludeTimestamp/>' : '') +
    '</wsp:Policy></sp:TransportBinding>'
  );
}

/**
 * The password as a WSS 1.0 UsernameToken. 1.3 clients look for it under SignedEncryptedSupportingTokens,
 * 2005 clients under SignedSupportingTokens (the 2005 draft has no encrypted variant; TLS encrypts it).
 */
function usernameToken(version: WsTrustVersion): string {
  const container = version === '13' ? 'SignedEncryptedSupportingTokens' : 'SignedSupportingTokens';
  return (
    `<sp:${container}><wsp:Policy>` +
    `<sp:UsernameToken sp:IncludeToken="${SECURITY_POLICY_NS[version]}/IncludeToken/AlwaysToRecipient">` +
    '<wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken>' +
    `</wsp:Policy></sp:${container}>`
  );
}

/**
 * AD FS's Trust10/Trust13 assertion, kept as published: WCF clients that build their binding from MEX
 * expect it, and a bearer-token issuer simply ignores the entropy a client may send.
 */
function trustAssertion(version: WsTrustVersion): string {
  const name = version === '13' ? 'Trust13' : 'Trust10';
  return `<sp:${name}><wsp:Policy><sp:MustSupportIssuedTokens/><sp:RequireClientEntropy/><sp:RequireServerEntropy/></wsp:Policy></sp:${name}>`;
}

const USING_ADDRESSING = '<wsaw:UsingAddressing/>';

/** usernamemixed: the password in a UsernameToken, protected by TLS alone. */
export const usernameMixedPolicy = (version: WsTrustVersion): string =>
  transportBinding(version, { timestamp: true }) + usernameToken(version) + trustAssertion(version) + USING_ADDRESSING;

/** What OpenFed serves: usernamemixed in both versions. 2005 first, as AD FS orders its bindings. */
export const USERNAME_MIXED_ENDPOINTS: readonly MexEndpoint[] = Object.freeze(
  (['2005', '13'] as const).map((version) =>
    Object.freeze({ version, path: WS_TRUST_PATHS.usernameMixed[version], bindingFamily: 'UserNameWSTrustBinding', policy: usernameMixedPolicy }),
  ),
);

/**
 * windowstransport: the caller authenticated by HTTP Negotiate (Kerberos) on the TLS connection, no
 * token in the message, so no timestamp is required either. Listed only to intranet clients (AD FS
 * does not publish it through the proxy).
 */
export const windowsTransportPolicy = (): string =>
  `<http:NegotiateAuthentication xmlns:http="${MEX_NS.httpPolicy}"/>` + transportBinding('2005', { timestamp: false }) + USING_ADDRESSING;

export const WINDOWS_TRANSPORT_ENDPOINTS: readonly MexEndpoint[] = Object.freeze(
  (['2005', '13'] as const).map((version) =>
    Object.freeze({ version, path: WS_TRUST_PATHS.windowsTransport[version], bindingFamily: 'CustomBinding', policy: windowsTransportPolicy, policyNamespace: '2005' as const }),
  ),
);

export interface MexInput {
  /** `config.server.baseUrl`: the addresses are `<baseUrl><path>`. */
  baseUrl: string;
  /** Default USERNAME_MIXED_ENDPOINTS. */
  endpoints?: readonly MexEndpoint[];
}

const bindingName = (e: MexEndpoint) => `${e.bindingFamily}_${CONTRACT[e.version].portType}`;
const policyId = (e: MexEndpoint) => `${bindingName(e)}_policy`;

export function buildMex(input: MexInput): string {
  const base = input.baseUrl.replace(/\/+$/, '');
  const endpoints = input.endpoints ?? USERNAME_MIXED_ENDPOINTS;
  const names = endpoints.map(bindingName);
  // Two rows with one name would give two policies one wsu:Id, and a client would pick either.
  if (new Set(names).size !== names.length) throw new TypeError(`MEX endpoints share a binding name: ${names.join(', ')}`);
  const versions = (['2005', '13'] as const).filter((v) => endpoints.some((e) => e.version === v));

  // Declared locally: the same prefix sp stands for a different namespace in each version's policy.
  const policies = endpoints.map(
    (e) =>
      `<wsp:Policy wsu:Id="${escapeXml(policyId(e))}" xmlns:sp="${SECURITY_POLICY_NS[e.policyNamespace ?? e.version]}">` +
      `<wsp:ExactlyOne><wsp:All>${e.policy(e.version)}</wsp:All></wsp:ExactlyOne></wsp:Policy>`,
  );

  // AD FS points schemaLocation at mex?xsd=xsdN; OpenFed serves no schemas, so only the namespaces are
  // imported (schemaLocation is optional), rather than sending a WSDL toolkit to a URL that answers MEX.
  const types =
    `<wsdl:types><xsd:schema targetNamespace="${MEX_NS.tns}/Imports">` +
    versions.map((v) => `<xsd:import namespace="${WS_TRUST_NS[v]}"/>`).join('') +
    '</xsd:schema></wsdl:types>';

  const contracts = versions.map((v) => {
    const c = CONTRACT[v];
    const message = `${c.portType}_${c.operation}`;
    return {
      messages:
        `<wsdl:message name="${message}_InputMessage"><wsdl:part name="request" element="${TRUST_PREFIX[v]}:${c.request}"/></wsdl:message>` +
        `<wsdl:message name="${message}_OutputMessage"><wsdl:part name="${c.operation}Result" element="${TRUST_PREFIX[v]}:${c.response}"/></wsdl:message>`,
      portType:
        `<wsdl:portType name="${c.portType}"><wsdl:operation name="${c.operation}">` +
        `<wsdl:input wsaw:Action="${ISSUE_ACTION[v]}" message="tns:${message}_InputMessage"/>` +
        `<wsdl:output wsaw:Action="${ISSUE_RESPONSE_ACTION[v]}" message="tns:${message}_OutputMessage"/>` +
        '</wsdl:operation></wsdl:portType>',
    };
  });

  const bindings = endpoints.map((e) => {
    const c = CONTRACT[e.version];
    return (
      `<wsdl:binding name="${escapeXml(bindingName(e))}" type="tns:${c.portType}">` +
      `<wsp:PolicyReference URI="#${escapeXml(policyId(e))}"/>` +
      `<soap12:binding transport="${SOAP_HTTP_TRANSPORT}"/>` +
      `<wsdl:operation name="${c.operation}"><soap12:operation soapAction="${ISSUE_ACTION[e.version]}" style="document"/>` +
      '<wsdl:input><soap12:body use="literal"/></wsdl:input><wsdl:output><soap12:body use="literal"/></wsdl:output>' +
      '</wsdl:operation></wsdl:binding>'
    );
  });

  const ports = endpoints.map((e) => {
    const address = escapeXml(`${base}${e.path}`);
    return (
      `<wsdl:port name="${escapeXml(bindingName(e))}" binding="tns:${escapeXml(bindingName(e))}">` +
      `<soap12:address location="${address}"/>` +
      `<wsa10:EndpointReference><wsa10:Address>${address}</wsa10:Address></wsa10:EndpointReference>` +
      '</wsdl:port>'
    );
  });

  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<wsdl:definitions name="SecurityTokenService" targetNamespace="${MEX_NS.tns}"` +
    ` xmlns:wsdl="${MEX_NS.wsdl}" xmlns:xsd="${MEX_NS.xsd}" xmlns:t="${WS_TRUST_NS['2005']}" xmlns:trust="${WS_TRUST_NS['13']}"` +
    ` xmlns:soap12="${MEX_NS.soap12}" xmlns:tns="${MEX_NS.tns}" xmlns:wsa10="${WSA_NS}" xmlns:wsaw="${MEX_NS.wsaw}"` +
    ` xmlns:wsu="${WSU_NS}" xmlns:wsp="${WSP_NS}">` +
    policies.join('') +
    types +
    contracts.map((c) => c.messages).join('') +
    contracts.map((c) => c.portType).join('') +
    bindings.join('') +
    `<wsdl:service name="SecurityTokenService">${ports.join('')}</wsdl:service>` +
    '</wsdl:definitions>'
  );
}

// ---------------------------------------------------------------------------------------------------
// reading, the way a rich client does

/** A username-password endpoint as a client finds it in a MEX document. */
export interface MexUsernameEndpoint {
  version: WsTrustVersion;
  address: string;
}

/**
 * The username-password endpoints of a MEX document, found by MSAL's rules (Python mex.py, .NET
 * MexDocument): a policy with the version's username token path and a TransportBinding, a SOAP 1.2
 * binding referencing it whose soapAction names the version, and an https wsa10 address. For
 * `openfed m365 verify` and tests; the root must be the parsed document's element.
 */
export function mexUsernameEndpoints(root: Element): MexUsernameEndpoint[] {
  if (root.namespaceURI !== MEX_NS.wsdl || root.localName !== 'definitions') return [];
  const policies = new Set<string>();
  for (const policy of childElements(root, WSP_NS, 'Policy')) {
    const id = policy.getAttributeNS(WSU_NS, 'Id');
    if (!id) continue;
    for (const all of path(policy, [[WSP_NS, 'ExactlyOne'], [WSP_NS, 'All']])) {
      for (const version of ['2005', '13'] as const) {
        const sp = SECURITY_POLICY_NS[version];
        const container = version === '13' ? 'SignedEncryptedSupportingTokens' : 'SignedSupportingTokens';
        const token = path(all, [[sp, container], [WSP_NS, 'Policy'], [sp, 'UsernameToken'], [WSP_NS, 'Policy'], [sp, 'WssUsernameToken10']]);
        if (token.length > 0 && policy.getElementsByTagNameNS(sp, 'TransportBinding').length > 0) policies.add(`#${id}`);
      }
    }
  }
  const bindings = new Map<string, WsTrustVersion>();
  for (const binding of childElements(root, MEX_NS.wsdl, 'binding')) {
    const soap = optionalChild(binding, MEX_NS.soap12, 'binding');
    if (!soap || attribute(soap, 'transport') !== SOAP_HTTP_TRANSPORT) continue;
    const action = path(binding, [[MEX_NS.wsdl, 'operation'], [MEX_NS.soap12, 'operation']]).map((op) => attribute(op, 'soapAction'))[0];
    const version = (['13', '2005'] as const).find((v) => ISSUE_ACTION[v] === action);
    const name = attribute(binding, 'name');
    if (!version || !name) continue;
    if (childElements(binding, WSP_NS, 'PolicyReference').some((ref) => policies.has(attribute(ref, 'URI') ?? ''))) bindings.set(name, version);
  }
  const found: MexUsernameEndpoint[] = [];
  for (const port of path(root, [[MEX_NS.wsdl, 'service'], [MEX_NS.wsdl, 'port']])) {
    const version = bindings.get((attribute(port, 'binding') ?? '').split(':').at(-1) ?? '');
    const address = path(port, [[WSA_NS, 'EndpointReference'], [WSA_NS, 'Address']])[0];
    if (version && address) found.push({ version, address: textOf(address).trim() });
  }
  return found;
}

/** Elements at a path of (namespace, local name) steps below `from`, direct children at each step. */
function path(from: Element, steps: ReadonlyArray<readonly [string, string]>): Element[] {
  let level = [from];
  for (const [ns, name] of steps) level = level.flatMap((el) => childElements(el, ns, name));
  return level;
}
