/**
 * An access control policy's refusal as a person meets it, in headless Chromium: a WS-Fed relying party
 * (test/helpers/test-wsfed-rp.ts) whose policy denies the user's group sends them to sign in; after the
 * right password they read our "access denied" page (403) in the browser's language, with a reference
 * for the help desk, and the relying party gets no token. axe (WCAG 2.1 AA) finds nothing on the page,
 * light or dark. A colleague outside the group gets through, so the refusal is the policy's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/directory/demo.js';
import { CATALOGUES, LANGUAGES } from '../../src/web/i18n/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort } from '../helpers/test-sp.js';
import { startTestWsfedRp, UPN_CLAIM, type TestWsfedRp } from '../helpers/test-wsfed-rp.js';

const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const PASSWORD = 'Policy-Browser-Passw0rd';
const REALM = 'urn:wsfed:wiki';
const CONTRACTOR = 'contractor@contoso.test';
const STAFF = 'staff@contoso.test';
/** Accept-Language as a browser sends it, for each of our languages. */
const LOCALES = { en: 'en-GB', de: 'de-DE', fr: 'fr-FR' } as const;

describe('an access control policy refusal in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let rp: TestWsfedRp;
  let usersDir: string;

  before(async () => {
    usersDir = mkdtempSync(join(tmpdir(), 'openfed-policy-browser-'));
    const usersFile = join(usersDir, 'users.yaml');
    const passwordHash = await hashPassword(PASSWORD);
    writeFileSync(
      usersFile,
      stringify({
        users: [
          { userPrincipalName: CONTRACTOR, sAMAccountName: 'contractor', passwordHash, displayName: 'Casey Contractor', groups: [{ name: 'Contractors' }] },
          { userPrincipalName: STAFF, sAMAccountName: 'staff', passwordHash, displayName: 'Sam Staff', groups: [{ name: 'Staff' }] },
        ],
      }),
      { mode: 0o600 },
    );
    // OpenFed's port first: the RP must know OpenFed's URL, and OpenFed the RP's reply URL.
    const port = await freePort();
    const idpBase = `http://127.0.0.1:${port}`;
    rp = await startTestWsfedRp({ realm: REALM, idpBase, name: 'Wiki' });
    server = await startTestServer({
      server: { port, baseUrl: idpBase },
      directory: { demo: { usersFile } },
      accessControl: { policies: { noContractors: { template: 'denySpecificGroup', groups: ['contractors'] } } },
      wsfedRelyingParties: [{ realm: REALM, replyUrls: [rp.replyUrl], accessPolicy: 'noContractors', claims: [{ type: UPN_CLAIM, source: 'upn' }] }],
    });
    rp.setIdpCert(server.deps.keys.primary.certificateBase64);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await rp?.stop();
    if (usersDir) rmSync(usersDir, { recursive: true, force: true });
  });

  /** From the relying party's sign-in link through our form; the status of the page OpenFed ends on. */
  async function signInAtRp(page: Page, username: string): Promise<number | undefined> {
    let lastStatus: number | undefined;
    page.on('response', (response) => {
      if (response.request().isNavigationRequest() && response.url().startsWith(server.url)) lastStatus = response.status();
    });
    await page.goto(`${rp.url}/login`);
    await page.waitForURL(`${server.url}/signin?**`);
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForLoadState('load');
    return lastStatus;
  }

  for (const lang of LANGUAGES) {
    test(`a denied group reads "access denied" (403, ${lang}) with a reference; axe finds nothing, light and dark`, async () => {
      for (const colorScheme of ['light', 'dark'] as const) {
        const context = await browser.newContext({ locale: LOCALES[lang], colorScheme });
        const page = await context.newPage();
        const tokens: string[] = [];
        page.on('request', (req) => {
          if (req.url().startsWith(rp.replyUrl) && req.method() === 'POST') tokens.push(req.url());
        });
        const status = await signInAtRp(page, CONTRACTOR);
        assert.equal(status, 403);
        assert.ok(page.url().startsWith(`${server.url}/adfs/ls/`), `the page is OpenFed's: ${page.url()}`);
        assert.equal(await page.getAttribute('html', 'lang'), lang);
        const words = CATALOGUES[lang].page.access_denied;
        assert.equal((await page.textContent('h1'))?.trim(), words.title);
        assert.equal((await page.textContent('#message'))?.trim(), words.text);
        assert.equal(await page.getAttribute('#message', 'role'), 'alert');
        assert.match((await page.textContent('#reference'))?.trim() ?? '', /^[0-9a-f-]{36}$/, 'a reference for the help desk');
        assert.equal(await page.$('form input[name=wresult]'), null, 'no token on the page');
        assert.deepEqual(tokens, [], 'nothing was posted to the relying party');
        const result = await new AxeBuilder({ page }).withTags(WCAG_AA).analyze();
        assert.deepEqual(
          result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
          [],
          `${lang}, ${colorScheme}`,
        );
        await context.close();
      }
    });
  }

  test('someone outside the denied group gets through to the relying party', async () => {
    const context = await browser.newContext({ locale: 'de-DE' });
    const page = await context.newPage();
    await signInAtRp(page, STAFF);
    await page.waitForSelector('#welcome');
    assert.equal((await page.textContent('#upn'))?.trim(), STAFF);
    assert.ok(!rp.sessions().some((s) => s.upn === CONTRACTOR), 'never a session for the denied user');
    await context.close();
  });
});
