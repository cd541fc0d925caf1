/**
 * The WS-MetadataExchange document: AD FS's shape for the two usernamemixed endpoints (policies,
 * contracts, SOAP 1.2 bindings only, addresses from baseUrl, escaped), read back by our client-side
 * reader and by Microsoft's own parser, MSAL for Python (Debian's python3-msal, run as a child process).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ISSUE_ACTION, WS_TRUST_NS, WSA_NS, WSP_NS, WSU_NS } from '../../../src/protocols/wstrust/constants.js';
import {
  buildMex,
  MEX_NS,
  mexUsernameEndpoints,
  SECURITY_POLICY_NS,
  SOAP_HTTP_TRANSPORT,
  USERNAME_MIXED_ENDPOINTS,
  type MexEndpoint,
} from '../../../src/protocols/wstrust/mex.js';
import { parseXml } from '../../../src/xml/parse.js';
import { attribute, childElements, textOf, type Element } from '../../../src/xml/query.js';

const BASE_URL = 'https://sts.contoso.test';
const ADDRESS = {
  '2005': `${BASE_URL}/adfs/services/trust/2005/usernamemixed`,
  '13': `${BASE_URL}/adfs/services/trust/13/usernamemixed`,
} as const;

const rootOf = (xml: string): Element => parseXml(xml).documentElement!;
const only = (parent: Element, ns: string, name: string): Element => {
  const found = childElements(parent, ns, name);
  assert.equal(found.length, 1, `<${parent.localName}> has ${found.length} <${name}>`);
  return found[0]!;
};
const walk = (from: Element, steps: [string, string][]): Element => steps.reduce((el, [ns, name]) => only(el, ns, name), from);
const childNames = (el: Element): string[] => {
  const names: string[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) names.push(`${(n as Element).prefix}:${(n as Element).localName}`);
  return names;
};

describe('buildMex', () => {
  const xml = buildMex({ baseUrl: `${BASE_URL}/` });
  const root = rootOf(xml);

  test('a bare wsdl:definitions (no GetMetadata envelope), AD FS name and target namespace', () => {
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="utf-8"?><wsdl:definitions '));
    assert.equal(root.namespaceURI, MEX_NS.wsdl);
    assert.equal(root.localName, 'definitions');
    assert.equal(attribute(root, 'name'), 'SecurityTokenService');
    assert.equal(attribute(root, 'targetNamespace'), 'http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice');
    // WSDL's order: policies (extensibility elements first), types, messages, portTypes, bindings, service.
    assert.deepEqual(childNames(root), [
      'wsp:Policy',
      'wsp:Policy',
      'wsdl:types',
      'wsdl:message',
      'wsdl:message',
      'wsdl:message',
      'wsdl:message',
      'wsdl:portType',
      'wsdl:portType',
      'wsdl:binding',
      'wsdl:binding',
      'wsdl:service',
    ]);
  });

  test('one policy per binding: TransportBinding (HTTPS, Basic256, Strict, timestamp), the username token, Trust and Addressing', () => {
    const policies = childElements(root, WSP_NS, 'Policy');
    assert.deepEqual(
      policies.map((p) => p.getAttributeNS(WSU_NS, 'Id')),
      ['UserNameWSTrustBinding_IWSTrustFeb2005Async_policy', 'UserNameWSTrustBinding_IWSTrust13Async_policy'],
    );
    for (const [policy, version] of [
      [policies[0]!, '2005'],
      [policies[1]!, '13'],
    ] as const) {
      const sp = SECURITY_POLICY_NS[version];
      const all = walk(policy, [
        [WSP_NS, 'ExactlyOne'],
        [WSP_NS, 'All'],
      ]);
      const container = version === '13' ? 'SignedEncryptedSupportingTokens' : 'SignedSupportingTokens';
      assert.deepEqual(childNames(all), ['sp:TransportBinding', `sp:${container}`, `sp:${version === '13' ? 'Trust13' : 'Trust10'}`, 'wsaw:UsingAddressing']);
      assert.equal(only(all, MEX_NS.wsaw, 'UsingAddressing').namespaceURI, MEX_NS.wsaw);

      const transport = walk(all, [
        [sp, 'TransportBinding'],
        [WSP_NS, 'Policy'],
      ]);
      assert.deepEqual(childNames(transport), ['sp:TransportToken', 'sp:AlgorithmSuite', 'sp:Layout', 'sp:IncludeTimestamp']);
      const https = walk(transport, [
        [sp, 'TransportToken'],
        [WSP_NS, 'Policy'],
        [sp, 'HttpsToken'],
      ]);
      assert.equal(attribute(https, 'RequireClientCertificate'), version === '2005' ? 'false' : undefined);
      walk(transport, [
        [sp, 'AlgorithmSuite'],
        [WSP_NS, 'Policy'],
        [sp, 'Basic256'],
      ]);
      walk(transport, [
        [sp, 'Layout'],
        [WSP_NS, 'Policy'],
        [sp, 'Strict'],
      ]);

      const token = walk(all, [
        [sp, container],
        [WSP_NS, 'Policy'],
        [sp, 'UsernameToken'],
      ]);
      assert.equal(token.getAttributeNS(sp, 'IncludeToken'), `${sp}/IncludeToken/AlwaysToRecipient`);
      walk(token, [
        [WSP_NS, 'Policy'],
        [sp, 'WssUsernameToken10'],
      ]);
    }
    // Each version speaks its own WS-SecurityPolicy: a 1.3 client finds nothing in the 2005 namespace and vice versa.
    assert.equal(policies[0]!.getElementsByTagNameNS(SECURITY_POLICY_NS['13'], '*').length, 0);
    assert.equal(policies[1]!.getElementsByTagNameNS(SECURITY_POLICY_NS['2005'], '*').length, 0);
  });

  test('messages and portTypes of AD FS contracts, with the Issue actions', () => {
    const portTypes = childElements(root, MEX_NS.wsdl, 'portType');
    assert.deepEqual(
      portTypes.map((p) => attribute(p, 'name')),
      ['IWSTrustFeb2005Async', 'IWSTrust13Async'],
    );
    const operation = (p: Element) => only(p, MEX_NS.wsdl, 'operation');
    assert.equal(attribute(operation(portTypes[0]!), 'name'), 'TrustFeb2005IssueAsync');
    assert.equal(attribute(operation(portTypes[1]!), 'name'), 'Trust13IssueAsync');
    assert.equal(only(operation(portTypes[0]!), MEX_NS.wsdl, 'input').getAttributeNS(MEX_NS.wsaw, 'Action'), ISSUE_ACTION['2005']);
    assert.equal(only(operation(portTypes[1]!), MEX_NS.wsdl, 'input').getAttributeNS(MEX_NS.wsaw, 'Action'), ISSUE_ACTION['13']);
    assert.equal(
      only(operation(portTypes[1]!), MEX_NS.wsdl, 'output').getAttributeNS(MEX_NS.wsaw, 'Action'),
      'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal',
    );

    const messages = childElements(root, MEX_NS.wsdl, 'message');
    assert.deepEqual(
      messages.map((m) => [attribute(m, 'name'), attribute(only(m, MEX_NS.wsdl, 'part'), 'element')]),
      [
        ['IWSTrustFeb2005Async_TrustFeb2005IssueAsync_InputMessage', 't:RequestSecurityToken'],
        ['IWSTrustFeb2005Async_TrustFeb2005IssueAsync_OutputMessage', 't:RequestSecurityTokenResponse'],
        ['IWSTrust13Async_Trust13IssueAsync_InputMessage', 'trust:RequestSecurityToken'],
        ['IWSTrust13Async_Trust13IssueAsync_OutputMessage', 'trust:RequestSecurityTokenResponseCollection'],
      ],
    );
    assert.equal(root.lookupNamespaceURI('t'), WS_TRUST_NS['2005']);
    assert.equal(root.lookupNamespaceURI('trust'), WS_TRUST_NS['13']);
    // The schemas are imported by namespace only: OpenFed serves no ?xsd= documents to point at.
    const imports = walk(root, [
      [MEX_NS.wsdl, 'types'],
      [MEX_NS.xsd, 'schema'],
    ]);
    assert.deepEqual(
      childElements(imports, MEX_NS.xsd, 'import').map((i) => [attribute(i, 'namespace'), attribute(i, 'schemaLocation')]),
      [
        [WS_TRUST_NS['2005'], undefined],
        [WS_TRUST_NS['13'], undefined],
      ],
    );
  });

  test('SOAP 1.2 bindings only, each referencing its policy, soapAction = the version Issue action', () => {
    const bindings = childElements(root, MEX_NS.wsdl, 'binding');
    assert.deepEqual(
      bindings.map((b) => [
        attribute(b, 'name'),
        attribute(b, 'type'),
        attribute(only(b, WSP_NS, 'PolicyReference'), 'URI'),
        attribute(only(b, MEX_NS.soap12, 'binding'), 'transport'),
        attribute(walk(b, [[MEX_NS.wsdl, 'operation'], [MEX_NS.soap12, 'operation']]), 'soapAction'),
      ]),
      [
        ['UserNameWSTrustBinding_IWSTrustFeb2005Async', 'tns:IWSTrustFeb2005Async', '#UserNameWSTrustBinding_IWSTrustFeb2005Async_policy', SOAP_HTTP_TRANSPORT, ISSUE_ACTION['2005']],
        ['UserNameWSTrustBinding_IWSTrust13Async', 'tns:IWSTrust13Async', '#UserNameWSTrustBinding_IWSTrust13Async_policy', SOAP_HTTP_TRANSPORT, ISSUE_ACTION['13']],
      ],
    );
    assert.equal(root.getElementsByTagNameNS('http://schemas.xmlsoap.org/wsdl/soap/', '*').length, 0, 'a SOAP 1.1 binding crashes MSAL 1.21');
  });

  test('one port per binding: soap12:address and wsa10:EndpointReference at baseUrl + path, no trailing slash doubled', () => {
    const ports = childElements(only(root, MEX_NS.wsdl, 'service'), MEX_NS.wsdl, 'port');
    assert.deepEqual(
      ports.map((p) => [
        attribute(p, 'name'),
        attribute(p, 'binding'),
        attribute(only(p, MEX_NS.soap12, 'address'), 'location'),
        textOf(walk(p, [[WSA_NS, 'EndpointReference'], [WSA_NS, 'Address']])),
      ]),
      [
        ['UserNameWSTrustBinding_IWSTrustFeb2005Async', 'tns:UserNameWSTrustBinding_IWSTrustFeb2005Async', ADDRESS['2005'], ADDRESS['2005']],
        ['UserNameWSTrustBinding_IWSTrust13Async', 'tns:UserNameWSTrustBinding_IWSTrust13Async', ADDRESS['13'], ADDRESS['13']],
      ],
    );
  });

  test('no windowstransport, no other endpoint', () => {
    const addresses = [...xml.matchAll(/https:\/\/[^"<]*/g)].map((m) => m[0]);
    assert.deepEqual([...new Set(addresses)], [ADDRESS['2005'], ADDRESS['13']]);
    assert.equal(root.getElementsByTagNameNS(MEX_NS.httpPolicy, '*').length, 0);
  });

  test('baseUrl is escaped in text and attributes', () => {
    const odd = buildMex({ baseUrl: 'https://sts.contoso.test/a&b"<c>' });
    const ports = childElements(only(rootOf(odd), MEX_NS.wsdl, 'service'), MEX_NS.wsdl, 'port');
    const expected = 'https://sts.contoso.test/a&b"<c>/adfs/services/trust/2005/usernamemixed';
    assert.equal(attribute(only(ports[0]!, MEX_NS.soap12, 'address'), 'location'), expected);
    assert.equal(textOf(walk(ports[0]!, [[WSA_NS, 'EndpointReference'], [WSA_NS, 'Address']])), expected);
    assert.doesNotMatch(odd, /a&b"<c>/);
  });

  test('deterministic: same input, same bytes', () => {
    assert.equal(buildMex({ baseUrl: BASE_URL }), xml);
  });

  test('one more row in the endpoint table adds a policy, a binding and a port (how windowstransport will come)', () => {
    const negotiate: MexEndpoint = {
      version: '13',
      path: '/adfs/services/trust/13/windowstransport',
      bindingFamily: 'WindowsWSTrustBinding',
      policy: () => `<http:NegotiateAuthentication xmlns:http="${MEX_NS.httpPolicy}"/>`,
    };
    const extended = rootOf(buildMex({ baseUrl: BASE_URL, endpoints: [...USERNAME_MIXED_ENDPOINTS, negotiate] }));
    assert.equal(childElements(extended, WSP_NS, 'Policy').length, 3);
    assert.equal(childElements(extended, MEX_NS.wsdl, 'binding').length, 3);
    assert.equal(childElements(only(extended, MEX_NS.wsdl, 'service'), MEX_NS.wsdl, 'port').length, 3);
    // It carries no username token, so it is no username-password endpoint.
    assert.deepEqual(mexUsernameEndpoints(extended).length, 2);
    assert.throws(() => buildMex({ baseUrl: BASE_URL, endpoints: [USERNAME_MIXED_ENDPOINTS[0]!, USERNAME_MIXED_ENDPOINTS[0]!] }), /share a binding name/);
  });
});

describe('mexUsernameEndpoints (a client reading)', () => {
  test('finds both usernamemixed endpoints with their versions', () => {
    assert.deepEqual(mexUsernameEndpoints(rootOf(buildMex({ baseUrl: BASE_URL }))), [
      { version: '2005', address: ADDRESS['2005'] },
      { version: '13', address: ADDRESS['13'] },
    ]);
  });

  test('a SOAP 1.1 binding, a missing policy or another root yields nothing for that endpoint', () => {
    const xml = buildMex({ baseUrl: BASE_URL });
    const soap11 = xml.replace(
      `<soap12:binding transport="${SOAP_HTTP_TRANSPORT}"/><wsdl:operation name="Trust13IssueAsync">`,
      `<soap:binding xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" transport="${SOAP_HTTP_TRANSPORT}"/><wsdl:operation name="Trust13IssueAsync">`,
    );
    assert.notEqual(soap11, xml);
    assert.deepEqual(mexUsernameEndpoints(rootOf(soap11)), [{ version: '2005', address: ADDRESS['2005'] }]);
    const noPolicy = xml.replace('URI="#UserNameWSTrustBinding_IWSTrustFeb2005Async_policy"', 'URI="#elsewhere"');
    assert.deepEqual(mexUsernameEndpoints(rootOf(noPolicy)), [{ version: '13', address: ADDRESS['13'] }]);
    assert.deepEqual(mexUsernameEndpoints(rootOf('<definitions/>')), []);
  });
});

// ---------------------------------------------------------------------------------------------------
// Microsoft's parser

/**
 * Debian's python3-msal lives in Debian's Python; a python3 earlier on PATH (pyenv, a venv) would not
 * see it. scripts/test.sh installs the package; this file installs nothing.
 */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface MsalEndpoint {
  address: string;
  action: string;
}

/** MSAL's choice and every username-password endpoint it sees, as JSON from the child process. */
function msalRead(doc: string): { chosen: MsalEndpoint | null; all: MsalEndpoint[] } {
  const script = [
    'import json, sys',
    'from msal.mex import Mex',
    'mex = Mex(sys.stdin.read())',
    'print(json.dumps({"chosen": mex.get_wstrust_username_password_endpoint(),',
    '  "all": mex._get_endpoints(mex._get_bindings(), mex._get_username_password_policy_ids())}))',
  ].join('\n');
  const result = spawnSync(PYTHON, ['-c', script], { input: doc, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`${PYTHON} could not be run: ${result.error.message}`);
  if (/No module named 'msal'/.test(result.stderr)) {
    throw new Error(`MSAL for Python is not installed for ${PYTHON}: install Debian's python3-msal (scripts/test.sh does)`);
  }
  assert.equal(result.status, 0, `MSAL failed on the MEX document:\n${result.stderr}`);
  return JSON.parse(result.stdout) as { chosen: MsalEndpoint | null; all: MsalEndpoint[] };
}

describe('MSAL for Python (python3-msal) reads the MEX document', () => {
  test('it finds both endpoints and picks WS-Trust 1.3', () => {
    const read = msalRead(buildMex({ baseUrl: BASE_URL }));
    assert.deepEqual(read.chosen, { address: ADDRESS['13'], action: ISSUE_ACTION['13'] });
    assert.deepEqual(read.all, [
      { address: ADDRESS['2005'], action: ISSUE_ACTION['2005'] },
      { address: ADDRESS['13'], action: ISSUE_ACTION['13'] },
    ]);
  });

  test('with the 1.3 binding gone, it falls back to the 2005 endpoint', () => {
    const only2005 = buildMex({ baseUrl: BASE_URL, endpoints: USERNAME_MIXED_ENDPOINTS.filter((e) => e.version === '2005') });
    assert.doesNotMatch(only2005, /IWSTrust13Async|\/13\/usernamemixed|ws-securitypolicy\/200702/);
    assert.deepEqual(msalRead(only2005).chosen, { address: ADDRESS['2005'], action: ISSUE_ACTION['2005'] });
  });

  test('http addresses are dropped: behind a plain-http baseUrl, MSAL finds nothing', () => {
    assert.deepEqual(msalRead(buildMex({ baseUrl: 'http://sts.contoso.test' })), { chosen: null, all: [] });
  });
});
