/**
 * Password change as a person meets it, in headless Chromium against the Samba AD DC over LDAPS: a
 * WS-Fed relying party sends the user to sign in, AD says the password expired (or must change), the
 * change page takes a new one, and the browser arrives at the relying party without a second prompt.
 * Users of this file's own (the seeded users' passwords never change).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ldapConfig, loadAdFacts } from '../helpers/ad.js';
import { launchBrowser } from '../helpers/browser.js';
import { ChangeUsers } from '../helpers/password-change-users.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ad = loadAdFacts();
const users = new ChangeUsers(ad, 'openfed-pwchange-e2e');
const APP = 'urn:app:pwchange-e2e';
const APP_REPLY = 'https://app.pwchange-e2e.example.test/signin';

describe('password change in a real browser (Samba AD over LDAPS)', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    await users.setUp();
    server = await startTestServer({
      directory: { ldap: ldapConfig(ad, { urls: [ad.ldapsUrl] }) },
      wsfedRelyingParties: [{ realm: APP, replyUrls: [APP_REPLY], claims: [{ type: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn', source: 'upn' }] }],
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await users.remove();
  });

  /** Signs in from the RP's redirect, changes the password on the page it lands on, returns the RP's POST. */
  async function signInAndChange(page: Page, username: string, password: string, next: string): Promise<string> {
    const cspViolations: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    // The RP's POST target is not served: catch the auto-posted form instead of following it.
    let posted = '';
    await page.route(`${APP_REPLY}**`, async (route) => {
      posted = route.request().postData() ?? '';
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>app</title><p id="app">signed in</p>' });
    });
    await page.goto(`${server.url}/adfs/ls/?wa=wsignin1.0&wtrealm=${encodeURIComponent(APP)}`);
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/adfs\/portal\/updatepassword\?/);
    assert.ok(!page.url().includes(encodeURIComponent(password)), 'no password in the address');
    assert.equal(await page.inputValue('#username'), username, 'the user name is carried over');
    assert.ok((await page.textContent('#notice'))?.trim(), 'the page says why');
    await page.fill('#currentPassword', password);
    await page.fill('#newPassword', next);
    await page.fill('#confirmPassword', next);
    await page.click('button[type=submit]');
    await page.waitForSelector('#app');
    assert.deepEqual(cspViolations, []);
    return posted;
  }

  for (const state of ['expired', 'must_change'] as const) {
    test(`${state === 'expired' ? 'an expired password' : 'must change at next logon'}: changed, then on to the relying party with no second prompt`, async () => {
      const user = await users.create(`pwc-e2e-${state === 'expired' ? 'exp' : 'must'}`, 'Pwc-E2e-Start-Passw0rd!', { state });
      const context = await browser.newContext();
      const page = await context.newPage();
      const body = await signInAndChange(page, user.upn, user.password, 'Browser-Fresh-Passw0rd-7');
      const fields = Object.fromEntries(new URLSearchParams(body));
      assert.equal(fields.wa, 'wsignin1.0');
      assert.match(fields.wresult ?? '', new RegExp(user.upn), 'a token for this user');
      // Signed in: a second visit to the RP needs no password.
      await page.goto(`${server.url}/`);
      assert.equal((await page.textContent('#upn'))?.trim(), user.upn);
      await context.close();
    });
  }
});
