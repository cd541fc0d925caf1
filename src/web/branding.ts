/**
 * The configured look (config.branding) as the pages use it: names, links, and two generated assets,
 * the theme stylesheet and the logo.
 *
 * The accent colour reaches CSS as a custom property in a stylesheet of its own
 * (/branding/theme.<hash>.css) rather than a style attribute or a <style> element: the CSP stays
 * `style-src 'self'` with no 'unsafe-inline' and no per-response nonce (the token page is a
 * precomputed string, and a nonce would make every page's policy differ). The hash in the name
 * changes with the colour, so the file can be cached for a year and a new colour still shows at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config } from '../config/schema.js';
import { ROUTES } from './route-paths.js';
import type { Language } from './i18n/index.js';

export interface BrandingAsset {
  type: string;
  body: Buffer;
}

export interface Branding {
  organisationName?: string;
  helpDeskUrl?: string;
  privacyUrl?: string;
  themeHref: string;
  logoHref?: string;
  signInText(lang: Language): string | undefined;
  /** The generated asset at /branding/<name>, if there is one by that name. */
  asset(name: string): BrandingAsset | undefined;
}

const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
};

const hash8 = (body: Buffer) => createHash('sha256').update(body).digest('hex').slice(0, 8);

/** One Branding per configuration object: the logo is read once, at the first page (server start). */
const built = new WeakMap<Config, Branding>();

export function brandingOf(config: Config): Branding {
  let branding = built.get(config);
  if (!branding) {
    branding = buildBranding(config.branding);
    built.set(config, branding);
  }
  return branding;
}

function buildBranding(settings: Config['branding']): Branding {
  const assets = new Map<string, BrandingAsset>();
  const theme = Buffer.from(`:root { --accent: ${settings.accentColour}; }\n`);
  const themeName = `theme.${hash8(theme)}.css`;
  assets.set(themeName, { type: 'text/css; charset=utf-8', body: theme });

  let logoName: string | undefined;
  if (settings.logoFile) {
    const ext = extname(settings.logoFile).toLowerCase();
    const body = readFileSync(settings.logoFile);
    logoName = `logo.${hash8(body)}${ext}`;
    assets.set(logoName, { type: IMAGE_TYPES[ext] ?? 'application/octet-stream', body });
  }

  const text = settings.signInText;
  return {
    organisationName: settings.organisationName,
    helpDeskUrl: settings.helpDeskUrl,
    privacyUrl: settings.privacyUrl,
    themeHref: `${ROUTES.branding}/${themeName}`,
    logoHref: logoName && `${ROUTES.branding}/${logoName}`,
    signInText: (lang) => (typeof text === 'string' ? text : (text?.[lang] ?? text?.en)),
    asset: (name) => assets.get(name),
  };
}
