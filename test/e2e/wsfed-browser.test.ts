/**
 * WS-Federation as a person meets it, next to SAML 2.0: headless Chromium, an Entra-like WS-Fed
 * relying party standing in for Microsoft 365 (test/helpers/test-wsfed-rp.ts, saml20 inside), a real
 * SAML SP (test/helpers/test-sp.ts, node-saml inside) and a live OpenFed, each on its own loopback
 * port. One browser session goes: WS-Fed sign-in with the password → SAML SSO without it →
 * wsignout1.0 from the RP, which must reach both (SAML LogoutRequest, wsignoutcleanup1.0 image).
 */
import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort, rpConfigFor, startTestSp, type TestSp } from '../helpers/test-sp.js';
import { IMMUTABLE_ID_CLAIM, M365_REALM, startTestWsfedRp, UPN_CLAIM, type TestWsfedRp } from '../helpers/test-wsfed-rp.js';

describe('WS-Federation in a real browser: Entra-like RP, a SAML SP and OpenFed', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let rp: TestWsfedRp;
  let sp: TestSp;
  let idpBase: string;
  let immutableId: string;
  /** Every top-level URL requested (redirect hops included), in order. */
  const visited: string[] = [];
  /** Every subresource request and how it ended. */
  const subresources: { url: string; status?: number; failure?: string }[] = [];
  const cspViolations: string[] = [];
  const cspHeaders = new Map<string, string>();

  before(async () => {
    // OpenFed's port first: the RP and SP must know its URL, and OpenFed must know their reply/ACS URLs.
    const port = await freePort();
    idpBase = `http://127.0.0.1:${port}`;
    rp = await startTestWsfedRp({ realm: M365_REALM, idpBase, name: 'Entra-like' });
    sp = await startTestSp({ idpBase, name: 'SAML App' });
    server = await startTestServer({
      server: { port, baseUrl: idpBase },
      relyingParties: [rpConfigFor(sp)],
      microsoft365: { enabled: true, domains: ['openfed.test'], replyUrl: rp.replyUrl },
    });
    assert.equal(server.url, idpBase);
    rp.setIdpCert(server.deps.keys.primary.certificateBase64);
    sp.setIdpCert(server.deps.keys.primary.certificate.toString());
    const principal = (await server.deps.directory.findPrincipal(DEMO_USER))!;
    immutableId = microsoft365ImmutableId(principal, server.config.microsoft365.immutableIdSource)!;
    assert.ok(immutableId);

    browser = await launchBrowser();
    context = await browser.newContext();
    page = await context.newPage();
    page.on('request', (req) => {
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) visited.push(`${req.method()} ${req.url()}`);
      else subresources.push({ url: req.url() });
    });
    page.on('requestfinished', async (req) => {
      const entry = subresources.findLast((s) => s.url === req.url() && s.status === undefined);
      if (entry) entry.status = (await req.response())?.status();
    });
    page.on('requestfailed', (req) => {
      const entry = subresources.findLast((s) => s.url === req.url() && s.status === undefined);
      if (entry) entry.failure = req.failure()?.errorText ?? 'failed';
    });
    page.on('response', (res) => {
      const csp = res.headers()['content-security-policy'];
      if (csp && res.request().isNavigationRequest()) cspHeaders.set(res.url(), csp);
    });
    page.on('console', (msg) => {
      if (/Content Security Policy|Content-Security-Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
    await rp?.stop();
    await sp?.stop();
  });

  const text = async (selector: string) => (await page.textContent(selector))?.trim();

  /** Starts at the Entra-like RP and types the demo user's password into OpenFed's form. */
  async function signInFromRp(): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
  }

  test('WS-Fed sign-in at the Entra-like RP: OpenFed password form, then back at the RP with UPN and ImmutableID', async () => {
    await signInFromRp();
    // The auto-POST page (wa, wresult, wctx) carries the RSTR to login.srf by itself, under OpenFed's CSP.
    await page.waitForURL(rp.replyUrl);
    assert.deepEqual(rp.failures(), [], 'the RP accepted the token (saml20: signature, audience, lifetime; wctx = its state)');
    assert.equal(await text('#upn'), DEMO_USER);

    const request = visited.find((u) => u.startsWith(`GET ${idpBase}/adfs/ls/?wa=wsignin1.0`));
    assert.ok(request, `a wsignin1.0 request went to /adfs/ls/: ${visited.join(' → ')}`);
    const params = new URL(request.slice(4)).searchParams;
    assert.equal(params.get('wtrealm'), M365_REALM);
    assert.equal(params.get('wreply'), null, 'no wreply, as Entra sends it');
    assert.ok(params.get('wctx'));
    assert.ok(visited.includes(`POST ${rp.replyUrl}`), 'the token arrived by POST to the registered reply URL');

    await page.goto(rp.url);
    assert.equal(await text('#status'), 'Signed in');
    assert.equal(await text(`#claims li[data-type="${UPN_CLAIM}"]`), DEMO_USER);
    assert.equal(await text(`#claims li[data-type="${IMMUTABLE_ID_CLAIM}"]`), immutableId);
    const [session] = rp.sessions();
    assert.equal(rp.sessions().length, 1);
    assert.equal(session!.upn, DEMO_USER);
    assert.deepEqual(cspViolations, []);
  });

  test('then SAML SSO at the SAML SP without a password prompt', async () => {
    const from = visited.length;
    await page.goto(`${sp.url}/login`);
    await page.waitForURL(sp.acsUrl);
    const trip = visited.slice(from);
    assert.ok(trip.some((u) => u.startsWith(`GET ${idpBase}/adfs/ls/?SAMLRequest=`)), `went through OpenFed: ${trip.join(' → ')}`);
    assert.ok(!trip.some((u) => u.includes(`${idpBase}/signin`)), `no prompt: ${trip.join(' → ')}`);
    assert.deepEqual(
      trip.map((u) => u.replace(/\?.*$/, '?…')),
      [`GET ${sp.url}/login`, `GET ${idpBase}/adfs/ls/?…`, `POST ${sp.acsUrl}`],
      'every page requested: SP → OpenFed → SP, nothing else',
    );
    assert.equal(await text('#name-id'), immutableId);
    assert.equal(sp.sessions().length, 1);
    await page.goto(sp.url);
    assert.equal(await text('#status'), 'Signed in');
    assert.deepEqual(cspViolations, []);
  });

  test('wsignout1.0 from the RP ends OpenFed\'s session, the SAML SP\'s (LogoutRequest) and the RP\'s (wsignoutcleanup1.0)', async () => {
    const sloBefore = sp.sloEvents().length;
    const cleanupBefore = rp.cleanupEvents().length;
    const violationsBefore = cspViolations.length;
    const from = visited.length;
    const subFrom = subresources.length;

    await page.goto(`${rp.url}/logout`);
    await page.waitForFunction(() => /You have signed out/.test(document.querySelector('h1')?.textContent ?? ''), undefined, { timeout: 10_000 });
    // The cleanup image must really load (not merely be in the HTML): CSP img-src lets its origin in.
    await page
      .waitForFunction(
        () => {
          const imgs = Array.from(document.querySelectorAll<HTMLImageElement>('img.cleanup'));
          return imgs.length > 0 && imgs.every((i) => i.complete);
        },
        undefined,
        { timeout: 5_000 },
      )
      .catch(() => undefined); // the assertions below say what went wrong

    const trip = visited.slice(from).map((u) => u.replace(/\?.*$/, '?…'));
    assert.deepEqual(
      trip,
      [`GET ${rp.url}/logout`, `GET ${idpBase}/adfs/ls/?…`, `GET ${sp.sloUrl}?…`, `GET ${idpBase}/adfs/ls/?…`],
      'RP → OpenFed (wsignout1.0) → SAML SP /slo (LogoutRequest) → OpenFed (LogoutResponse) → signed-out page',
    );
    const signOut = visited[from + 1]!;
    const signOutParams = new URL(signOut.slice(4)).searchParams;
    assert.equal(signOutParams.get('wa'), 'wsignout1.0');
    assert.equal(signOutParams.get('wtrealm'), M365_REALM);
    assert.equal(signOutParams.get('wreply'), rp.replyUrl);

    // The SAML SP: one valid, signed LogoutRequest; its session ended.
    assert.deepEqual(sp.sloEvents().slice(sloBefore), [{ kind: 'LogoutRequest', ok: true, detail: '1 session(s) ended' }]);
    assert.equal(sp.sessions().length, 0);

    // The WS-Fed RP: wsignoutcleanup1.0 loaded as an image from the signed-out page.
    const cleanupUrl = `${rp.replyUrl}?wa=wsignoutcleanup1.0`;
    const signedOutPage = page.url();
    const csp = cspHeaders.get(signedOutPage) ?? '';
    assert.match(csp, new RegExp(`img-src [^;]*${rp.url.replace(/[.:/]/g, '\\$&')}`), `the signed-out page's CSP lets the RP's origin in: ${csp}`);
    assert.equal(await page.getAttribute('img.cleanup', 'src'), cleanupUrl);
    const loaded = subresources.slice(subFrom).filter((s) => s.url === cleanupUrl);
    assert.deepEqual(loaded, [{ url: cleanupUrl, status: 200 }], 'the cleanup image was requested once and loaded');
    assert.equal(await page.$eval('img.cleanup', (i) => (i as HTMLImageElement).naturalWidth), 1, 'the GIF decoded');
    const cleanups = rp.cleanupEvents().slice(cleanupBefore);
    assert.equal(cleanups.length, 1);
    assert.equal(cleanups[0]!.ended, 1);
    assert.equal(rp.sessions().length, 0);
    assert.deepEqual(cspViolations.slice(violationsBefore), [], 'no CSP violation on the way or on the signed-out page');

    // "Return to the application": the registered wreply the RP sent.
    assert.equal(await page.getAttribute('#return', 'href'), rp.replyUrl);
    await page.click('#return');
    await page.waitForURL(`${rp.url}/`);
    assert.equal(await text('#status'), 'Not signed in');
    await page.goto(sp.url);
    assert.equal(await text('#status'), 'Not signed in');

    // OpenFed's own session is gone: both protocols ask for the password again.
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    await page.goto(`${sp.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    assert.deepEqual(cspViolations, []);
  });

  // An SP-initiated SAML logout ends at that SP; the page that carries its LogoutResponse there first
  // loads wsignoutcleanup1.0 for the WS-Fed RP, so both end and the SP is told Success.
  test('SAML logout started at the SP also cleans up the WS-Fed RP of the session, and the SP is told Success', async () => {
    await signInFromRp();
    await page.waitForURL(rp.replyUrl);
    await page.goto(`${sp.url}/login`);
    await page.waitForURL(sp.acsUrl);
    assert.equal(rp.sessions().length, 1);
    assert.equal(sp.sessions().length, 1);

    const from = visited.length;
    await page.goto(`${sp.url}/logout`);
    await page.waitForSelector('#signed-out', { timeout: 10_000 });
    const back = visited.slice(from).find((u) => u.startsWith(`GET ${sp.sloUrl}?`));
    assert.ok(back, `the LogoutResponse came back to the SP: ${visited.slice(from).join(' → ')}`);
    const xml = inflateRawSync(Buffer.from(new URL(back.slice(4)).searchParams.get('SAMLResponse')!, 'base64')).toString('utf8');
    assert.equal(sp.sessions().length, 0);
    assert.equal(rp.sessions().length, 0, 'wsignoutcleanup1.0 reached the WS-Fed RP before the SP got its answer');
    assert.match(xml, /<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"\/><\/samlp:Status>/, `the SP is told everything ended: ${xml}`);
    assert.deepEqual(cspViolations, []);
  });
});
