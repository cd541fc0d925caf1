/**
 * `npm run screenshots`: OpenFed on its embedded defaults (the demo directory, a throw-away data
 * directory, loopback), driven by headless Chromium through the main pages, written as PNGs to
 * docs/screenshots/ for the README: desktop (1024 px) and phone (375 px), light and one dark.
 * Kept small on purpose: a handful of files at device scale 1.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { parseConfig } from '../src/config/load.js';
import { DEMO_PASSWORD, DEMO_USER } from '../src/directory/demo.js';
import { silentLogger } from '../src/log.js';
import { startServer } from '../src/server.js';
import { launchBrowser } from '../test/helpers/browser.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const DESKTOP = { width: 1024, height: 720 };
const PHONE = { width: 375, height: 740 };

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  console.log(`docs/screenshots/${name}.png`);
}

async function signIn(page: Page, base: string): Promise<void> {
  await page.goto(`${base}/signin`);
  await page.fill('#username', DEMO_USER);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'openfed-screenshots-'));
  const config = parseConfig({ dataDir, server: { host: '127.0.0.1', port: 0 }, sessions: { keepMeSignedIn: { enabled: true } }, log: { level: 'silent' } });
  const server = await startServer(config, silentLogger);
  let browser: Browser | undefined;
  try {
    mkdirSync(OUT, { recursive: true });
    browser = await launchBrowser();
    const base = server.url;

    const desktop = await (await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' })).newPage();
    await desktop.goto(`${base}/signin`);
    await shot(desktop, 'signin-desktop');
    await signIn(desktop, base);
    await shot(desktop, 'home-desktop');

    const phone = await (await browser.newContext({ viewport: PHONE, locale: 'en-GB', isMobile: true, hasTouch: true })).newPage();
    await phone.goto(`${base}/signin`);
    await phone.fill('#username', DEMO_USER);
    await phone.fill('#password', 'not-the-password');
    await phone.click('button[type=submit]');
    await phone.waitForSelector('#error');
    await shot(phone, 'signin-error-phone');
    await signIn(phone, base);
    await phone.click('form[action="/signout"] button');
    await phone.waitForSelector('#signed-out-message');
    await shot(phone, 'signed-out-phone');

    const german = await (await browser.newContext({ viewport: PHONE, locale: 'de-DE', colorScheme: 'dark', isMobile: true })).newPage();
    await german.goto(`${base}/adfs/ls/?wa=wsignin1.0&wtrealm=urn:unknown-application`);
    await shot(german, 'error-de-dark-phone');
    await german.goto(`${base}/signin?lang=fr`);
    await german.emulateMedia({ colorScheme: 'dark' });
    await german.setViewportSize(DESKTOP);
    await shot(german, 'signin-fr-dark-desktop');
  } finally {
    await browser?.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
