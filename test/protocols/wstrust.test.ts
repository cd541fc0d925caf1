/**
 * WS-Trust without a server: reading the RequestSecurityToken (every accepted shape, every refusal
 * with its fault subcode), writing the RSTR and the SOAP faults, and WsfedIdp.issue — the token a
 * rich client gets carries exactly what the passive sign-in gives the same relying party.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { WsTrustError, toSoapFault, TokenRefusedError, ServiceUnavailableError, WsfedError } from '../../src/errors.js';
import { fixedKeyRing } from '../../src/keys/key-ring.js';
import { TooManyAttemptsError } from '../../src/lockout/guard.js';
import { ISSUE_ACTION, SOAP_NS, WS_TRUST_NS, WSA_NS, WSSE_NS, type WsTrustVersion } from '../../src/protocols/wstrust/constants.js';
import { readRequestSecurityToken } from '../../src/protocols/wstrust/request.js';
import { buildFault, buildIssueResponse } from '../../src/protocols/wstrust/response.js';
import { WsfedIdp } from '../../src/protocols/wsfed/idp.js';
import { SAML11_ASSERTION_NS } from '../../src/xml/namespaces.js';
import { buildRst, M365_REALM, readFault } from '../helpers/wstrust-messages.js';
import { ALICE, NOW, all, only, parse, session, signingKey, text } from './fixtures.js';

const TO = 'https://sts.corp.example/adfs/services/trust/13/usernamemixed';
const LIMITS = { maxBytes: 65_536, maxUsernameLength: 256, maxPasswordLength: 256 };
const read = (xml: string, version: WsTrustVersion = '13', soapAction?: string) => readRequestSecurityToken(xml, version, soapAction, LIMITS);
const rst = (o: Partial<Parameters<typeof buildRst>[0]> = {}) => buildRst({ version: '13', to: TO, username: 'alice@corp.example', password: 'p&ss<word>', ...o });

function refusedWith(subcode: string, code = 'Sender'): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof WsTrustError, `expected a WsTrustError, got ${String(err)}`);
    assert.deepEqual([err.soap.code, err.soap.subcode], [code, subcode]);
    return true;
  };
}

describe('readRequestSecurityToken: what clients send', () => {
  test('MSAL\'s WS-Trust 1.3 request', () => {
    const request = read(rst({ messageId: 'urn:uuid:1' }), '13', ISSUE_ACTION['13']);
    assert.equal(request.soap, '1.2');
    assert.equal(request.version, '13');
    assert.equal(request.to, TO);
    assert.equal(request.messageId, 'urn:uuid:1');
    assert.equal(request.credentials.username, 'alice@corp.example');
    assert.equal(request.credentials.password, 'p&ss<word>', 'the password exactly as sent, entities decoded');
    assert.equal(request.appliesTo, M365_REALM);
    assert.equal(request.tokenType, undefined);
    assert.ok(request.timestamp && request.timestamp.expires! > request.timestamp.created);
  });

  test('MSAL\'s WS-Trust 2005 request, and SOAP 1.1', () => {
    assert.equal(read(rst({ version: '2005' }), '2005').version, '2005');
    assert.equal(read(rst({ soap: '1.1' })).soap, '1.1');
  });

  test('no Timestamp; a Timestamp without Expires; AppliesTo in WS-Addressing 2004/08; a quoted-empty SOAPAction', () => {
    assert.equal(read(rst({ timestamp: false })).timestamp, undefined);
    assert.equal(read(rst({ timestamp: { created: '2026-03-02T10:00:00.123Z' } })).timestamp?.expires, undefined);
    const old = rst().replace("<wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference>",
      "<a4:EndpointReference xmlns:a4='http://schemas.xmlsoap.org/ws/2004/08/addressing'><a4:Address>urn:federation:MicrosoftOnline</a4:Address></a4:EndpointReference>");
    assert.equal(read(old).appliesTo, M365_REALM);
    assert.equal(read(rst(), '13', '').appliesTo, M365_REALM);
  });

  test('the token type a client asks for', () => {
    assert.equal(read(rst({ tokenType: 'urn:oasis:names:tc:SAML:2.0:assertion' })).tokenType, 'saml2');
    assert.equal(read(rst({ tokenType: 'http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1' })).tokenType, 'saml11');
  });

  const refusals: Array<[string, () => string, string, string?, WsTrustVersion?]> = [
    ['not XML', () => 'user=alice', 'wst:InvalidRequest'],
    ['a DTD', () => `<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>${rst()}`, 'wst:InvalidRequest'],
    ['a processing instruction', () => `<?xml-stylesheet href="x"?>${rst()}`, 'wst:InvalidRequest'],
    ['nested past the depth cap', () => rst({ extraHeader: `${'<x:a xmlns:x="urn:x">'.repeat(20)}${'</x:a>'.repeat(20)}` }), 'wst:InvalidRequest'],
    ['over the size cap', () => rst({ extraHeader: `<x:pad xmlns:x="urn:x">${'a'.repeat(70_000)}</x:pad>` }), 'wst:InvalidRequest'],
    ['not an envelope', () => '<RequestSecurityToken/>', 'wst:InvalidRequest', 'VersionMismatch'],
    ['an envelope of another SOAP', () => rst().replace(SOAP_NS['1.2'], 'urn:soap:2.0'), 'wst:InvalidRequest', 'VersionMismatch'],
    ['no Header', () => rst().replace(/<s:Header>[\s\S]*<\/s:Header>/, ''), 'wsa:MessageAddressingHeaderRequired'],
    ['no wsa:To', () => rst().replace(/<wsa:To[^]*?<\/wsa:To>/, ''), 'wsa:MessageAddressingHeaderRequired'],
    ['no wsa:Action', () => rst().replace(/<wsa:Action[^]*?<\/wsa:Action>/, ''), 'wsa:MessageAddressingHeaderRequired'],
    ['two wsa:To', () => rst({ extraHeader: `<wsa:To>${TO}</wsa:To>` }), 'wst:InvalidRequest'],
    ['a non-anonymous ReplyTo', () => rst().replace('http://www.w3.org/2005/08/addressing/anonymous', 'https://evil.example/'), 'wsa:OnlyAnonymousAddressSupported'],
    ['an unknown header marked mustUnderstand', () => rst({ extraHeader: "<x:y xmlns:x='urn:x' s:mustUnderstand='true'/>" }), 'wst:InvalidRequest', 'MustUnderstand'],
    ['another action', () => rst({ action: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Renew' }), 'wsa:ActionNotSupported'],
    ['a 1.3 request at the 2005 endpoint', () => rst(), 'wsa:ActionNotSupported', undefined, '2005'],
    ['two bodies', () => rst().replace('</s:Body>', '</s:Body><s:Body/>'), 'wst:InvalidRequest'],
    ['something besides the RST in the body', () => rst().replace('</s:Body>', '<x:y xmlns:x="urn:x"/></s:Body>'), 'wst:InvalidRequest'],
    ['another RequestType', () => rst().replace('200512/Issue<', '200512/Validate<'), 'wst:InvalidRequest'],
    ['a proof key', () => rst({ keyType: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey' }), 'wst:BadRequest'],
    ['a token type we do not issue', () => rst({ tokenType: 'urn:ietf:params:oauth:token-type:jwt' }), 'wst:BadRequest'],
    ['no Security header', () => rst().replace(/<wsse:Security[^]*<\/wsse:Security>/, ''), 'wsse:InvalidSecurity'],
    ['no UsernameToken', () => rst().replace(/<wsse:UsernameToken[^]*<\/wsse:UsernameToken>/, ''), 'wsse:UnsupportedSecurityToken'],
    ['a password digest', () => rst().replace('<wsse:Password>', "<wsse:Password Type='http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest'>"), 'wsse:UnsupportedSecurityToken'],
    ['two UsernameTokens', () => rst().replace(/(<wsse:UsernameToken[^]*<\/wsse:UsernameToken>)/, '$1$1'), 'wst:InvalidRequest'],
    ['a comment inside the user name (truncation)', () => rst({ username: 'alice' }).replace('<wsse:Username>alice', '<wsse:Username>alice<!---->@evil'), 'wst:InvalidRequest'],
    ['a user name over the limit', () => rst({ username: 'a'.repeat(257) }), 'wst:InvalidRequest'],
    ['a Timestamp that expires before it was created', () => rst({ timestamp: { created: '2026-03-02T10:00:00Z', expires: '2026-03-02T09:00:00Z' } }), 'wsse:InvalidSecurity'],
    ['a Timestamp in local time', () => rst({ timestamp: { created: '2026-03-02T10:00:00' } }), 'wsse:InvalidSecurity'],
    ['no AppliesTo', () => rst().replace(/<wsp:AppliesTo[^]*<\/wsp:AppliesTo>/, ''), 'wst:InvalidScope'],
    ['an empty AppliesTo address', () => rst({ appliesTo: '' }), 'wst:InvalidScope'],
  ];
  for (const [label, xml, subcode, code, version] of refusals) {
    test(`refused: ${label} → ${code ?? 'Sender'} / ${subcode}`, () => {
      assert.throws(() => read(xml(), version ?? '13'), refusedWith(subcode, code));
    });
  }

  test('refused: a SOAPAction that differs from wsa:Action', () => {
    assert.throws(() => read(rst(), '13', ISSUE_ACTION['2005']), refusedWith('wsa:ActionMismatch'));
  });
});

describe('toSoapFault: one mapping for every error', () => {
  const rows: Array<[string, unknown, string, string, number]> = [
    ['a WsTrustError keeps its own', new WsTrustError('wstrust_message_expired', 'x', { code: 'Sender', subcode: 'wsse:MessageExpired' }), 'Sender', 'wsse:MessageExpired', 400],
    ['a Receiver WsTrustError is 500', new WsTrustError('internal_error', 'x', { code: 'Receiver', subcode: 'wst:RequestFailed' }), 'Receiver', 'wst:RequestFailed', 500],
    ['the per-address throttle', new TooManyAttemptsError(30), 'Sender', 'wst:RequestFailed', 429],
    ['a token refused for the user', new TokenRefusedError('m365_no_immutable_id', 'x'), 'Sender', 'wst:RequestFailed', 403],
    ['a WS-Fed refusal', new WsfedError('wsfed_unknown_realm', 'x'), 'Sender', 'wst:InvalidRequest', 400],
    ['no domain controller', new ServiceUnavailableError('directory_unavailable', 'x'), 'Receiver', 'wst:RequestFailed', 503],
    ['a bug', new TypeError('oops'), 'Receiver', 'wst:RequestFailed', 500],
  ];
  for (const [label, err, code, subcode, status] of rows) {
    test(label, () => {
      const fault = toSoapFault(err);
      assert.deepEqual([fault.code, fault.subcode, fault.status], [code, subcode, status]);
    });
  }
});

describe('buildFault', () => {
  test('SOAP 1.2: Code, Subcode with its namespace declared, Reason escaped, RelatesTo', () => {
    const xml = buildFault({ soap: '1.2', version: '2005', relatesTo: 'urn:uuid:<1>', fault: { code: 'Sender', subcode: 'wst:FailedAuthentication' }, reason: 'a < b & "c"' });
    const fault = readFault(xml);
    assert.deepEqual(fault, { soap: '1.2', code: 's:Sender', subcode: 'wst:FailedAuthentication', subcodeNs: WS_TRUST_NS['2005'], reason: 'a < b & "c"' });
    assert.match(xml, /<a:RelatesTo>urn:uuid:&lt;1&gt;<\/a:RelatesTo>/);
    assert.match(xml, /addressing\/soap\/fault<\/a:Action>/);
  });

  test('each subcode family in its namespace', () => {
    for (const [subcode, ns] of [['wsse:MessageExpired', WSSE_NS], ['wsa:DestinationUnreachable', WSA_NS], ['wst:InvalidScope', WS_TRUST_NS['13']]] as const) {
      assert.equal(readFault(buildFault({ soap: '1.2', version: '13', fault: { code: 'Sender', subcode }, reason: 'r' })).subcodeNs, ns);
    }
  });

  test('SOAP 1.1: the subcode is the faultcode; MustUnderstand stays the envelope\'s', () => {
    const plain = readFault(buildFault({ soap: '1.1', version: '13', fault: { code: 'Sender', subcode: 'wsa:ActionNotSupported' }, reason: 'r' }));
    assert.deepEqual([plain.soap, plain.code, plain.subcodeNs], ['1.1', 'wsa:ActionNotSupported', WSA_NS]);
    const must = readFault(buildFault({ soap: '1.1', version: '13', fault: { code: 'MustUnderstand', subcode: 'wst:InvalidRequest' }, reason: 'r' }));
    assert.equal(must.code, 's:MustUnderstand');
  });
});

const idpKey = await signingKey('wstrust-idp');
const config = parseConfig({
  microsoft365: { enabled: true, domains: ['corp.example'], internalNetworks: ['10.0.0.0/8'] },
  wsfedRelyingParties: [{ realm: 'urn:app:rich', replyUrls: ['https://rich.corp.example/'], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] }],
});
const idp = new WsfedIdp({
  issuer: 'http://sts.corp.example/adfs/services/trust',
  config,
  relyingParties: { version: 1, wsfed: () => config.wsfedRelyingParties },
  clock: new ManualClock(NOW),
  keys: fixedKeyRing(idpKey),
  sessionSecret: 'a-session-secret-of-at-least-thirty-two-characters',
});

/** Claims of a SAML 1.1 assertion, keyed namespace/name. */
function claimsOf(assertion: string): Map<string, string[]> {
  const claims = new Map<string, string[]>();
  for (const attribute of all(parse(assertion), SAML11_ASSERTION_NS, 'Attribute')) {
    claims.set(`${attribute.getAttribute('AttributeNamespace')}/${attribute.getAttribute('AttributeName')}`, all(attribute, SAML11_ASSERTION_NS, 'AttributeValue').map(text));
  }
  return claims;
}

describe('WsfedIdp.issue: the token for a rich client', () => {
  test('Microsoft 365: the passive sign-in\'s claims; AuthenticationMethod password; an hour from now', () => {
    const active = idp.issue(M365_REALM, { principal: ALICE, authnInstant: NOW, clientIp: '203.0.113.5' });
    const passive = idp.answer(idp.trust({ realm: M365_REALM }), session(ALICE, { authnInstant: NOW }), '203.0.113.5');
    assert.equal(passive.action, 'post');
    const passiveAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(passive.action === 'post' ? passive.fields.wresult! : '')![0];
    assert.deepEqual(claimsOf(active.assertion), claimsOf(passiveAssertion));
    assert.equal(claimsOf(active.assertion).get('http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork')?.[0], 'false');
    const statement = only(parse(active.assertion), SAML11_ASSERTION_NS, 'AuthenticationStatement');
    assert.equal(statement.getAttribute('AuthenticationMethod'), 'urn:oasis:names:tc:SAML:1.0:am:password');
    assert.deepEqual([active.tokenType, active.appliesTo, active.notBefore, active.notOnOrAfter], ['saml11', M365_REALM, NOW, NOW + 3_600_000]);
    assert.equal(active.assertionId, only(parse(active.assertion), SAML11_ASSERTION_NS, 'Assertion').getAttribute('AssertionID'));
  });

  test('a Windows (Kerberos) sign-in: AuthenticationMethod and authnmethodsreferences windows, inside the corporate network', () => {
    const s = session(ALICE, { authnInstant: NOW });
    const passive = idp.answer(idp.trust({ realm: M365_REALM }), { ...s, record: { ...s.record, authnMethod: 'windows' } }, '203.0.113.5');
    const wresult = passive.action === 'post' ? passive.fields.wresult! : '';
    const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(wresult)![0];
    const active = idp.issue(M365_REALM, { principal: ALICE, authnInstant: NOW, clientIp: '203.0.113.5', method: 'windows' });
    for (const token of [assertion, active.assertion]) {
      const claims = claimsOf(token);
      assert.equal(claims.get('http://schemas.microsoft.com/claims/authnmethodsreferences')?.[0], 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/windows');
      assert.equal(claims.get('http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork')?.[0], 'true');
      assert.equal(only(parse(token), SAML11_ASSERTION_NS, 'AuthenticationStatement').getAttribute('AuthenticationMethod'), 'urn:federation:authentication:windows');
    }
  });

  test('from the corporate network, insidecorporatenetwork is true, as for the browser', () => {
    const active = idp.issue(M365_REALM, { principal: ALICE, authnInstant: NOW, clientIp: '10.1.2.3' });
    assert.equal(claimsOf(active.assertion).get('http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork')?.[0], 'true');
  });

  test('a SAML 2.0 token when asked; an unknown realm refused', () => {
    const token = idp.issue('urn:app:rich', { principal: ALICE, authnInstant: NOW, clientIp: '203.0.113.5', tokenType: 'saml2' });
    assert.equal(token.tokenType, 'saml2');
    assert.match(token.assertion, /^<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/);
    assert.throws(() => idp.issue('urn:nobody', { principal: ALICE, authnInstant: NOW, clientIp: '' }), WsfedError);
  });

  test('the RSTR around it: the assertion byte for byte, one TokenType (MSAL finds both by regular expression)', () => {
    const token = idp.issue(M365_REALM, { principal: ALICE, authnInstant: NOW, clientIp: '203.0.113.5' });
    for (const version of ['13', '2005'] as const) {
      const xml = buildIssueResponse({ soap: '1.2', version, relatesTo: 'urn:uuid:9', now: NOW, token });
      assert.equal(xml.split(token.assertion).length, 2, 'the signed bytes appear once, unchanged');
      assert.equal([...xml.matchAll(/<(?:\w+:)?TokenType[\s>]/g)].length, 1);
      assert.equal([...xml.matchAll(/<(?:\w+:)?RequestedSecurityToken[\s>]/g)].length, 1);
      const doc = parse(xml);
      const rstr = only(doc, WS_TRUST_NS[version], 'RequestSecurityTokenResponse');
      assert.equal(rstr.parentNode?.localName, version === '13' ? 'RequestSecurityTokenResponseCollection' : 'Body');
    }
  });
});
