/**
 * The HTTP-POST binding page: a form that submits itself through a script from our own origin, and a
 * button for browsers without JavaScript. Its CSP (http.ts) allows posting to this one endpoint only.
 */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const HTML_SPECIAL = /[&<>"']/g;

/** Text for an HTML attribute value or element content: the five characters that could end either, escaped. */
export function escapeHtml(value: string): string {
  return value.replace(HTML_SPECIAL, (c) => HTML_ESCAPES[c]!);
}

export interface PostBindingPage {
  title: string;
  serviceName: string;
  action: string;
  fields: Record<string, string>;
  /** Images that sign the browser out elsewhere (WS-Fed wsignoutcleanup1.0) before the form leaves. */
  cleanup?: readonly string[];
}

/**
 * The page as a string: it is served with every token, where a template engine's per-render work
 * (include lookups on disk, a locals object, the CSRF cookie other pages need) cost more than
 * building it. The markup is views/partials/top.ejs + bottom.ejs around the form.
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
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `  <meta name="referrer" content="no-referrer">\n  <title>${title} – ${service}</title>\n  <link rel="stylesheet" href="/assets/openfed.css">\n</head>\n` +
    `<body>\n<main class="card">\n  <header class="brand">${service}</header>\n\n  <h1>Signing you in…</h1>\n` +
    `  <form method="post" action="${escapeHtml(page.action)}" id="post-binding">\n    ${inputs}\n` +
    `    <noscript><p>JavaScript is off: press Continue to finish signing in.</p></noscript>\n    <button type="submit">Continue</button>\n  </form>\n` +
    `  ${images}\n\n  <script src="/assets/autopost.js"></script>\n</main>\n</body>\n</html>\n\n`
  );
}
