/**
 * Access control policies through every protocol, on a live OpenFed: a SAML SP the user may not use
 * gets RequestDenied; a WS-Fed RP gets our page (403), never a token; WS-Trust gets a RequestFailed
 * fault that says why — including a policy that requires MFA, which a UsernameToken cannot satisfy
 * (a browser is sent to the second factor instead);
 * the network decides by the request's address (a trusted proxy's X-Forwarded-For); refusals audited.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { stringify } from 'yaml';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { hashPassword } from '../../src/directory/demo.js';
import { craftAuthnRequest, decodeSamlResponse, readPostForm, redirectQuery } from '../helpers/saml.js';
import { csrfFrom } from '../helpers/server.js';
import { buildRst, postSoap, readFault, startWsTrustServer, type WsTrustServer } from '../helpers/wstrust.js';

const PASSWORD = 'Policy-Passw0rd!';
const FINANCE_SP = 'urn:sp:finance';
const FINANCE_ACS = 'https://finance.example.test/acs';
const WIKI = 'urn:wsfed:wiki';
const WIKI_REPLY = 'https://wiki.example.test/wsfed';
const OFFICE = '198.51.100.7';
const HOME = '203.0.113.9';

describe('access control policies over SAML, WS-Federation and WS-Trust', () => {
  let server: WsTrustServer;
  let audit: MemoryAuditLog;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openfed-policy-'));
    const hash = await hashPassword(PASSWORD);
    const file = join(dir, 'users.yaml');
    writeFileSync(
      file,
      stringify({
        users: [
          { userPrincipalName: 'fin@contoso.test', sAMAccountName: 'fin', passwordHash: hash, groups: [{ name: 'Finance' }, { name: 'Contractors' }] },
          { userPrincipalName: 'dev@contoso.test', sAMAccountName: 'dev', passwordHash: hash, groups: [{ name: 'Engineering' }] },
        ],
      }),
    );
    audit = new MemoryAuditLog();
    server = await startWsTrustServer(
      {
        server: { trustedProxies: ['127.0.0.1'] },
        directory: { demo: { usersFile: file } },
        accessControl: {
          intranetNetworks: ['198.51.100.0/24'],
          policies: {
            financeOnly: { template: 'permitSpecificGroup', groups: ['Finance'] },
            noContractors: { template: 'denySpecificGroup', groups: ['contractors'] },
          },
        },
        relyingParties: [{ entityId: FINANCE_SP, assertionConsumerServices: [{ url: FINANCE_ACS }], accessPolicy: 'financeOnly' }],
        wsfedRelyingParties: [{ realm: WIKI, replyUrls: [WIKI_REPLY], accessPolicy: 'noContractors' }],
        microsoft365: { enabled: true, domains: ['contoso.test'], accessPolicy: 'permitEveryoneAndRequireMfaFromExtranet' },
      },
      { audit },
    );
  });
  after(() => server?.stop());

  async function signedIn(username: string, from: string) {
    const agent = request.agent(server.base).ca(server.ca);
    const form = await agent.get('/signin').set('X-Forwarded-For', from).expect(200);
    await agent.post('/signin').set('X-Forwarded-For', from).type('form').send({ _csrf: csrfFrom(form.text), username, password: PASSWORD }).expect(303);
    return agent;
  }

  test('SAML: a user outside the permitted group gets RequestDenied at the SP; a member gets a token', async () => {
    for (const [user, status] of [
      ['dev@contoso.test', 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied'],
      ['fin@contoso.test', 'urn:oasis:names:tc:SAML:2.0:status:Success'],
    ] as const) {
      const agent = await signedIn(user, OFFICE);
      const { xml } = craftAuthnRequest({ issuer: FINANCE_SP, acsUrl: FINANCE_ACS });
      const page = await agent.get(`/adfs/ls/?${redirectQuery(xml)}`).set('X-Forwarded-For', OFFICE).expect(200);
      const { action, fields } = readPostForm(page.text);
      assert.equal(action, FINANCE_ACS);
      const response = decodeSamlResponse(fields.SAMLResponse!);
      assert.ok(response.includes(`Value="${status}"`), `${user}: ${response.slice(0, 400)}`);
      if (status.endsWith('RequestDenied')) {
        assert.doesNotMatch(response, /<(\w+:)?Assertion/, 'no assertion');
        assert.match(response, /status:Responder/);
      }
    }
    assert.ok(audit.events.some((e) => e.type === 'token.refused' && e.protocol === 'saml2' && e.reason === 'access_denied'));
  });

  test('WS-Fed: a denied group gets our page, 403, and no token; others get theirs', async () => {
    const fin = await signedIn('fin@contoso.test', OFFICE);
    const refused = await fin.get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(WIKI)}`).set('X-Forwarded-For', OFFICE);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /not allowed to sign in to this application/);
    assert.doesNotMatch(refused.text, /wresult/);
    const dev = await signedIn('dev@contoso.test', OFFICE);
    const ok = await dev.get(`/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(WIKI)}`).set('X-Forwarded-For', OFFICE);
    assert.equal(ok.status, 200);
    assert.match(ok.text, /name="wresult"/);
    assert.ok(audit.events.some((e) => e.type === 'token.refused' && e.protocol === 'wsfed' && e.reason === 'access_denied'));
  });

  test('Microsoft 365, MFA from the extranet: the office gets a token, home the second factor (browser) or a fault saying MFA (WS-Trust)', async () => {
    const m365 = '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline';
    const atOffice = await signedIn('dev@contoso.test', OFFICE);
    assert.equal((await atOffice.get(m365).set('X-Forwarded-For', OFFICE)).status, 200);
    const atHome = await atOffice.get(m365).set('X-Forwarded-For', HOME);
    assert.equal(atHome.status, 303, 'the same session, now from outside: the second factor first');
    assert.match(atHome.headers.location!, /^\/mfa\?pending=/);

    const rst = (version: '13' | '2005') => buildRst({ version, to: server.address(version), username: 'dev@contoso.test', password: PASSWORD });
    const inside = await postSoap(server.address('13'), rst('13'), { ca: server.ca, headers: { 'X-Forwarded-For': OFFICE } });
    assert.equal(inside.status, 200, inside.body.slice(0, 300));
    const outside = await postSoap(server.address('13'), rst('13'), { ca: server.ca, headers: { 'X-Forwarded-For': HOME } });
    assert.equal(outside.status, 403);
    const fault = readFault(outside.body);
    assert.deepEqual([fault.code, fault.subcode], ['s:Sender', 'wst:RequestFailed']);
    assert.match(fault.reason, /requires multi-factor authentication/);
    assert.ok(audit.events.some((e) => e.type === 'token.refused' && e.protocol === 'wstrust' && e.reason === 'mfa_required'));
  });
});
