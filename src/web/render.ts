import type { IncomingMessage } from 'node:http';
import type { Request, Response } from 'express';
import type { Config } from '../config/schema.js';
import { brandingOf } from './branding.js';
import { pageLanguage, type Language, type PageLanguage, type Translate } from './i18n/index.js';
import type { WebContext } from './web-context.js';

/** What views/partials/top.ejs and bottom.ejs need, whoever renders the page (express or a front door). */
export interface LayoutLocals extends PageLanguage {
  brand: {
    /** The organisation's name, or the neutral product name in the page's language: never a host name. */
    name: string;
    organisation?: string;
    logoHref?: string;
    themeHref: string;
    helpDeskUrl?: string;
    privacyUrl?: string;
  };
  /** Show the language switch: not on pages whose address is a one-time protocol message. */
  languageSwitch: boolean;
  requestId: string;
  /** Intl formatting for the page's language, for values a template prints. */
  formatDate: (when: Date | number) => string;
}

export function layoutLocals(
  req: IncomingMessage & { originalUrl?: string },
  config: Config,
  options: { here?: string; languageSwitch?: boolean } = {},
): LayoutLocals {
  const language = pageLanguage(req, options.here);
  const branding = brandingOf(config);
  return {
    ...language,
    brand: {
      name: brandName(config, language.t),
      organisation: branding.organisationName,
      logoHref: branding.logoHref,
      themeHref: branding.themeHref,
      helpDeskUrl: branding.helpDeskUrl,
      privacyUrl: branding.privacyUrl,
    },
    languageSwitch: options.languageSwitch ?? true,
    requestId: String(req.id ?? ''),
    formatDate: dateFormatter(language.lang),
  };
}

export function brandName(config: Config, t: Translate): string {
  return brandingOf(config).organisationName ?? t('layout.product');
}

const dateFormatters = new Map<Language, Intl.DateTimeFormat>();
function dateFormatter(lang: Language): (when: Date | number) => string {
  let format = dateFormatters.get(lang);
  if (!format) {
    format = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'long' });
    dateFormatters.set(lang, format);
  }
  return (when) => format.format(when);
}

/**
 * Renders a page from views/ with what every page needs: its language and the branding, the CSRF
 * token for its forms, the request id to quote to the help desk, and no caching (these pages show
 * who is signed in). `here` is the page's own address when the request's is not (a form re-shown
 * after its POST), for the language switch.
 */
export function renderPage(req: Request, res: Response, ctx: WebContext, view: string, locals: Record<string, unknown>, here?: string): void {
  res.set('Cache-Control', 'no-store');
  res.render(view, {
    ...layoutLocals(req, ctx.config, { here }),
    ...locals,
    csrfToken: ctx.csrf.token(req, res),
  });
}
