/**
 * SAML 2.0 as a person meets it: headless Chromium, two real service provider apps (test/helpers/
 * test-sp.ts, node-saml inside) and a live OpenFed, each on its own loopback port. The browser runs
 * the whole exchange itself — redirects, the sign-in form, the auto-posting HTTP-POST page under its
 * CSP — so this is what an SP in production would see.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { claimValues } from '../../src/claims/values.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort, rpConfigFor, startTestSp, type TestSp } from '../helpers/test-sp.js';

describe('SAML 2.0 in a real browser: two SPs and OpenFed', () => {
  let server: TestServer;
  let browser: Browser;
  let sp1: TestSp;
  let sp2: TestSp;
  let idpBase: string;

  before(async () => {
    // OpenFed's baseUrl must be the very URL the browser uses: signed requests carry Destination =
    // <baseUrl>/adfs/ls/. So its port is chosen first, the SPs are told it, then OpenFed starts on it.
    const port = await freePort();
    idpBase = `http://127.0.0.1:${port}`;
    sp1 = await startTestSp({ idpBase, name: 'App One' });
    sp2 = await startTestSp({ idpBase, name: 'App Two' });
    server = await startTestServer({ server: { port, baseUrl: idpBase }, relyingParties: [rpConfigFor(sp1), rpConfigFor(sp2)] });
    assert.equal(server.url, idpBase);
    const idpCert = server.deps.keys.primary.certificate.toString();
    sp1.setIdpCert(idpCert);
    sp2.setIdpCert(idpCert);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await sp1?.stop();
    await sp2?.stop();
  });

  /**
   * Every top-level URL the page requests — redirect hops included, which never commit as a page —
   * and every CSP complaint, so a test can say what did NOT happen.
   */
  function watch(page: Page) {
    const visited: string[] = [];
    const cspViolations: string[] = [];
    page.on('request', (req) => {
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) visited.push(`${req.method()} ${req.url()}`);
    });
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    return { visited, cspViolations };
  }

  const text = async (page: Page, selector: string) => (await page.textContent(selector))?.trim();

  /** SP-initiated sign-in at sp1 (with the password), then SSO at sp2 (without). Returns the context. */
  async function signInAtBoth(): Promise<{ context: BrowserContext; page: Page; watched: ReturnType<typeof watch> }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const watched = watch(page);
    await page.goto(`${sp1.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(sp1.acsUrl);
    await page.goto(`${sp2.url}/login`);
    await page.waitForURL(sp2.acsUrl);
    return { context, page, watched };
  }

  test('sign in at SP1 with the OpenFed form, then SP2 signs in without a prompt (SSO)', async () => {
    const principal = (await server.deps.directory.findPrincipal(DEMO_USER))!;
    const immutableId = claimValues(principal, 'immutableId')[0]!;

    const context = await browser.newContext();
    const page = await context.newPage();
    const { visited, cspViolations } = watch(page);

    // SP1 sends the browser to OpenFed, which asks for the password.
    await page.goto(`${sp1.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    // ...and the POST-binding page carries the Response to SP1's ACS by itself (autopost.js under CSP).
    await page.waitForURL(sp1.acsUrl);
    assert.ok(visited.includes(`POST ${sp1.acsUrl}`), 'the Response arrived by HTTP-POST');
    assert.equal(await text(page, '#sp-name'), 'App One');
    assert.equal(await text(page, '#name-id'), immutableId, 'persistent NameID = the ImmutableID');
    assert.ok(visited.some((u) => u.startsWith(`GET ${idpBase}/adfs/ls/?SAMLRequest=`)), 'a Redirect-binding request went to /adfs/ls/');

    await page.goto(sp1.url);
    assert.equal(await text(page, '#status'), 'Signed in');
    assert.equal(await page.textContent('#attributes li[data-name="upn"]'), DEMO_USER);

    // SP2, same browser: OpenFed's SSO cookie answers; no sign-in form on the way.
    const before2 = visited.length;
    await page.goto(`${sp2.url}/login`);
    await page.waitForURL(sp2.acsUrl);
    assert.equal(await text(page, '#sp-name'), 'App Two');
    assert.equal(await text(page, '#name-id'), immutableId);
    const trip = visited.slice(before2);
    assert.ok(trip.some((u) => u.startsWith(`GET ${idpBase}/adfs/ls/?SAMLRequest=`)), `went through OpenFed: ${trip.join(' → ')}`);
    assert.ok(!trip.some((u) => u.includes(`${idpBase}/signin`)), `no prompt: ${trip.join(' → ')}`);
    await page.goto(sp2.url);
    assert.equal(await text(page, '#status'), 'Signed in');

    assert.equal(sp1.sessions().length, 1);
    assert.equal(sp2.sessions().length, 1);
    assert.deepEqual(cspViolations, []);

    // A fresh browser is a stranger to both: SSO lives in that one browser's cookie, nowhere else.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(sp2.url);
    assert.equal(await text(otherPage, '#status'), 'Not signed in');
    await otherPage.goto(`${sp2.url}/login`);
    await otherPage.waitForURL(`${idpBase}/signin?**`);
    await other.close();
    await context.close();
  });

  test('single logout from SP1 ends the sessions at OpenFed, SP1 and SP2', async () => {
    const { context, page, watched } = await signInAtBoth();
    const sp1Before = sp1.sessions().length;
    const sp2Before = sp2.sessions().length;
    const sp2EventsBefore = sp2.sloEvents().length;
    const sp1EventsBefore = sp1.sloEvents().length;
    assert.ok(sp1Before >= 1 && sp2Before >= 1);

    await page.goto(sp1.url);
    const from = watched.visited.length;
    await page.click('#logout');
    // SP1 → OpenFed (LogoutRequest) → SP2 /slo (LogoutRequest, answered) → OpenFed → SP1 /slo (LogoutResponse).
    await page.waitForSelector('#signed-out', { timeout: 10_000 });
    assert.equal(await text(page, '#sp-name'), 'App One');
    const trip = watched.visited.slice(from).map((u) => u.replace(/\?.*$/, '?…'));
    assert.deepEqual(
      trip,
      [`GET ${sp1.url}/logout`, `GET ${idpBase}/adfs/ls/?…`, `GET ${sp2.sloUrl}?…`, `GET ${idpBase}/adfs/ls/?…`, `GET ${sp1.sloUrl}?…`],
      'the front-channel chain, in order',
    );

    const sp2Events = sp2.sloEvents().slice(sp2EventsBefore);
    assert.deepEqual(sp2Events, [{ kind: 'LogoutRequest', ok: true, detail: '1 session(s) ended' }], 'SP2: one valid, signed LogoutRequest for its session');
    assert.deepEqual(sp1.sloEvents().slice(sp1EventsBefore), [{ kind: 'LogoutResponse', ok: true, detail: 'signed out at the IdP' }], 'SP1: a valid LogoutResponse to its request');
    assert.equal(sp1.sessions().length, sp1Before - 1);
    assert.equal(sp2.sessions().length, sp2Before - 1);
    assert.deepEqual(watched.cspViolations, []);

    await page.goto(sp2.url);
    assert.equal(await text(page, '#status'), 'Not signed in');
    // And OpenFed's own session is gone: SP2 sign-in now asks for the password.
    await page.goto(`${sp2.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    await context.close();
  });

  // The home page's CSP is form-action 'self', and Chromium applies it along the redirect chain of a
  // form POST: /signout must move on to the first SP through a same-origin page, not a 303.
  test('signing out on OpenFed\'s own page tells both SPs', async () => {
    const { context, page, watched } = await signInAtBoth();
    const before1 = { sessions: sp1.sessions().length, events: sp1.sloEvents().length };
    const before2 = { sessions: sp2.sessions().length, events: sp2.sloEvents().length };

    await page.goto(`${idpBase}/`);
    assert.equal((await page.textContent('#upn'))?.trim(), DEMO_USER);
    const violationsBefore = watched.cspViolations.length;
    await page.click('text=Sign out');
    await page
      .waitForFunction(() => /You have signed out/.test(document.querySelector('h1')?.textContent ?? ''), undefined, { timeout: 10_000 })
      .catch(() => undefined); // the assertions below say what went wrong
    assert.deepEqual(watched.cspViolations.slice(violationsBefore), [], 'the sign-out chain is not blocked by CSP');
    assert.match((await page.textContent('h1')) ?? '', /You have signed out/);

    for (const [sp, was] of [[sp1, before1], [sp2, before2]] as const) {
      assert.deepEqual(sp.sloEvents().slice(was.events), [{ kind: 'LogoutRequest', ok: true, detail: '1 session(s) ended' }], `${sp.name} told`);
      assert.equal(sp.sessions().length, was.sessions - 1, `${sp.name} session ended`);
    }
    await page.goto(sp1.url);
    assert.equal(await text(page, '#status'), 'Not signed in');
    await context.close();
  });
});
