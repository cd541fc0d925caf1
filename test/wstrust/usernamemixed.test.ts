/**
 * WS-Trust usernamemixed for rich clients, driven by Microsoft's own client (python3-msal reads our
 * MEX, sends its RST, parses our RSTR) and checked by independent verifiers (xmlsec1 and saml20 with
 * the certificate from our metadata), then every refusal: each a SOAP fault with the right code,
 * subcode and HTTP status — never a page, never a stack trace.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import { hashPassword } from '../../src/directory/demo.js';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { ISSUE_ACTION, WS_TRUST_NS, WSSE_NS, WSA_NS, type WsTrustVersion } from '../../src/protocols/wstrust/constants.js';
import { xmlsec1Verify } from '../helpers/saml.js';
import { validateWithSaml20 } from '../helpers/wsfed.js';
import { buildRst, M365_REALM, msalSignIn, postSoap, readFault, startWsTrustServer, type WsTrustServer } from '../helpers/wstrust.js';

const PASSWORD = 'Rich-Client-Passw0rd!';
const APP = 'urn:app:wsfed-rich';

async function usersFile(dir: string): Promise<string> {
  const hash = await hashPassword(PASSWORD);
  const file = join(dir, 'users.yaml');
  writeFileSync(
    file,
    stringify({
      users: [
        { userPrincipalName: 'ann@contoso.test', sAMAccountName: 'ann', passwordHash: hash, objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12', mail: 'ann@contoso.test', displayName: 'Ann' },
        { userPrincipalName: 'olly@unfederated.test', sAMAccountName: 'olly', passwordHash: hash, objectGuid: '31111111-2222-4333-8444-555555555555' },
      ],
    }),
  );
  return file;
}

describe('WS-Trust usernamemixed with Microsoft\'s client (python3-msal)', () => {
  let server: WsTrustServer;
  let audit: MemoryAuditLog;
  let certificateBase64: string;
  let certPem: string;

  before(async () => {
    const file = await usersFile(mkdtempSync(join(tmpdir(), 'openfed-wstrust-')));
    audit = new MemoryAuditLog();
    server = await startWsTrustServer({
      directory: { demo: { usersFile: file } },
      microsoft365: { enabled: true, domains: ['contoso.test'], replyUrl: 'https://login.microsoftonline.test/login.srf' },
      wsfedRelyingParties: [{ realm: APP, replyUrls: ['https://app.example.test/wsfed'], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] }],
      lockout: { mode: 'enforce', threshold: 3 },
    }, { audit });
    // As Entra ID would: the certificate comes from our FederationMetadata.xml.
    const metadata = (await postSoap(`${server.base}/FederationMetadata/2007-06/FederationMetadata.xml`, '', { ca: server.ca, method: 'GET' })).body;
    const sts = /<(?:\w+:)?RoleDescriptor[^>]*SecurityTokenServiceType[\s\S]*?<\/(?:\w+:)?RoleDescriptor>/.exec(metadata)?.[0] ?? '';
    certificateBase64 = /<(?:\w+:)?X509Certificate>([^<]+)</.exec(sts)?.[1]?.replace(/\s+/g, '') ?? '';
    assert.ok(certificateBase64, 'metadata publishes the signing certificate');
    certPem = `-----BEGIN CERTIFICATE-----\n${certificateBase64.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  });
  after(() => server?.stop());

  for (const version of ['13', '2005'] as const) {
    test(`MSAL signs in over WS-Trust ${version}: the token is the one the passive flow gives Microsoft 365`, async () => {
      const result = await msalSignIn({ mexUrl: `${server.base}/adfs/services/trust/mex`, caFile: server.caFile, username: 'ann@contoso.test', password: PASSWORD, version });
      assert.ok(result.ok, result.ok ? '' : result.error);
      assert.equal(result.endpoint.address, server.address(version));
      assert.equal(result.type, 'urn:oasis:names:tc:SAML:1.0:assertion');
      const token = result.token;
      // The bytes MSAL hands to Entra ID verify as they are, against the certificate Entra has.
      const verified = xmlsec1Verify(token, certPem, 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion', 'AssertionID');
      assert.ok(verified.ok, verified.output);
      const profile = await validateWithSaml20(token, { certificateBase64, audience: M365_REALM });
      const ann = await server.deps.directory.findPrincipal('ann@contoso.test');
      const immutableId = microsoft365ImmutableId(ann!, 'auto')!;
      assert.equal(profile.claims['http://schemas.xmlsoap.org/claims/UPN'], 'ann@contoso.test');
      assert.equal(profile.claims['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'], immutableId);
      assert.equal(profile.claims['http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork'], 'false');
      assert.equal(profile.claims['http://schemas.microsoft.com/claims/authnmethodsreferences'], 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password');
      assert.match(token, /AuthenticationMethod="urn:oasis:names:tc:SAML:1\.0:am:password"/);
      assert.match(token, new RegExp(`<saml:NameIdentifier Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${immutableId.replace(/[+/]/g, '\\$&')}</saml:NameIdentifier>`));
      assert.match(token, /Issuer="http:\/\/localhost\/adfs\/services\/trust"/);
    });
  }

  test('the RSTR: version namespace, Collection for 1.3, lifetime, AppliesTo, references, bearer, RelatesTo', async () => {
    for (const version of ['13', '2005'] as const) {
      const reply = await postSoap(server.address(version), buildRst({ version, to: server.address(version), username: 'ann@contoso.test', password: PASSWORD, messageId: 'urn:uuid:abc' }), { ca: server.ca, soapAction: ISSUE_ACTION[version] });
      assert.equal(reply.status, 200, reply.body.slice(0, 500));
      assert.equal(reply.headers['content-type'], 'application/soap+xml; charset=utf-8');
      const t = WS_TRUST_NS[version];
      assert.match(reply.body, /<a:RelatesTo>urn:uuid:abc<\/a:RelatesTo>/);
      if (version === '13') {
        assert.match(reply.body, new RegExp(`<t:RequestSecurityTokenResponseCollection xmlns:t="${t}"><t:RequestSecurityTokenResponse>`));
        assert.match(reply.body, /RSTRC\/IssueFinal<\/a:Action>/);
        assert.match(reply.body, /<t:KeyType>http:\/\/docs\.oasis-open\.org\/ws-sx\/ws-trust\/200512\/Bearer<\/t:KeyType>/);
      } else {
        assert.match(reply.body, new RegExp(`<t:RequestSecurityTokenResponse xmlns:t="${t}">`));
        assert.match(reply.body, /\/trust\/RSTR\/Issue<\/a:Action>/);
        assert.match(reply.body, /<t:KeyType>http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/05\/identity\/NoProofKey<\/t:KeyType>/);
      }
      const id = /AssertionID="([^"]+)"/.exec(reply.body)![1]!;
      assert.equal(reply.body.split(`#SAMLAssertionID">${id}</o:KeyIdentifier>`).length - 1, 2, 'attached and unattached references name the assertion');
      assert.match(reply.body, /<wsa:Address>urn:federation:MicrosoftOnline<\/wsa:Address>/);
      const [created, expires] = [...reply.body.matchAll(/<t:Lifetime><u:Created>([^<]+)<\/u:Created><u:Expires>([^<]+)</g)][0]!.slice(1);
      assert.equal(Date.parse(expires!) - Date.parse(created!), 60 * 60_000, 'Microsoft 365 tokens live an hour');
    }
  });

  test('any registered WS-Fed relying party, with its own claims; a SAML 2.0 token when asked', async () => {
    const version = '13';
    const reply = await postSoap(server.address(version), buildRst({ version, to: server.address(version), username: 'ann', password: PASSWORD, appliesTo: APP }), { ca: server.ca });
    assert.equal(reply.status, 200, reply.body.slice(0, 500));
    const token = /<t:RequestedSecurityToken>([\s\S]*)<\/t:RequestedSecurityToken>/.exec(reply.body)![1]!;
    const profile = await validateWithSaml20(token, { certificateBase64, audience: APP });
    assert.equal(profile.claims['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'], 'ann@contoso.test');

    const saml2 = await postSoap(
      server.address(version),
      buildRst({ version, to: server.address(version), username: 'ann', password: PASSWORD, appliesTo: APP, tokenType: 'urn:oasis:names:tc:SAML:2.0:assertion' }),
      { ca: server.ca },
    );
    assert.equal(saml2.status, 200, saml2.body.slice(0, 500));
    assert.match(saml2.body, /<t:TokenType>urn:oasis:names:tc:SAML:2\.0:assertion<\/t:TokenType>/);
    assert.match(saml2.body, /#SAMLID">_/);
    const assertion = /<t:RequestedSecurityToken>([\s\S]*)<\/t:RequestedSecurityToken>/.exec(saml2.body)![1]!;
    assert.ok(xmlsec1Verify(assertion, certPem, 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion').ok);
  });

  test('audited as AD FS does: credentials validated (1202, endpoint wstrust) and token issued (1200)', async () => {
    const from = audit.events.length;
    const version = '2005';
    const reply = await postSoap(server.address(version), buildRst({ version, to: server.address(version), username: 'ann@contoso.test', password: PASSWORD }), { ca: server.ca });
    assert.equal(reply.status, 200);
    const events = audit.events.slice(from);
    assert.deepEqual(
      events.map((e) => [e.type, 'endpoint' in e ? e.endpoint : 'protocol' in e ? e.protocol : '']),
      [['signin.succeeded', 'wstrust'], ['token.issued', 'wstrust']],
    );
    assert.ok(!JSON.stringify(events).includes(PASSWORD), 'no password in the audit trail');
  });

  describe('refusals are SOAP faults', () => {
    const version: WsTrustVersion = '13';
    const rst = (o: Partial<Parameters<typeof buildRst>[0]> = {}) =>
      buildRst({ version, to: server.address(version), username: 'ann@contoso.test', password: PASSWORD, ...o });
    const send = (body: string, options: Partial<Parameters<typeof postSoap>[2]> = {}, url = server.address(version)) => postSoap(url, body, { ca: server.ca, ...options });

    const cases: Array<{ name: string; body: () => string; options?: Partial<Parameters<typeof postSoap>[2]>; url?: () => string; status: number; code: string; subcode: string; subcodeNs: string; reason?: RegExp }> = [
      { name: 'wrong password', body: () => rst({ password: 'wrong' }), status: 400, code: 's:Sender', subcode: 'wst:FailedAuthentication', subcodeNs: WS_TRUST_NS['13'], reason: /Incorrect user ID or password/ },
      { name: 'unknown user reads the same', body: () => rst({ username: 'nobody@contoso.test' }), status: 400, code: 's:Sender', subcode: 'wst:FailedAuthentication', subcodeNs: WS_TRUST_NS['13'], reason: /Incorrect user ID or password/ },
      { name: 'empty password', body: () => rst({ password: '' }), status: 400, code: 's:Sender', subcode: 'wst:FailedAuthentication', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'wsa:To another endpoint', body: () => rst({ to: 'https://evil.example/adfs/services/trust/13/usernamemixed' }), status: 400, code: 's:Sender', subcode: 'wsa:DestinationUnreachable', subcodeNs: WSA_NS },
      { name: 'wsa:To the other version', body: () => rst({ to: server.address('2005') }), status: 400, code: 's:Sender', subcode: 'wsa:DestinationUnreachable', subcodeNs: WSA_NS },
      { name: 'unknown relying party', body: () => rst({ appliesTo: 'urn:nobody' }), status: 400, code: 's:Sender', subcode: 'wst:InvalidScope', subcodeNs: WS_TRUST_NS['13'] },
      {
        name: 'expired timestamp',
        body: () => rst({ timestamp: { created: new Date(Date.now() - 3_600_000).toISOString(), expires: new Date(Date.now() - 3_000_000).toISOString() } }),
        status: 400, code: 's:Sender', subcode: 'wsse:MessageExpired', subcodeNs: WSSE_NS,
      },
      {
        name: 'timestamp from the future',
        body: () => rst({ timestamp: { created: new Date(Date.now() + 3_600_000).toISOString() } }),
        status: 400, code: 's:Sender', subcode: 'wsse:MessageExpired', subcodeNs: WSSE_NS,
      },
      { name: 'a 2005 request at the 1.3 endpoint', body: () => buildRst({ version: '2005', to: server.address(version), username: 'ann', password: PASSWORD }), status: 400, code: 's:Sender', subcode: 'wsa:ActionNotSupported', subcodeNs: WSA_NS },
      { name: 'wrong wsa:Action', body: () => rst({ action: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Cancel' }), status: 400, code: 's:Sender', subcode: 'wsa:ActionNotSupported', subcodeNs: WSA_NS },
      { name: 'SOAPAction differs from wsa:Action', body: () => rst(), options: { soapAction: ISSUE_ACTION['2005'] }, status: 400, code: 's:Sender', subcode: 'wsa:ActionMismatch', subcodeNs: WSA_NS },
      { name: 'proof-key request', body: () => rst({ keyType: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey' }), status: 400, code: 's:Sender', subcode: 'wst:BadRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'unknown header marked mustUnderstand', body: () => rst({ extraHeader: "<x:Odd xmlns:x='urn:odd' s:mustUnderstand='1'/>" }), status: 500, code: 's:MustUnderstand', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'a DTD', body: () => `<!DOCTYPE x [<!ENTITY a "b">]>${rst()}`, status: 400, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'two roots', body: () => `${rst()}${rst()}`, status: 400, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'not XML', body: () => 'password=secret', status: 400, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'empty request', body: () => '', status: 400, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'not a SOAP envelope', body: () => '<a/>', status: 500, code: 's:VersionMismatch', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'a SOAP 1.1 envelope sent as SOAP 1.2', body: () => rst({ soap: '1.1' }), status: 500, code: 's:VersionMismatch', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'too large', body: () => rst({ extraHeader: `<x:Pad xmlns:x='urn:pad'>${'a'.repeat(70_000)}</x:Pad>` }), status: 413, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'a form post', body: () => 'a=b', options: { contentType: 'application/x-www-form-urlencoded' }, status: 415, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
      { name: 'GET', body: () => '', options: { method: 'GET' }, status: 405, code: 's:Sender', subcode: 'wst:InvalidRequest', subcodeNs: WS_TRUST_NS['13'] },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const reply = await send(c.body(), c.options, c.url?.());
        assert.equal(reply.status, c.status, reply.body.slice(0, 400));
        assert.equal(reply.headers['content-type'], 'application/soap+xml; charset=utf-8');
        const fault = readFault(reply.body);
        assert.deepEqual([fault.code, fault.subcode, fault.subcodeNs], [c.code, c.subcode, c.subcodeNs]);
        assert.ok(fault.reason.length > 0);
        if (c.reason) assert.match(fault.reason, c.reason);
        assert.doesNotMatch(reply.body, /at \w+ \(|node_modules|Error:/, 'no stack trace');
        assert.ok(!reply.body.includes(PASSWORD));
      });
    }

    test('SOAP 1.1 (text/xml): answered in SOAP 1.1, faults with 500 and the subcode as faultcode', async () => {
      const ok = await send(rst({ soap: '1.1' }), { contentType: 'text/xml; charset=utf-8', soapAction: `"${ISSUE_ACTION[version]}"` });
      assert.equal(ok.status, 200, ok.body.slice(0, 400));
      assert.equal(ok.headers['content-type'], 'text/xml; charset=utf-8');
      assert.match(ok.body, /^<s:Envelope xmlns:s="http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\/"/);
      const bad = await send(rst({ soap: '1.1', password: 'wrong' }), { contentType: 'text/xml' });
      assert.equal(bad.status, 500);
      const fault = readFault(bad.body);
      assert.deepEqual([fault.soap, fault.code, fault.subcodeNs], ['1.1', 'wst:FailedAuthentication', WS_TRUST_NS['13']]);
    });

    test('MSAL reads our fault (Subcode and Reason) as an error, not a crash', async () => {
      const result = await msalSignIn({ mexUrl: `${server.base}/adfs/services/trust/mex`, caFile: server.caFile, username: 'ann@contoso.test', password: 'wrong' });
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.error, /^RuntimeError: .*'reason': 'Incorrect user ID or password.*'code': 'wst:FailedAuthentication'/);
    });

    test('a user whose domain is not federated gets a fault, not a token', async () => {
      const reply = await send(rst({ username: 'olly@unfederated.test' }));
      assert.equal(reply.status, 403, reply.body.slice(0, 300));
      const fault = readFault(reply.body);
      assert.deepEqual([fault.code, fault.subcode], ['s:Sender', 'wst:RequestFailed']);
      assert.match(fault.reason, /not federated/);
    });

    test('refusals are audited (token.refused under wstrust), and wrong passwords as failed sign-ins', async () => {
      const from = audit.events.length;
      await send(rst({ appliesTo: 'urn:nobody' }));
      await send(rst({ password: 'wrong' }));
      const events = audit.events.slice(from).map((e) => `${e.type}:${'protocol' in e ? e.protocol : 'endpoint' in e ? e.endpoint : ''}`);
      assert.deepEqual(events, ['token.refused:wstrust', 'signin.failed:wstrust']);
    });
  });

  test('plain HTTP is refused: a UsernameToken carries the password in clear text', async () => {
    const plain = await startWsTrustServer({ server: { tls: undefined }, microsoft365: { enabled: true, domains: ['contoso.test'] } });
    try {
      const address = plain.address('13').replace('https:', 'http:');
      const reply = await fetch(address, { method: 'POST', headers: { 'Content-Type': 'application/soap+xml' }, body: buildRst({ version: '13', to: plain.address('13'), username: 'demo@openfed.test', password: 'x' }) });
      assert.equal(reply.status, 403);
      const fault = readFault(await reply.text());
      assert.deepEqual([fault.code, fault.subcode], ['s:Sender', 'wsse:InvalidSecurity']);
    } finally {
      await plain.stop();
    }
  });
});
