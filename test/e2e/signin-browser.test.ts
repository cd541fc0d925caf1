/**
 * The sign-in flow as a person does it: headless Chromium against a live OpenFed on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('sign-in in a real browser (demo directory)', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a user types a wrong password, then the right one, sees who they are, and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });

    await page.goto(`${server.url}/signin`);
    assert.equal(await page.title(), `Sign in – Sign-in service`);
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', 'wrong-password');
    await page.click('button[type=submit]');
    assert.equal(
      (await page.textContent('#error'))?.trim(),
      'Incorrect user ID or password. Type the correct user ID and password, and try again.',
    );

    await page.fill('#username', DEMO_USER);
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(`${server.url}/`);
    assert.equal((await page.textContent('#upn'))?.trim(), DEMO_USER);
    const cookies = await context.cookies();
    const sso = cookies.find((c) => c.name === 'openfed_sso');
    assert.ok(sso?.httpOnly, 'SSO cookie is HttpOnly');
    assert.equal(await page.evaluate('document.cookie.includes("openfed_sso")'), false, 'scripts cannot read it');

    // The stylesheet loads under the strict CSP (no inline styles or scripts are needed).
    const styled = await page.evaluate('getComputedStyle(document.querySelector("main")).borderRadius');
    assert.equal(styled, '6px');

    await page.click('text=Sign out');
    assert.match((await page.textContent('h1')) ?? '', /You have signed out/);
    await page.goto(`${server.url}/`);
    assert.match((await page.textContent('main')) ?? '', /You are not signed in/);
    assert.deepEqual(cspViolations, []);
    await context.close();
  });

  test('a second tab of the same browser is already signed in (single sign-on)', async () => {
    const context = await browser.newContext();
    const first = await context.newPage();
    await first.goto(`${server.url}/signin`);
    await first.fill('#username', 'demo');
    await first.fill('#password', DEMO_PASSWORD);
    await first.click('button[type=submit]');
    await first.waitForURL(`${server.url}/`);
    const second = await context.newPage();
    await second.goto(`${server.url}/signin`);
    // A signed-in user asking for the form with nothing pending goes straight home.
    await second.waitForURL(`${server.url}/`);
    assert.equal((await second.textContent('#upn'))?.trim(), DEMO_USER);
    await context.close();
  });
});
