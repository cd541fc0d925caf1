/**
 * The second factor as relying parties ask for it, on a live OpenFed: a policy that requires MFA from
 * the extranet sends a password-only session to enrolment (QR, key, first code, recovery codes once)
 * and on to Microsoft 365 with multipleauthn; the session then carries it to a SAML SP; the office
 * gets in without it; an Entra-style wauth=multipleauthn asks only for the code; a replayed code, the
 * wrong-code limit and a recovery code used twice are refused; a reset sends the user to enrol again.
 * Codes come from otplib at the test's own clock, as an authenticator app makes them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authenticator } from 'otplib';
import request from 'supertest';
import { stringify } from 'yaml';
import { MemoryAuditLog } from '../../src/audit/audit.js';
import { ManualClock } from '../../src/clock.js';
import { hashPassword } from '../../src/directory/demo.js';
import { craftAuthnRequest, decodeSamlResponse, readPostForm, redirectQuery } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';
import { readWsfedPost } from '../helpers/wsfed.js';

const PASSWORD = 'Second-Factor-Passw0rd!';
const SP = 'urn:sp:mfa-test';
const ACS = 'https://sp.example.test/acs';
const OFFICE = '198.51.100.7';
const HOME = '203.0.113.9';
const MULTIPLEAUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
const M365 = '/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline';

describe('MFA step-up through the protocols', () => {
  let server: TestServer;
  let audit: MemoryAuditLog;
  const clock = new ManualClock(Date.UTC(2026, 11, 6, 12, 0, 0));
  let secret = '';

  const code = (at = clock.now()) => authenticator.clone({ epoch: at }).generate(secret);
  const next = () => clock.advance(30_000);

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openfed-mfa-'));
    const hash = await hashPassword(PASSWORD);
    const file = join(dir, 'users.yaml');
    writeFileSync(file, stringify({ users: [{ userPrincipalName: 'ann@contoso.test', sAMAccountName: 'ann', passwordHash: hash, objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12' }] }));
    audit = new MemoryAuditLog();
    server = await startTestServer(
      {
        server: { baseUrl: 'http://127.0.0.1', trustedProxies: ['127.0.0.1'] },
        directory: { demo: { usersFile: file } },
        accessControl: { intranetNetworks: ['198.51.100.0/24'] },
        microsoft365: { enabled: true, domains: ['contoso.test'], accessPolicy: 'permitEveryoneAndRequireMfaFromExtranet', replyUrl: 'https://login.microsoftonline.test/login.srf' },
        relyingParties: [{ entityId: SP, assertionConsumerServices: [{ url: ACS }] }],
        mfa: { maxWrongCodes: 3, wrongCodeWindowMinutes: 5 },
      },
      { audit, clock },
    );
  });
  after(() => server?.stop());

  /** Follows our own redirects from `path` (GET), from one address, and returns the last answer. */
  async function follow(agent: request.Agent, path: string, from: string) {
    let res = await agent.get(path).set('X-Forwarded-For', from);
    for (let hops = 0; res.status === 303 && hops < 10; hops++) res = await agent.get(res.headers.location!).set('X-Forwarded-For', from);
    return res;
  }

  async function passwordSignIn(agent: request.Agent, signInPage: request.Response, from: string) {
    const pending = /name="pending" value="([^"]+)"/.exec(signInPage.text)?.[1];
    const posted = await agent
      .post('/signin')
      .set('X-Forwarded-For', from)
      .type('form')
      .send({ _csrf: csrfFrom(signInPage.text), username: 'ann@contoso.test', password: PASSWORD, pending });
    assert.equal(posted.status, 303);
    return follow(agent, posted.headers.location!, from);
  }

  function claimsOf(page: request.Response): string {
    return readWsfedPost(page.text).assertion;
  }

  test('from home: password, then enrolment (QR and key), then the token with multipleauthn; recovery codes shown once', async () => {
    const agent = request.agent(server.url);
    const signIn = await follow(agent, M365, HOME);
    assert.match(signIn.text, /name="password"/);
    const enrol = await passwordSignIn(agent, signIn, HOME);
    assert.equal(enrol.status, 200);
    assert.match(enrol.request.url, /\/mfa\?pending=/);
    assert.match(enrol.text, /<svg[^>]*>/, 'the QR code, inline');
    secret = /<code id="secret" class="secret">([^<]+)<\/code>/.exec(enrol.text)![1]!.replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);

    const wrong = await agent.post('/mfa/enrol').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(enrol.text), code: '000000', pending: /name="pending" value="([^"]+)"/.exec(enrol.text)![1] });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /not right/);
    const recovery = await agent.post('/mfa/enrol').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(wrong.text), code: code(), pending: /name="pending" value="([^"]+)"/.exec(wrong.text)![1] });
    assert.equal(recovery.status, 200);
    const codes = [...recovery.text.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(codes.length, 10);
    recoveryCode = codes[0]!;
    const continueHref = /id="continue" href="([^"]+)"/.exec(recovery.text)![1]!.replace(/&amp;/g, '&');
    const token = await follow(agent, continueHref, HOME);
    const assertion = claimsOf(token);
    assert.match(assertion, new RegExp(`<saml:AttributeValue>${MULTIPLEAUTHN}</saml:AttributeValue>`));
    assert.match(assertion, /authenticationmethod\/password</);
    assert.match(assertion, new RegExp(`AuthenticationMethod="${MULTIPLEAUTHN}"`));
    assert.match(assertion, /AttributeName="multifactorauthenticationinstant"/);
    assert.ok(audit.events.some((e) => e.type === 'mfa.enrolled'));

    // The session carries the second factor: a SAML SP gets multipleauthn without any prompt.
    const { xml } = craftAuthnRequest({ issuer: SP, acsUrl: ACS, issueInstant: new Date(clock.now()) });
    const saml = await follow(agent, `/adfs/ls/?${redirectQuery(xml)}`, HOME);
    const response = decodeSamlResponse(readPostForm(saml.text).fields.SAMLResponse!);
    assert.match(response, new RegExp(`<AuthnContextClassRef>${MULTIPLEAUTHN}</AuthnContextClassRef>`));
  });

  let recoveryCode = '';

  test('from the office: no second factor asked; Entra-style wauth=multipleauthn then asks only for the code', async () => {
    const agent = request.agent(server.url);
    const signIn = await follow(agent, M365, OFFICE);
    const token = await passwordSignIn(agent, signIn, OFFICE);
    const assertion = claimsOf(token);
    assert.doesNotMatch(assertion, /multipleauthn/, 'the intranet needs no MFA');

    const prompt = await follow(agent, `${M365}&wauth=${encodeURIComponent(MULTIPLEAUTHN)}`, OFFICE);
    assert.match(prompt.request.url, /\/mfa\?pending=/);
    assert.doesNotMatch(prompt.text, /name="password"/, 'no password again');
    assert.doesNotMatch(prompt.text, /<svg/, 'enrolled: the code, not the QR');
    next();
    const posted = await agent.post('/mfa').set('X-Forwarded-For', OFFICE).type('form').send({ _csrf: csrfFrom(prompt.text), code: code(), pending: /name="pending" value="([^"]+)"/.exec(prompt.text)![1] });
    assert.equal(posted.status, 303);
    const stepped = await follow(agent, posted.headers.location!, OFFICE);
    assert.match(claimsOf(stepped), new RegExp(MULTIPLEAUTHN));

    // The same code again, in another session: refused, it was used.
    const other = request.agent(server.url);
    const page = await passwordSignIn(other, await follow(other, `${M365}&wauth=${encodeURIComponent(MULTIPLEAUTHN)}`, OFFICE), OFFICE);
    const replay = await other.post('/mfa').set('X-Forwarded-For', OFFICE).type('form').send({ _csrf: csrfFrom(page.text), code: code(), pending: /name="pending" value="([^"]+)"/.exec(page.text)![1] });
    assert.equal(replay.status, 400);
    assert.match(replay.text, /already used/);
  });

  test('wrong codes: the limit answers 429 even for the right code; a recovery code works once; a reset means enrolling again', async () => {
    next();
    const agent = request.agent(server.url);
    let page = await passwordSignIn(agent, await follow(agent, M365, HOME), HOME);
    const pending = /name="pending" value="([^"]+)"/.exec(page.text)![1]!;
    for (let i = 0; i < 3; i++) {
      page = await agent.post('/mfa').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(page.text), code: '123456', pending });
      assert.equal(page.status, 400);
    }
    const limited = await agent.post('/mfa').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(page.text), code: code(), pending });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.match(limited.text, /Too many wrong codes/);

    clock.advance(6 * 60_000);
    const byRecovery = await agent.post('/mfa').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(limited.text), code: recoveryCode, pending });
    assert.equal(byRecovery.status, 303, 'a recovery code instead of the app');
    assert.match(claimsOf(await follow(agent, byRecovery.headers.location!, HOME)), new RegExp(MULTIPLEAUTHN));

    const again = request.agent(server.url);
    const second = await passwordSignIn(again, await follow(again, M365, HOME), HOME);
    const reused = await again.post('/mfa').set('X-Forwarded-For', HOME).type('form').send({ _csrf: csrfFrom(second.text), code: recoveryCode, pending: /name="pending" value="([^"]+)"/.exec(second.text)![1] });
    assert.equal(reused.status, 400, 'a recovery code works once');

    assert.equal(await server.deps.mfa!.reset('ann@contoso.test', { by: 'test' }), true);
    const fresh = request.agent(server.url);
    const enrolAgain = await passwordSignIn(fresh, await follow(fresh, M365, HOME), HOME);
    assert.match(enrolAgain.text, /<svg/, 'after a reset: enrolment again');
  });
});
