/**
 * The Content-Security-Policy of every response, in one place. Pages run only our own script and
 * styles, are never framed, and post forms only to us — except the pages that must post elsewhere
 * (a token to an ACS or reply URL, a logout message to an SP) or load another origin's images
 * (WS-Fed wsignoutcleanup1.0), which widen exactly that directive to exactly that origin.
 */
import { InternalError } from '../errors.js';

export interface CspWidening {
  /** The URL a form on the page posts to: its origin becomes the only form-action. */
  formAction?: string;
  /** URLs the page loads as images: their origins join img-src. */
  images?: readonly string[];
}

export function contentSecurityPolicy(widening: CspWidening = {}): string {
  const images = [...new Set((widening.images ?? []).map(originOf))];
  const imgSrc = ["'self'", ...images].join(' ');
  const formAction = widening.formAction === undefined ? "'self'" : originOf(widening.formAction);
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src ${imgSrc}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

/**
 * An http(s) origin that is one source expression. Relying-party URLs are checked when registered;
 * this fails closed all the same: an opaque origin ("null") or one a header parser would split
 * (';' ',' or white space in the host) never widens a policy.
 */
function originOf(url: string): string {
  const origin = new URL(url).origin;
  if (!/^https?:\/\/[^\s;,'"]+$/.test(origin)) throw new InternalError(`no CSP source for ${url.slice(0, 200)}`);
  return origin;
}

/** The policy of every page that does not widen it, worked out once. */
export const DEFAULT_CSP = contentSecurityPolicy();
