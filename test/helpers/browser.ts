/**
 * Headless Debian Chromium driven by playwright-core (its own browser download cannot work here).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** `env` and `args` add to the defaults (a Kerberos ticket cache, the auth allowlist, resolver rules). */
export async function launchBrowser(options: { env?: Record<string, string>; args?: string[] } = {}): Promise<Browser> {
  // Never skip: a browser test that skips itself when Chromium is missing proves nothing.
  if (!existsSync(EXECUTABLE)) throw new Error(`${EXECUTABLE} not found: apt-get install chromium`);
  return chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      ...(options.args ?? []),
    ],
    ...(options.env ? { env: { ...(process.env as Record<string, string>), ...options.env } } : {}),
  });
}
