/**
 * What people see, in headless Chromium: every page in every language passes axe (WCAG 2.1 AA, light
 * and dark), the sign-in works from the keyboard alone, pages fit 320 px and 200 % zoom, the language
 * follows Accept-Language and a ?lang= choice survives the sign-in flow, keep-me-signed-in outlives a
 * browser restart, and a locked-out user reads the same words as a wrong password. The change-password
 * pages are among them: the form, a refusal, done, and unavailable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { stringify } from 'yaml';
import { DEMO_PASSWORD, DEMO_USER, hashPassword } from '../../src/directory/demo.js';
import { CATALOGUES, LANGUAGES, type Language } from '../../src/web/i18n/index.js';
import { launchBrowser } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { freePort, rpConfigFor, startTestSp, type TestSp } from '../helpers/test-sp.js';

const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
/** A user of this file whose password the change-password pages change (the demo user's never does). */
const CHANGER = 'changer@openfed.test';
const UPDATE_PASSWORD = '/adfs/portal/updatepassword';

async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(WCAG_AA).analyze();
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('the pages people see, in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let sp: TestSp;
  let idpBase: string;
  let usersDir: string;
  /** CHANGER's password now: each visit to the "changed" page changes it again. */
  let changerPassword = 'Start-Passw0rd-1';
  let changes = 0;

  before(async () => {
    usersDir = mkdtempSync(join(tmpdir(), 'openfed-experience-'));
    const usersFile = join(usersDir, 'users.yaml');
    writeFileSync(
      usersFile,
      stringify({
        users: [
          { userPrincipalName: DEMO_USER, sAMAccountName: 'demo', passwordHash: await hashPassword(DEMO_PASSWORD), mail: DEMO_USER, displayName: 'Demo User', givenName: 'Demo', sn: 'User', groups: [{ name: 'Demo-Users' }] },
          { userPrincipalName: CHANGER, sAMAccountName: 'changer', passwordHash: await hashPassword(changerPassword), displayName: 'Chris Changer' },
        ],
      }),
      { mode: 0o600 },
    );
    const port = await freePort();
    idpBase = `http://127.0.0.1:${port}`;
    sp = await startTestSp({ idpBase, name: 'Expenses' });
    server = await startTestServer({
      server: { port, baseUrl: idpBase },
      directory: { demo: { usersFile } },
      relyingParties: [{ ...rpConfigFor(sp), allowIdpInitiated: true }],
      saml: { idpInitiatedSignOnPage: true },
      sessions: { keepMeSignedIn: { enabled: true, lifetimeMinutes: 1440 } },
      branding: { organisationName: 'Contoso', helpDeskUrl: 'https://help.contoso.test/', privacyUrl: 'https://contoso.test/privacy', signInText: { en: 'For Contoso staff.', de: 'Für Mitarbeitende von Contoso.', fr: 'Pour le personnel de Contoso.' } },
    });
    sp.setIdpCert(server.deps.keys.primary.certificate.toString());
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await sp?.stop();
    if (usersDir) rmSync(usersDir, { recursive: true, force: true });
  });

  async function signIn(page: Page, options: { kmsi?: boolean } = {}): Promise<void> {
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', DEMO_PASSWORD);
    if (options.kmsi) await page.check('#kmsi');
    await page.click('button[type=submit]');
  }

  /** Every page a person can meet, visited in one browser context: [name, how to get there]. */
  function pages(lang: Language): Array<[string, (page: Page) => Promise<void>]> {
    const q = `lang=${lang}`;
    return [
      ['sign-in', async (page) => void (await page.goto(`${idpBase}/signin?${q}`))],
      ['sign-in with an error', async (page) => {
        await page.goto(`${idpBase}/signin?${q}`);
        await page.fill('#username', DEMO_USER);
        await page.fill('#password', 'wrong');
        await page.click('button[type=submit]');
        await page.waitForSelector('#error');
      }],
      ['home, signed out', async (page) => void (await page.goto(`${idpBase}/?${q}`))],
      ['home, signed in', async (page) => {
        await page.goto(`${idpBase}/signin?${q}`);
        await signIn(page);
        await page.waitForURL(`${idpBase}/`);
        await page.goto(`${sp.url}/login`);
        await page.waitForURL(sp.acsUrl);
        await page.goto(`${idpBase}/`);
      }],
      ['IdP-initiated sign-on', async (page) => void (await page.goto(`${idpBase}/adfs/ls/idpinitiatedsignon?${q}`))],
      ['signed out', async (page) => {
        await page.goto(`${idpBase}/`);
        await page.click('form[action="/signout"] button');
        await page.waitForSelector('#signed-out-message', { timeout: 10_000 });
      }],
      ['not found', async (page) => void (await page.goto(`${idpBase}/nowhere?${q}`))],
      ['unknown application', async (page) => void (await page.goto(`${idpBase}/adfs/ls/?wa=wsignin1.0&wtrealm=urn:nobody&${q}`))],
      ['change password, sent from sign-in', async (page) => void (await page.goto(`${idpBase}${UPDATE_PASSWORD}?username=${CHANGER}&reason=expired&${q}`))],
      ['change password with an error', async (page) => {
        await page.goto(`${idpBase}${UPDATE_PASSWORD}?${q}`);
        await page.fill('#username', CHANGER);
        await page.fill('#currentPassword', changerPassword);
        await page.fill('#newPassword', 'Fresh-Passw0rd-A');
        await page.fill('#confirmPassword', 'Fresh-Passw0rd-B');
        await page.click('button[type=submit]');
        await page.waitForSelector('#error');
        assert.equal((await page.textContent('#error'))?.trim(), CATALOGUES[lang].passwordChange.failures.mismatch);
        assert.equal(await page.getAttribute('#newPassword', 'aria-invalid'), 'true');
        assert.equal(await page.getAttribute('#newPassword', 'aria-describedby'), 'error');
        assert.equal(await page.getAttribute('#currentPassword', 'aria-invalid'), null, 'only the fields the refusal is about');
      }],
      ['password changed', async (page) => {
        const next = `Fresh-Passw0rd-${++changes}`;
        await page.goto(`${idpBase}${UPDATE_PASSWORD}?${q}`);
        await page.fill('#username', CHANGER);
        await page.fill('#currentPassword', changerPassword);
        await page.fill('#newPassword', next);
        await page.fill('#confirmPassword', next);
        await page.click('button[type=submit]');
        await page.waitForSelector('#message');
        changerPassword = next;
        assert.equal((await page.textContent('h1'))?.trim(), CATALOGUES[lang].passwordChange.changedTitle);
      }],
      ['change password unavailable', async (page) => {
        // The demo directory can always change passwords; AD over plain LDAP cannot (the page then says so).
        const directory = server.deps.directory;
        const support = directory.passwordChangeSupport;
        directory.passwordChangeSupport = () => ({ available: false, detail: 'test: no LDAPS' });
        try {
          const response = await page.goto(`${idpBase}${UPDATE_PASSWORD}?${q}`);
          assert.equal(response?.status(), 503);
        } finally {
          directory.passwordChangeSupport = support;
        }
        assert.equal((await page.textContent('#message'))?.trim(), CATALOGUES[lang].passwordChange.unavailableText);
      }],
    ];
  }

  for (const lang of LANGUAGES) {
    test(`axe finds no WCAG 2.1 AA violation on any page (${lang}, light and dark)`, async () => {
      for (const colorScheme of ['light', 'dark'] as const) {
        const context = await browser.newContext({ colorScheme });
        const page = await context.newPage();
        const found: string[] = [];
        for (const [name, go] of pages(lang)) {
          await go(page);
          assert.equal(await page.getAttribute('html', 'lang'), lang, `${name} is in ${lang}`);
          for (const v of await axeViolations(page)) found.push(`${name} (${colorScheme}): ${v}`);
        }
        assert.deepEqual(found, []);
        await context.close();
      }
    });
  }

  test('the language follows Accept-Language, with English for a language we do not have', async () => {
    for (const [locale, lang] of [['de-DE', 'de'], ['fr-CA', 'fr'], ['es-ES', 'en'], ['en-GB', 'en']] as const) {
      const context = await browser.newContext({ locale });
      const page = await context.newPage();
      await page.goto(`${idpBase}/signin`);
      assert.equal(await page.getAttribute('html', 'lang'), lang, locale);
      assert.equal((await page.textContent('label[for=username]'))?.trim(), CATALOGUES[lang].signin.username);
      assert.equal(await page.title(), `${CATALOGUES[lang].signin.title} – Contoso`);
      await context.close();
    }
  });

  test('?lang= chosen on the sign-in page of an SP-initiated flow holds through it, and after', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${sp.url}/login`);
    await page.waitForURL(`${idpBase}/signin?**`);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await page.click('a[hreflang=fr]');
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
    assert.match(page.url(), /pending=/, 'the switch keeps the pending request');
    await page.fill('#username', DEMO_USER);
    await page.fill('#password', 'wrong');
    await page.click('button[type=submit]');
    assert.equal((await page.textContent('#error'))?.trim(), CATALOGUES.fr.signInFailure.invalid_credentials, 'the re-shown form is French too');
    await signIn(page);
    await page.waitForURL(sp.acsUrl);
    await page.goto(`${idpBase}/`);
    assert.equal((await page.textContent('h1'))?.trim(), CATALOGUES.fr.home.heading);
    assert.equal((await page.textContent('#applications li'))?.trim(), 'Expenses', 'the application of this session, by its name');
    await context.close();
  });

  test('keyboard only: the form is reached, filled and sent without a mouse; errors are announced', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${idpBase}/signin`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username', 'the user name has focus');
    await page.keyboard.type(DEMO_USER);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    await page.keyboard.type('wrong');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#error');
    assert.equal(await page.getAttribute('#error', 'role'), 'alert');
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    assert.match((await page.getAttribute('#password', 'aria-describedby')) ?? '', /\berror\b/);
    // The name is kept, so focus starts on the password.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    // Headless Chromium has no Caps Lock state of its own: the key event says it, as a real keyboard's would.
    await page.dispatchEvent('#password', 'keydown', { key: 'A', modifierCapsLock: true });
    assert.equal((await page.textContent('#caps'))?.trim(), CATALOGUES.en.signin.capsLock, 'caps lock is said');
    await page.dispatchEvent('#password', 'keyup', { key: 'a', modifierCapsLock: false });
    assert.equal((await page.textContent('#caps'))?.trim(), '');
    await page.keyboard.type(DEMO_PASSWORD);
    await page.keyboard.press('Tab'); // keep me signed in
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'kmsi');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'BUTTON');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${idpBase}/`);
    assert.equal((await page.textContent('#upn'))?.trim(), DEMO_USER);
    await context.close();
  });

  test('fits 320 px and 200 % zoom: no sideways scrolling, the button within reach', async () => {
    for (const viewport of [{ width: 320, height: 640 }, { width: 640, height: 400 }]) {
      const context = await browser.newContext({ viewport, locale: 'de-DE' });
      const page = await context.newPage();
      for (const path of ['/signin', '/nowhere', '/']) {
        await page.goto(`${idpBase}${path}`);
        const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
        assert.ok(scrollWidth <= clientWidth, `${path} at ${viewport.width}px: ${scrollWidth} > ${clientWidth}`);
      }
      await page.goto(`${idpBase}/signin`);
      const box = await page.locator('button[type=submit]').boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= viewport.width, 'the button is on screen');
      assert.ok(box.height >= 24, 'a target of at least 24 px');
      await context.close();
    }
  });

  test('keep me signed in outlives a browser restart; without it the session ends with the browser', async () => {
    for (const kmsi of [true, false]) {
      const first = await browser.newContext();
      const page = await first.newPage();
      await page.goto(`${idpBase}/signin`);
      await signIn(page, { kmsi });
      await page.waitForURL(`${idpBase}/`);
      // A restart keeps persistent cookies and drops session cookies.
      const state = await first.storageState();
      await first.close();
      const kept = state.cookies.filter((c) => c.expires !== -1);
      const restarted = await browser.newContext({ storageState: { cookies: kept, origins: [] } } satisfies BrowserContextOptions);
      const again = await restarted.newPage();
      await again.goto(`${sp.url}/login`);
      if (kmsi) {
        await again.waitForURL(sp.acsUrl);
        assert.equal((await again.textContent('#sp-name'))?.trim(), 'Expenses', 'SSO without a prompt after the restart');
      } else {
        await again.waitForURL(`${idpBase}/signin?**`);
      }
      await restarted.close();
    }
  });
});

describe('lockout in a real browser', () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer({ lockout: { mode: 'enforce', threshold: 2, perAddress: { attempts: 6, windowSeconds: 60 } } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a locked-out user reads what a wrong password reads (no enumeration); past the address limit, a page with a reference', async () => {
    const context = await browser.newContext({ locale: 'de-DE' });
    const page = await context.newPage();
    const attempt = async (password: string) => {
      await page.goto(`${server.url}/signin`);
      await page.fill('#username', DEMO_USER);
      await page.fill('#password', password);
      await page.click('button[type=submit]');
      await page.waitForLoadState();
    };
    await attempt('wrong-1');
    const wrong = (await page.textContent('#error'))?.trim();
    assert.equal(wrong, CATALOGUES.de.signInFailure.invalid_credentials);
    await attempt('wrong-2');
    await attempt(DEMO_PASSWORD); // locked out now: the right password is refused, in the same words
    assert.equal((await page.textContent('#error'))?.trim(), wrong);
    assert.equal(await page.$('.error .reference'), null, 'nothing hints that this one is different');
    for (let i = 0; i < 4; i++) await attempt('wrong');
    assert.equal((await page.textContent('h1'))?.trim(), CATALOGUES.de.page.too_many_attempts.title);
    assert.match((await page.textContent('#reference'))?.trim() ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(await axeViolations(page), []);
    await context.close();
  });
});
