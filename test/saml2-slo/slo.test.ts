/**
 * SAML 2.0 single logout across two service providers, each played by @node-saml/node-saml: SP A
 * starts logout, OpenFed tells SP B, and A gets its LogoutResponse — all signed, all checked by the
 * SPs' own library.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { makeKeyPair, readPostForm, type KeyPair } from '../helpers/saml.js';
import { csrfFrom, startTestServer, type TestServer } from '../helpers/server.js';

const IDP = 'http://127.0.0.1/adfs/ls/';
const sp = (name: string) => ({
  entityId: `https://${name}.example.test/saml`,
  acs: `https://${name}.example.test/acs`,
  slo: `https://${name}.example.test/slo`,
});
const A = sp('a');
const B = sp('b');
const C = sp('c-no-slo');

describe('SAML 2.0 single logout', () => {
  let server: TestServer;
  let keys: Record<'A' | 'B' | 'C', KeyPair>;
  let idpCert: string;

  const samlFor = (s: typeof A, key: KeyPair) =>
    new SAML({
      issuer: s.entityId,
      callbackUrl: s.acs,
      entryPoint: IDP,
      logoutUrl: IDP,
      logoutCallbackUrl: s.slo,
      idpCert,
      audience: s.entityId,
      privateKey: key.keyPem,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
    });

  before(async () => {
    keys = { A: makeKeyPair('a'), B: makeKeyPair('b'), C: makeKeyPair('c') };
    const rp = (s: typeof A, key: KeyPair, withSlo = true) => ({
      entityId: s.entityId,
      assertionConsumerServices: [{ url: s.acs }],
      singleLogoutServices: withSlo ? [{ url: s.slo, binding: 'redirect' as const }] : [],
      signingCertificates: [key.certPem],
    });
    server = await startTestServer({
      server: { baseUrl: 'http://127.0.0.1' },
      relyingParties: [rp(A, keys.A), rp(B, keys.B), rp(C, keys.C, false)],
    });
    idpCert = server.deps.keys.primary.certificate.toString();
  });
  after(() => server?.stop());

  const local = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };

  /** Signs the demo user in at OpenFed, then into each SP; returns the browser and each SP's profile. */
  async function signedInEverywhere(sps: Array<[typeof A, KeyPair]>) {
    const browser = request.agent(server.url);
    const form = await browser.get('/signin');
    await browser.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
    const profiles: Profile[] = [];
    for (const [s, key] of sps) {
      const saml = samlFor(s, key);
      const page = await browser.get(local(await saml.getAuthorizeUrlAsync('', undefined, {}))).expect(200);
      const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: readPostForm(page.text).fields.SAMLResponse! });
      profiles.push(profile!);
    }
    return { browser, profiles };
  }

  const query = (url: string) => Object.fromEntries(new URL(url).searchParams);

  test('logout at SP A reaches SP B, ends the SSO session, and A gets a signed Success', async () => {
    const { browser, profiles } = await signedInEverywhere([[A, keys.A], [B, keys.B], [C, keys.C]]);
    const samlA = samlFor(A, keys.A);
    const samlB = samlFor(B, keys.B);

    const logoutUrl = await samlA.getLogoutUrlAsync(profiles[0]!, 'a-relay', {});
    const toB = await browser.get(local(logoutUrl));
    assert.equal(toB.status, 303, toB.text.slice(0, 300));
    const atB = toB.headers.location!;
    assert.ok(atB.startsWith(`${B.slo}?`), atB);

    // SP B checks our signed LogoutRequest with its own library and finds its user.
    const { profile: logoutRequest, loggedOut } = await samlB.validateRedirectAsync(query(atB), new URL(atB).search.slice(1));
    assert.equal(loggedOut, true, 'node-saml takes it as a logout of its user');
    assert.equal(logoutRequest?.nameID, profiles[1]!.nameID);
    assert.equal(logoutRequest?.sessionIndex, profiles[1]!.sessionIndex);

    // The SSO session is already gone while B is being told.
    assert.match((await browser.get('/').expect(200)).text, /You are not signed in/);

    const bAnswer = await samlB.getLogoutResponseUrlAsync(logoutRequest!, new URL(atB).searchParams.get('RelayState')!, {}, true);
    const toA = await browser.get(local(bAnswer));
    assert.equal(toA.status, 303, toA.text.slice(0, 300));
    const atA = toA.headers.location!;
    assert.ok(atA.startsWith(`${A.slo}?`), atA);
    const done = await samlA.validateRedirectAsync(query(atA), new URL(atA).search.slice(1));
    assert.equal(done.loggedOut, true);
    assert.equal(new URL(atA).searchParams.get('RelayState'), 'a-relay');
    assert.match(Buffer.from(await inflate(new URL(atA).searchParams.get('SAMLResponse')!)).toString(), /status:Success"\/><\/samlp:Status>/);
  });

  test('an SP that does not confirm turns the answer into PartialLogout', async () => {
    const { browser, profiles } = await signedInEverywhere([[A, keys.A], [B, keys.B]]);
    const samlB = samlFor(B, keys.B);
    const toB = await browser.get(local(await samlFor(A, keys.A).getLogoutUrlAsync(profiles[0]!, '', {})));
    const atB = toB.headers.location!;
    const { profile } = await samlB.validateRedirectAsync(query(atB), new URL(atB).search.slice(1));
    const failed = await samlB.getLogoutResponseUrlAsync(profile!, new URL(atB).searchParams.get('RelayState')!, {}, false);
    const toA = await browser.get(local(failed));
    const xml = Buffer.from(await inflate(new URL(toA.headers.location!).searchParams.get('SAMLResponse')!)).toString();
    assert.match(xml, /status:Success"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:PartialLogout"\/>/);
  });

  test('an unsigned LogoutRequest is refused and the session lives on', async () => {
    const { browser, profiles } = await signedInEverywhere([[A, keys.A]]);
    const unsigned = new SAML({ issuer: A.entityId, callbackUrl: A.acs, entryPoint: IDP, logoutUrl: IDP, idpCert });
    const res = await browser.get(local(await unsigned.getLogoutUrlAsync(profiles[0]!, '', {})));
    assert.equal(res.status, 400);
    assert.match(res.text, /not signed as this application/);
    assert.match((await browser.get('/').expect(200)).text, /You are signed in/);
  });

  test('a LogoutRequest naming another user ends nothing and is answered UnknownPrincipal', async () => {
    const { browser, profiles } = await signedInEverywhere([[A, keys.A]]);
    const forged = { ...profiles[0]!, nameID: 'somebody-else' };
    const res = await browser.get(local(await samlFor(A, keys.A).getLogoutUrlAsync(forged, '', {})));
    assert.equal(res.status, 303);
    const xml = Buffer.from(await inflate(new URL(res.headers.location!).searchParams.get('SAMLResponse')!)).toString();
    assert.match(xml, /status:Requester"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:UnknownPrincipal"/);
    assert.match((await browser.get('/').expect(200)).text, /You are signed in/);
  });

  test('signing out on the home page tells every SP with an SLO endpoint', async () => {
    const { browser } = await signedInEverywhere([[A, keys.A], [C, keys.C]]);
    const home = await browser.get('/').expect(200);
    const res = await browser.post('/signout').type('form').send({ _csrf: csrfFrom(home.text) });
    // A same-origin page moves the browser on: a 303 after a form POST would meet CSP form-action.
    assert.equal(res.status, 200);
    const atA = /id="continue" class="button" href="([^"]+)"/.exec(res.text)![1]!.replaceAll('&amp;', '&');
    assert.ok(atA.startsWith(`${A.slo}?`), 'C has no SLO endpoint and is skipped');
    const samlA = samlFor(A, keys.A);
    const { profile } = await samlA.validateRedirectAsync(query(atA), new URL(atA).search.slice(1));
    const back = await browser.get(local(await samlA.getLogoutResponseUrlAsync(profile!, new URL(atA).searchParams.get('RelayState')!, {}, true)));
    assert.equal(back.status, 200);
    assert.match(back.text, /You have signed out/);
    assert.doesNotMatch(back.text, /id="partial"/);
  });
});

async function inflate(b64: string): Promise<Buffer> {
  const { inflateRawSync } = await import('node:zlib');
  return inflateRawSync(Buffer.from(b64, 'base64'));
}
