/**
 * The page language and its catalogue. One i18next instance, loaded synchronously at import from the
 * catalogues compiled in (no files to read, no back end), so a page never waits for a language.
 *
 * The language of a request is, in order: `?lang=` (the switch on the pages), the language cookie that
 * switch set, Accept-Language, English. The cookie is what carries a choice through the sign-in flow:
 * /adfs/ls/ → /signin?pending=… → POST /signin → /adfs/ls/?resume=… are four requests, and only the
 * first or second has the parameter; carrying it in every URL we build would mean teaching each
 * protocol path about it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import accepts from 'accepts';
import i18next from 'i18next';
import { de } from './de.js';
import { en, type Catalogue } from './en.js';
import { fr } from './fr.js';

export const LANGUAGES = ['en', 'de', 'fr'] as const;
export type Language = (typeof LANGUAGES)[number];
export const CATALOGUES: Readonly<Record<Language, Catalogue>> = { en, de, fr };
export const LANGUAGE_COOKIE = 'openfed_lang';

/** Dotted paths to every string of the catalogue: 'signin.title', 'page.not_found.text', … */
type Paths<T> = { [K in keyof T & string]: T[K] extends string ? K : `${K}.${Paths<T[K]>}` }[keyof T & string];
export type MessageKey = Paths<Catalogue>;

/** A catalogue lookup in one language, values filled in and formatted for it. */
export type Translate = (key: MessageKey, values?: Record<string, unknown>) => string;

const i18n = i18next.createInstance();
void i18n.init({
  resources: Object.fromEntries(LANGUAGES.map((lang) => [lang, { translation: CATALOGUES[lang] }])),
  lng: 'en',
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  initAsync: false,
  // EJS escapes what a page prints (<%= %>) and the POST page escapes its own: escaping here too
  // would show "&amp;" to users.
  interpolation: { escapeValue: false },
});

const translators = new Map<Language, Translate>(
  LANGUAGES.map((lang) => {
    const t = i18n.getFixedT(lang);
    return [lang, (key: MessageKey, values?: Record<string, unknown>) => t(key, values ?? {}) as string];
  }),
);

export function translator(lang: Language): Translate {
  return translators.get(lang)!;
}

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

const LANG_PARAM = /[?&]lang=([A-Za-z-]{2,8})(?:&|$)/;
const LANG_COOKIE_VALUE = new RegExp(`(?:^|;\\s*)${LANGUAGE_COOKIE}=([a-z]{2})(?:;|$)`);

/** `?lang=` of a request URL, when it names a language we have. */
export function languageParam(url: string | undefined): Language | undefined {
  const value = LANG_PARAM.exec(url ?? '')?.[1]?.toLowerCase();
  return isLanguage(value) ? value : undefined;
}

/**
 * Accept-Language headers repeat (one per browser locale), so their answer is kept; the map is
 * bounded so that made-up headers cannot grow it.
 */
const negotiated = new Map<string, Language>();

export function languageOf(req: IncomingMessage): Language {
  const param = languageParam(req.url);
  if (param) return param;
  const cookie = LANG_COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1];
  if (isLanguage(cookie)) return cookie;
  const header = req.headers['accept-language'];
  if (!header) return 'en';
  let lang = negotiated.get(header);
  if (lang === undefined) {
    const best = accepts(req).languages([...LANGUAGES]);
    lang = isLanguage(best) ? best : 'en';
    if (negotiated.size >= 256) negotiated.clear();
    negotiated.set(header, lang);
  }
  return lang;
}

/**
 * Remembers a `?lang=` choice for the rest of the flow (and the next visit). Not HttpOnly-sensitive
 * data, but no script needs it either; Lax, so the relying party's redirect back still carries it.
 */
export function rememberLanguage(req: IncomingMessage, res: ServerResponse, secure: boolean): void {
  const param = languageParam(req.url);
  if (!param || LANG_COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1] === param) return;
  const attributes = `Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  res.appendHeader('Set-Cookie', `${LANGUAGE_COOKIE}=${param}; ${attributes}`);
}

/** What every page template needs to speak the request's language. */
export interface PageLanguage {
  lang: Language;
  t: Translate;
  /** The other languages, for the switch: a link to this same page in each. */
  languages: Array<{ lang: Language; name: string; href: string; current: boolean }>;
}

/** `here` is the page's own address when the request's is not (a form re-shown after its POST). */
export function pageLanguage(req: IncomingMessage & { originalUrl?: string }, here?: string): PageLanguage {
  const lang = languageOf(req);
  const url = new URL(here ?? req.originalUrl ?? req.url ?? '/', 'http://x');
  return {
    lang,
    t: translator(lang),
    languages: LANGUAGES.map((other) => {
      url.searchParams.set('lang', other);
      return { lang: other, name: CATALOGUES[other].meta.name, href: `${url.pathname}${url.search}`, current: other === lang };
    }),
  };
}
