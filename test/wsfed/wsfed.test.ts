/**
 * WS-Federation passive sign-in and sign-out, with Microsoft 365 configured as Entra ID sees it:
 * tokens proven by an independent validator (saml20, given the certificate from our metadata) and by
 * xmlsec1, the RSTR and assertion checked against the shape AD FS emits.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/directory/demo.js';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import { xmlsec1Verify } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { readWsfedPost, validateWithSaml20 } from '../helpers/wsfed.js';

const M365 = 'urn:federation:MicrosoftOnline';
const LOGIN_SRF = 'https://login.microsoftonline.test/login.srf';
const APP = 'urn:app:wsfed';
const APP_REPLY = 'https://app.example.test/wsfed';
const PASSWORD = 'Ws-Fed-Passw0rd!';

/** Demo users for every domain case: federated, a subdomain of one, another federated domain, not federated. */
async function usersFile(dir: string): Promise<string> {
  const hash = await hashPassword(PASSWORD);
  const user = (upn: string, guid: string, consistencyGuid?: string) => ({
    userPrincipalName: upn,
    sAMAccountName: upn.split('@')[0]!.replace(/\./g, '-'),
    passwordHash: hash,
    objectGuid: guid,
    ...(consistencyGuid ? { consistencyGuid } : {}),
    mail: upn,
    displayName: upn,
  });
  const file = join(dir, 'wsfed-users.yaml');
  writeFileSync(
    file,
    stringify({
      users: [
        user('ann@contoso.test', '71c80224-5371-4d8e-a9aa-9cb365699f12', '0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60'),
        user('sam@sales.contoso.test', '11111111-2222-4333-8444-555555555555'),
        user('fay@fabrikam.test', '21111111-2222-4333-8444-555555555555'),
        user('olly@unfederated.test', '31111111-2222-4333-8444-555555555555'),
      ],
    }),
  );
  return file;
}

async function signIn(agent: request.Agent, location: string, username: string) {
  const form = await agent.get(location).expect(200);
  const pending = /name="pending" value="([^"]+)"/.exec(form.text)?.[1];
  const posted = await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username, password: PASSWORD, pending });
  assert.equal(posted.status, 303, posted.text.slice(0, 200));
  return agent.get(posted.headers.location!);
}

const signInQuery = (realm: string, extra = '') => `/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(realm)}${extra}`;

describe('WS-Federation with Microsoft 365 (one domain)', () => {
  let server: TestServer;
  let certificateBase64: string;
  let certPem: string;

  before(async () => {
    const file = await usersFile(mkdtempSync(join(tmpdir(), 'openfed-wsfed-')));
    server = await startTestServer({
      server: { baseUrl: 'http://sts.contoso.test', trustedProxies: [] },
      directory: { demo: { usersFile: file } },
      microsoft365: { enabled: true, domains: ['contoso.test'], replyUrl: LOGIN_SRF, internalNetworks: ['127.0.0.0/8'] },
      wsfedRelyingParties: [
        { realm: APP, replyUrls: [APP_REPLY, `${APP_REPLY}/alt`], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] },
        { realm: 'urn:app:saml2-token', replyUrls: ['https://app2.example.test/'], tokenType: 'saml2' },
      ],
    });
    // Configured like Entra ID: the token-signing certificate comes from our FederationMetadata.xml.
    const metadata = await (await fetch(`${server.url}/federationmetadata/2007-06/federationmetadata.xml`)).text();
    const sts = /<(?:\w+:)?RoleDescriptor[^>]*SecurityTokenServiceType[\s\S]*?<\/(?:\w+:)?RoleDescriptor>/.exec(metadata)?.[0] ?? '';
    certificateBase64 = /<(?:\w+:)?X509Certificate>([^<]+)</.exec(sts)?.[1]?.replace(/\s+/g, '') ?? '';
    const thumbprint = createHash('sha1').update(Buffer.from(certificateBase64, 'base64')).digest('hex').toUpperCase();
    assert.equal(thumbprint, server.deps.keys.primary.thumbprint, 'the metadata publishes the signing certificate');
    certPem = server.deps.keys.primary.certificate.toString();
  });
  after(() => server?.stop());

  test('Entra-style sign-in: no wreply, wctx and username; the token is what AD FS issues to Entra ID', async () => {
    const wctx = 'LoginOptions=3&estsredirect=2&estsrequest=rQIIAcVSPW/TQBi+OIn7IaBVB8TYoRMi9t35fLYj&x="<\'>';
    const agent = request.agent(server.url);
    const first = await agent.get(signInQuery(M365, `&wctx=${encodeURIComponent(wctx)}&username=ann%40contoso.test&cbcxt=&mkt=&lc=`));
    assert.equal(first.status, 303);
    assert.match(first.headers.location!, /username=ann%40contoso\.test/);
    const form = await agent.get(first.headers.location!);
    assert.match(form.text, /value="ann@contoso\.test"/, 'the username Entra sends pre-fills the form');
    const signedInAt = Date.now();
    const page = await signIn(agent, first.headers.location!, 'ann@contoso.test');
    const post = readWsfedPost(page.text);
    assert.equal(post.action, LOGIN_SRF, 'Entra sends no wreply: the configured reply URL');
    assert.equal(post.wa, 'wsignin1.0');
    assert.equal(post.wctx, wctx, 'wctx comes back byte for byte');

    const profile = await validateWithSaml20(post.assertion, { certificateBase64, audience: M365 });
    const principal = (await server.deps.directory.findPrincipal('ann@contoso.test'))!;
    const immutableId = microsoft365ImmutableId(principal, 'auto')!;
    assert.equal(immutableId, principal.consistencyGuid!.toString('base64'), 'ms-DS-ConsistencyGuid wins when set');
    // saml20 never reports the SAML 1.1 NameIdentifier (it looks under a misspelt "AttributeStament"),
    // so read it from the assertion whose signature it just checked.
    assert.equal(/<saml:NameIdentifier [^>]*>([^<]+)</.exec(post.assertion)?.[1], immutableId);
    assert.equal(profile.claims['http://schemas.xmlsoap.org/claims/UPN'], 'ann@contoso.test');
    assert.equal(profile.claims['http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID'], immutableId);
    assert.equal(profile.claims['http://schemas.microsoft.com/ws/2012/01/insidecorporatenetwork'], 'true');
    assert.equal(profile.claims['http://schemas.microsoft.com/claims/authnmethodsreferences'], 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password');
    assert.equal(profile.claims['http://schemas.microsoft.com/2014/03/psso'], undefined, 'no psso without keep-me-signed-in');
    assert.equal(profile.issuer, 'http://sts.contoso.test/adfs/services/trust');

    const verified = xmlsec1Verify(post.assertion, certPem, 'urn:oasis:names:tc:SAML:1.0:assertion:Assertion', 'AssertionID');
    assert.ok(verified.ok, verified.output);

    // Shape, as AD FS emits it for Microsoft 365.
    const r = post.wresult;
    assert.match(r, /^<t:RequestSecurityTokenResponse xmlns:t="http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/02\/trust"><t:Lifetime><wsu:Created [^>]+>[^<]+<\/wsu:Created><wsu:Expires [^>]+>[^<]+<\/wsu:Expires><\/t:Lifetime>/);
    assert.match(r, /<wsp:AppliesTo xmlns:wsp="http:\/\/schemas\.xmlsoap\.org\/ws\/2004\/09\/policy"><wsa:EndpointReference xmlns:wsa="http:\/\/www\.w3\.org\/2005\/08\/addressing"><wsa:Address>urn:federation:MicrosoftOnline<\/wsa:Address>/);
    assert.match(r, /<t:TokenType>urn:oasis:names:tc:SAML:1\.0:assertion<\/t:TokenType><t:RequestType>http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/02\/trust\/Issue<\/t:RequestType><t:KeyType>http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/05\/identity\/NoProofKey<\/t:KeyType><\/t:RequestSecurityTokenResponse>$/);
    const a = post.assertion;
    // Attributes in exclusive-canonical order: the assertion is emitted as its own canonical form.
    assert.match(a, /^<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1\.0:assertion" AssertionID="_[0-9a-f]{32}" IssueInstant="[^"]+" Issuer="http:\/\/sts\.contoso\.test\/adfs\/services\/trust" MajorVersion="1" MinorVersion="1">/);
    assert.match(a, /<saml:NameIdentifier Format="urn:oasis:names:tc:SAML:1\.1:nameid-format:unspecified">/);
    assert.match(a, /<saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1\.0:cm:bearer<\/saml:ConfirmationMethod>/);
    assert.match(a, /<saml:Attribute AttributeName="UPN" AttributeNamespace="http:\/\/schemas\.xmlsoap\.org\/claims">/);
    assert.match(a, /<saml:Attribute AttributeName="ImmutableID" AttributeNamespace="http:\/\/schemas\.microsoft\.com\/LiveID\/Federation\/2008\/05">/);
    assert.match(a, /b:type="tn:boolean">true<\/saml:AttributeValue>/);
    assert.match(a, /<saml:AuthenticationStatement AuthenticationInstant="([^"]+)" AuthenticationMethod="urn:oasis:names:tc:SAML:2\.0:ac:classes:PasswordProtectedTransport">/);
    const authnInstant = Date.parse(/AuthenticationInstant="([^"]+)"/.exec(a)![1]!);
    assert.ok(Math.abs(authnInstant - signedInAt) < 5000, 'the real sign-in time');
    assert.match(a, /<ds:Signature[\s\S]*<\/ds:Signature><\/saml:Assertion>$/, 'the signature is the last child, as SAML 1.1 and AD FS have it');
    assert.match(a, /rsa-sha256/);
    const notBefore = Date.parse(/NotBefore="([^"]+)"/.exec(a)![1]!);
    const notOnOrAfter = Date.parse(/NotOnOrAfter="([^"]+)"/.exec(a)![1]!);
    assert.ok(Math.abs(notOnOrAfter - notBefore - 61 * 60_000) < 2000, 'one hour (plus the skew allowance)');
  });

  test('a tampered token is refused by the relying party', async () => {
    const agent = request.agent(server.url);
    const first = await agent.get(signInQuery(M365));
    const post = readWsfedPost((await signIn(agent, first.headers.location!, 'ann@contoso.test')).text);
    const tampered = post.assertion.replace('ann@contoso.test', 'eve@contoso.test');
    await assert.rejects(validateWithSaml20(tampered, { certificateBase64, audience: M365 }));
    await assert.rejects(validateWithSaml20(post.assertion, { certificateBase64, audience: 'urn:someone:else' }));
  });

  test('single sign-on: the next request answers without a prompt; wfresh=0 asks for the password again', async () => {
    const agent = request.agent(server.url);
    await signIn(agent, (await agent.get(signInQuery(APP))).headers.location!, 'ann@contoso.test');
    const again = await agent.get(signInQuery(M365)).expect(200);
    assert.equal(readWsfedPost(again.text).action, LOGIN_SRF);
    const fresh = await agent.get(signInQuery(M365, '&wfresh=0&wauth=http%3A%2F%2Fschemas.microsoft.com%2Fws%2F2008%2F06%2Fidentity%2Fauthenticationmethod%2Fpassword'));
    assert.equal(fresh.status, 303);
    assert.match(fresh.headers.location!, /^\/signin\?pending=/);
    const page = await signIn(agent, fresh.headers.location!, 'ann@contoso.test');
    assert.equal(readWsfedPost(page.text).action, LOGIN_SRF);
  });

  test('a registered wreply is honoured; a generic RP gets its configured claims; SAML 2.0 tokens for RPs that ask', async () => {
    const agent = request.agent(server.url);
    const first = await agent.get(signInQuery(APP, `&wreply=${encodeURIComponent(`${APP_REPLY}/alt`)}`));
    const post = readWsfedPost((await signIn(agent, first.headers.location!, 'ann@contoso.test')).text);
    assert.equal(post.action, `${APP_REPLY}/alt`);
    const profile = await validateWithSaml20(post.assertion, { certificateBase64, audience: APP });
    assert.equal(profile.claims['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'], 'ann@contoso.test');
    const saml2 = readWsfedPost((await agent.get(signInQuery('urn:app:saml2-token')).expect(200)).text);
    assert.match(saml2.wresult, /<t:TokenType>urn:oasis:names:tc:SAML:2\.0:assertion<\/t:TokenType>/);
    assert.match(saml2.assertion, /^<Assertion xmlns="urn:oasis:names:tc:SAML:2\.0:assertion"/);
    const checked = xmlsec1Verify(saml2.assertion, certPem, 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion');
    assert.ok(checked.ok, checked.output);
  });

  const refusals: Array<[string, string, RegExp]> = [
    ['unknown wtrealm', signInQuery('urn:not:registered'), /not registered with this sign-in service/],
    ['wreply not registered for the realm', signInQuery(APP, `&wreply=${encodeURIComponent('https://evil.example/steal')}`), /not registered for it/],
    ['wreply of another realm', signInQuery(M365, `&wreply=${encodeURIComponent(APP_REPLY)}`), /not registered for it/],
    ['missing wtrealm', '/adfs/ls/?wa=wsignin1.0', /cannot read/],
    ['unknown wa', '/adfs/ls/?wa=wsignin9.9&wtrealm=urn%3Afederation%3AMicrosoftOnline', /cannot read/],
    ['missing wa', '/adfs/ls/?wtrealm=urn%3Afederation%3AMicrosoftOnline', /Bad request/],
    ['repeated wtrealm', `${signInQuery(M365)}&wtrealm=x`, /cannot read/],
    ['non-numeric wfresh', signInQuery(M365, '&wfresh=soon'), /cannot read/],
  ];
  for (const [what, path, message] of refusals) {
    test(`refused with a clear 4xx page: ${what}`, async () => {
      const res = await request(server.url).get(path);
      assert.ok(res.status >= 400 && res.status < 500, `${res.status}`);
      assert.match(res.text, message);
      assert.match(res.text, /id="reference">[0-9a-f-]{36}</);
      assert.doesNotMatch(res.text, /wresult|id="post-binding"/);
    });
  }

  test('refused with a clear 4xx page: oversized wctx (POSTed, as it would not fit in a URL)', async () => {
    const res = await request(server.url).post('/adfs/ls/').type('form').send({ wa: 'wsignin1.0', wtrealm: M365, wctx: 'x'.repeat(20_000) });
    assert.equal(res.status, 400);
    assert.match(res.text, /cannot read/);
  });

  test('wsignout1.0 ends the session, cleans up every WS-Fed RP, and offers only a registered wreply', async () => {
    const agent = request.agent(server.url);
    await signIn(agent, (await agent.get(signInQuery(M365))).headers.location!, 'ann@contoso.test');
    await agent.get(signInQuery(APP)).expect(200);
    const out = await agent.get(`/adfs/ls/?wa=wsignout1.0&wtrealm=${encodeURIComponent(APP)}&wreply=${encodeURIComponent(APP_REPLY)}`).expect(200);
    assert.match(out.text, /You have signed out/);
    const images = [...out.text.matchAll(/<img class="cleanup" src="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
    assert.deepEqual(images.sort(), [`${APP_REPLY}?wa=wsignoutcleanup1.0`, `${LOGIN_SRF}?wa=wsignoutcleanup1.0`].sort());
    assert.match(out.headers['content-security-policy'] ?? '', /img-src 'self' https:\/\/(login\.microsoftonline|app\.example)\.test https:\/\/(login\.microsoftonline|app\.example)\.test/);
    assert.match(out.text, new RegExp(`id="return" href="${APP_REPLY}"`));
    const after = await agent.get(signInQuery(M365));
    assert.equal(after.status, 303, 'signed out: the next request needs the password');

    const foreign = await request(server.url).get(`/adfs/ls/?wa=wsignout1.0&wtrealm=${encodeURIComponent(APP)}&wreply=${encodeURIComponent('https://evil.example/')}`).expect(200);
    assert.doesNotMatch(foreign.text, /evil\.example/);
  });
});

describe('Microsoft 365 with several federated domains', () => {
  let server: TestServer;

  before(async () => {
    const file = await usersFile(mkdtempSync(join(tmpdir(), 'openfed-wsfed-')));
    server = await startTestServer({
      server: { baseUrl: 'http://sts.contoso.test' },
      directory: { demo: { usersFile: file } },
      microsoft365: { enabled: true, domains: ['contoso.test', 'fabrikam.test'], supportMultipleDomain: true, replyUrl: LOGIN_SRF },
    });
  });
  after(() => server?.stop());

  const issuerFor = async (username: string) => {
    const agent = request.agent(server.url);
    const page = await signIn(agent, (await agent.get(signInQuery(M365))).headers.location!, username);
    return page.status === 200 && /id="post-binding"/.test(page.text)
      ? { issuer: / Issuer="([^"]+)"/.exec(readWsfedPost(page.text).assertion)![1], page }
      : { issuer: undefined, page };
  };

  test('each domain has its own issuer; a subdomain uses its parent\'s', async () => {
    assert.equal((await issuerFor('ann@contoso.test')).issuer, 'http://contoso.test/adfs/services/trust/');
    assert.equal((await issuerFor('fay@fabrikam.test')).issuer, 'http://fabrikam.test/adfs/services/trust/');
    assert.equal((await issuerFor('sam@sales.contoso.test')).issuer, 'http://contoso.test/adfs/services/trust/');
  });

  test('a user whose domain is not federated gets a clear page, not a token Entra would reject', async () => {
    const { issuer, page } = await issuerFor('olly@unfederated.test');
    assert.equal(issuer, undefined);
    assert.equal(page.status, 403);
    assert.match(page.text, /not federated with Microsoft 365/);
  });

  test('objectGUID is the ImmutableID when no ms-DS-ConsistencyGuid is set, and either can be forced', async () => {
    const sam = (await server.deps.directory.findPrincipal('sam@sales.contoso.test'))!;
    assert.equal(microsoft365ImmutableId(sam, 'auto'), sam.objectGuid.toString('base64'));
    assert.equal(microsoft365ImmutableId(sam, 'consistencyGuid'), undefined);
    const ann = (await server.deps.directory.findPrincipal('ann@contoso.test'))!;
    assert.equal(microsoft365ImmutableId(ann, 'objectGuid'), 'JALIcXFTjk2pqpyzZWmfEg==');
  });
});
