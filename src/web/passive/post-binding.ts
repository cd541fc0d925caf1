/**
 * The HTTP-POST binding page: a form that submits itself through a script from our own origin, and a
 * button for browsers without JavaScript. Its CSP (http.ts) allows posting to this one endpoint only.
 */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
/** The five characters that could end an attribute or element, and every code point beyond ASCII. */
const TO_ESCAPE = /[&<>"'\u{80}-\u{10FFFF}]/gu;

/**
 * Text for an HTML attribute value or element content: the five characters that could end either
 * escaped, and anything beyond ASCII as a numeric character reference, which the browser decodes to
 * the same character (a form submits it as typed). The page then stays ASCII from end to end: V8
 * keeps it in one-byte strings, so the 10 KB of a token are neither widened to two bytes per
 * character when they are concatenated nor re-encoded for the socket (about 11 µs of a token).
 */
export function escapeHtml(value: string): string {
  return value.replace(TO_ESCAPE, (c) => HTML_ESCAPES[c] ?? `&#${c.codePointAt(0)};`);
}

/** The page's words and look, in the reader's language (passive/http.ts keeps them per language). */
export interface PostBindingWords {
  title: string;
  serviceName: string;
  /** Defaults: English, as the page read before it had languages. */
  lang?: string;
  heading?: string;
  noScript?: string;
  continueLabel?: string;
  /** The branding theme stylesheet (web/branding.ts). */
  themeHref?: string;
}

export interface PostBindingPage extends PostBindingWords {
  action: string;
  fields: Record<string, string>;
  /** Images that sign the browser out elsewhere (WS-Fed wsignoutcleanup1.0) before the form leaves. */
  cleanup?: readonly string[];
}

/**
 * The page as a string: it is served with every token, where a template engine's per-render work
 * (include lookups on disk, a locals object, the CSRF cookie other pages need) cost more than
 * building it. The markup is views/partials/top.ejs + bottom.ejs around the form, in ASCII (see escapeHtml).
 */
export function postBindingPage(page: PostBindingPage): string {
  const title = escapeHtml(page.title);
  const service = escapeHtml(page.serviceName);
  let inputs = '';
  for (const name of Object.keys(page.fields)) {
    inputs += `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(page.fields[name]!)}">\n    `;
  }
  let images = '';
  for (const url of page.cleanup ?? []) images += `<img class="cleanup" src="${escapeHtml(url)}" alt="" width="1" height="1">\n`;
  const theme = page.themeHref ? `  <link rel="stylesheet" href="${escapeHtml(page.themeHref)}">\n` : '';
  return (
    `<!doctype html>\n<html lang="${escapeHtml(page.lang ?? 'en')}">\n<head>\n  <meta charset="utf-8">\n  <meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `  <meta name="referrer" content="no-referrer">\n  <meta name="color-scheme" content="light dark">\n  <title>${title} &#8211; ${service}</title>\n` +
    `  <link rel="stylesheet" href="/assets/openfed.css">\n${theme}</head>\n` +
    `<body>\n<main class="card">\n  <p class="brand"><span>${service}</span></p>\n\n  <h1>${escapeHtml(page.heading ?? 'Signing you in\u2026')}</h1>\n` +
    `  <form method="post" action="${escapeHtml(page.action)}" id="post-binding">\n    ${inputs}\n` +
    `    <noscript><p>${escapeHtml(page.noScript ?? 'JavaScript is off: press Continue to finish signing in.')}</p></noscript>\n` +
    `    <button type="submit">${escapeHtml(page.continueLabel ?? 'Continue')}</button>\n  </form>\n` +
    `  ${images}\n\n  <script src="/assets/autopost.js"></script>\n</main>\n</body>\n</html>\n\n`
  );
}
