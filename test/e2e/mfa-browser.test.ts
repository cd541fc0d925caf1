/**
 * The second factor in a real browser: Microsoft 365 (an Entra-like WS-Fed relying party) whose
 * policy requires MFA. Chromium signs in with the password, enrols (reads the key off the page, as a
 * person types it into an app; the code comes from otplib as an authenticator app makes it), sees the
 * recovery codes, and lands at the relying party with a token that says multipleauthn. Then a fresh
 * browser, in German and in French, is asked only for the code. axe (WCAG 2.1 AA) on every MFA page,
 * in every language, light and dark.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { authenticator } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/directory/demo.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort } from '../helpers/test-sp.js';
import { M365_REALM, startTestWsfedRp, type TestWsfedRp } from '../helpers/test-wsfed-rp.js';

const PASSWORD = 'Browser-Mfa-Passw0rd!';
const USER = 'mia@contoso.test';
const MULTIPLEAUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
const AMR = 'http://schemas.microsoft.com/claims/authnmethodsreferences';

async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('MFA in a real browser', () => {
  let server: TestServer;
  let rp: TestWsfedRp;
  let browser: Browser;
  let dir: string;
  let secret = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openfed-mfa-browser-'));
    const usersFile = join(dir, 'users.yaml');
    writeFileSync(usersFile, stringify({ users: [{ userPrincipalName: USER, sAMAccountName: 'mia', passwordHash: await hashPassword(PASSWORD), objectGuid: '0f2e9c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b' }] }));
    const port = await freePort();
    const idpBase = `http://127.0.0.1:${port}`;
    rp = await startTestWsfedRp({ realm: M365_REALM, idpBase, name: 'Entra-like' });
    server = await startTestServer({
      server: { port, baseUrl: idpBase },
      directory: { demo: { usersFile } },
      microsoft365: { enabled: true, domains: ['contoso.test'], replyUrl: rp.replyUrl, accessPolicy: 'permitEveryoneAndRequireMfa' },
      mfa: { issuer: 'Contoso' },
    });
    rp.setIdpCert(server.deps.keys.primary.certificateBase64);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await rp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function passwordStep(page: Page): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.fill('#username', USER);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/mfa\?pending=/), page.click('button[type="submit"]')]);
  }

  test('enrol, then the token says multipleauthn; the enrolment and recovery pages pass axe', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await passwordStep(page);
    assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code');
    assert.deepEqual(await axeViolations(page), [], 'enrolment page');
    secret = (await page.locator('#secret').textContent())!.replace(/\s+/g, '');

    await page.fill('#code', '000000');
    await page.click('button[type="submit"]');
    assert.equal(await page.locator('#error[role="alert"]').count(), 1, 'a wrong first code is announced');
    assert.equal((await page.locator('#secret').textContent())!.replace(/\s+/g, ''), secret, 'the same key again');
    assert.deepEqual(await axeViolations(page), [], 'enrolment page with an error');

    await page.fill('#code', authenticator.generate(secret));
    await page.click('button[type="submit"]');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    assert.deepEqual(await axeViolations(page), [], 'recovery codes page');
    await page.click('#continue');
    await page.locator('#status').waitFor();
    const session = rp.sessions().at(-1);
    assert.ok(session, `the RP accepted a token (${JSON.stringify(rp.failures())})`);
    assert.deepEqual([session.claims[AMR]].flat().sort(), ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password', MULTIPLEAUTHN].sort());
    await context.close();
  });

  for (const [locale, colorScheme] of [['de-DE', 'light'], ['fr-FR', 'dark'], ['en-GB', 'dark']] as const) {
    test(`an enrolled user is asked only for the code (${locale}, ${colorScheme}); the page passes axe`, async () => {
      assert.ok(secret, 'enrolled by the test above');
      const context = await browser.newContext({ locale, colorScheme });
      const page = await context.newPage();
      await passwordStep(page);
      assert.equal(await page.locator('figure.qr').count(), 0, 'no enrolment');
      assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2));
      assert.deepEqual(await axeViolations(page), [], 'code page');
      await page.fill('#code', '99999x');
      await page.click('button[type="submit"]');
      assert.equal(await page.locator('#error[role="alert"]').count(), 1);
      assert.deepEqual(await axeViolations(page), [], 'code page with an error');
      await context.close();
    });
  }
});
