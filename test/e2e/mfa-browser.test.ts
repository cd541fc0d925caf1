/**
 * The second factor in a real browser: Microsoft 365 (an Entra-like WS-Fed relying party) whose
 * policy requires MFA from the extranet; the browser's address is set by a trusted proxy's
 * X-Forwarded-For. From home Chromium signs in with the password, enrols (reads the key off the page,
 * as a person types it into an app; codes come from otplib as an authenticator app makes them), sees
 * the recovery codes and lands at the relying party with a token that says multipleauthn. From the
 * office no second factor is asked — until an Entra-style request with wauth=multipleauthn, which asks
 * for the code only. Then: a replayed code, a recovery code used twice, the wrong-code limit, and a
 * reset by `openfed mfa reset` that sends the user to enrol again. axe (WCAG 2.1 AA) on every MFA
 * page, in every language, light and dark.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
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
const PASSWORD_METHOD = 'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password';
const OFFICE = '198.51.100.7';
const HOME = '203.0.113.9';
const run = promisify(execFile);

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
  let usersFile = '';
  let recoveryCode = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openfed-mfa-browser-'));
    usersFile = join(dir, 'users.yaml');
    writeFileSync(usersFile, stringify({ users: [{ userPrincipalName: USER, sAMAccountName: 'mia', passwordHash: await hashPassword(PASSWORD), objectGuid: '0f2e9c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b' }] }));
    const port = await freePort();
    const idpBase = `http://127.0.0.1:${port}`;
    rp = await startTestWsfedRp({ realm: M365_REALM, idpBase, name: 'Entra-like' });
    server = await startTestServer({
      server: { port, baseUrl: idpBase, trustedProxies: ['127.0.0.1'] },
      directory: { demo: { usersFile } },
      accessControl: { intranetNetworks: ['198.51.100.0/24'] },
      microsoft365: { enabled: true, domains: ['contoso.test'], replyUrl: rp.replyUrl, accessPolicy: 'permitEveryoneAndRequireMfaFromExtranet' },
      mfa: { issuer: 'Contoso', maxWrongCodes: 3 },
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

  /** A browser at home or at the office (the trusted proxy says which). */
  async function browserAt(from: string, options: { locale?: string; colorScheme?: 'light' | 'dark' } = {}) {
    const context = await browser.newContext(options);
    await context.setExtraHTTPHeaders({ 'X-Forwarded-For': from });
    return { context, page: await context.newPage() };
  }

  async function passwordStep(page: Page, expect: RegExp | ((url: URL) => boolean) = /\/mfa\?pending=/): Promise<void> {
    await page.goto(`${rp.url}/login`);
    await page.fill('#username', USER);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(expect), page.click('button[type="submit"]')]);
  }

  /** A code the app shows `steps` steps from now (±1 step is accepted, each step once). */
  const codeAt = (steps: number) => authenticator.clone({ epoch: Date.now() + steps * 30_000 }).generate(secret);

  async function submitCode(page: Page, code: string): Promise<void> {
    await page.fill('#code', code);
    await page.click('button[type="submit"]');
  }

  const amrOfLastToken = () => [rp.sessions().at(-1)?.claims[AMR]].flat().sort();

  test('from home: enrol, then the token says multipleauthn; the enrolment and recovery pages pass axe', async () => {
    const { context, page } = await browserAt(HOME);
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
    recoveryCode = (await page.locator('#recovery-codes li').first().textContent())!.trim();
    assert.deepEqual(await axeViolations(page), [], 'recovery codes page');
    await page.click('#continue');
    await page.locator('#status').waitFor();
    const session = rp.sessions().at(-1);
    assert.ok(session, `the RP accepted a token (${JSON.stringify(rp.failures())})`);
    assert.deepEqual([session.claims[AMR]].flat().sort(), [PASSWORD_METHOD, MULTIPLEAUTHN].sort());
    await context.close();
  });

  test('from the office: no second factor; then an Entra-style wauth=multipleauthn asks for the code only', async () => {
    const { context, page } = await browserAt(OFFICE);
    await passwordStep(page, (url) => url.href.startsWith(rp.url));
    await page.locator('#status').waitFor();
    assert.deepEqual(amrOfLastToken(), [PASSWORD_METHOD], 'inside: the password is enough');

    // Entra ID asks for MFA (federatedIdpMfaBehavior): the same sign-in request with wauth.
    // (The RP's own redirect, with wauth added: Playwright does not intercept redirected requests.)
    await page.route(`${rp.url}/login`, async (route) => {
      const location = (await route.fetch({ maxRedirects: 0 })).headers().location!;
      await route.fulfill({ status: 302, headers: { location: `${location}&wauth=${encodeURIComponent(MULTIPLEAUTHN)}` } });
    });
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(/\/mfa\?pending=/);
    assert.equal(await page.locator('#password').count(), 0, 'no password again');
    assert.equal(await page.locator('figure.qr').count(), 0, 'enrolled: the code only');
    await submitCode(page, codeAt(1));
    await page.locator('#status').waitFor();
    assert.deepEqual(amrOfLastToken(), [PASSWORD_METHOD, MULTIPLEAUTHN].sort());
    await context.close();
  });

  test('a code already used, and a recovery code used twice, are refused', async () => {
    const { context, page } = await browserAt(HOME);
    await passwordStep(page);
    await submitCode(page, codeAt(1));
    assert.match((await page.locator('#error').textContent())!, /already used/);
    await submitCode(page, recoveryCode);
    await page.locator('#status').waitFor();
    assert.deepEqual(amrOfLastToken(), [PASSWORD_METHOD, MULTIPLEAUTHN].sort(), 'a recovery code is a second factor');
    await context.close();

    const again = await browserAt(HOME);
    await passwordStep(again.page);
    await submitCode(again.page, recoveryCode);
    assert.equal(await again.page.locator('#error[role="alert"]').count(), 1, 'the same recovery code again');
    await again.context.close();
  });

  for (const [locale, colorScheme] of [['de-DE', 'light'], ['fr-FR', 'dark'], ['en-GB', 'dark']] as const) {
    test(`an enrolled user is asked only for the code (${locale}, ${colorScheme}); the page passes axe`, async () => {
      assert.ok(secret, 'enrolled by the test above');
      const { context, page } = await browserAt(HOME, { locale, colorScheme });
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

  test('the wrong-code limit refuses even the right code; openfed mfa reset sends the user to enrol again', async () => {
    const { context, page } = await browserAt(HOME);
    await passwordStep(page);
    for (let i = 0; i < 3; i++) await submitCode(page, '123456');
    const limited = page.waitForResponse((res) => res.url().endsWith('/mfa') && res.request().method() === 'POST');
    await submitCode(page, codeAt(0));
    assert.equal((await limited).status(), 429);
    assert.match((await page.locator('#error').textContent())!, /Too many wrong codes/);
    await context.close();

    const config = join(dir, 'openfed.yaml');
    writeFileSync(config, stringify({ dataDir: server.dataDir, directory: { demo: { usersFile } }, keys: { encryptionSecret: server.config.keys.encryptionSecret } }));
    const reset = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mfa', 'reset', USER], { env: { ...process.env, OPENFED_CONFIG: config } });
    assert.match(reset.stdout + reset.stderr, /reset|enrol/i);
    const fresh = await browserAt(HOME);
    await passwordStep(fresh.page);
    assert.equal(await fresh.page.locator('figure.qr svg').count(), 1, 'after the reset: enrolment again');
    await fresh.context.close();
  });
});
