/**
 * The Content-Security-Policy of every response, in one place. Pages run only our own script and
 * styles, are never framed, and post forms only to us — except the pages that must post elsewhere
 * (a token to an ACS or reply URL, a logout message to an SP) or load another origin's images
 * (WS-Fed wsignoutcleanup1.0), which widen exactly that directive to exactly that origin.
 */
export interface CspWidening {
  /** The URL a form on the page posts to: its origin becomes the only form-action. */
  formAction?: string;
  /** URLs the page loads as images: their origins join img-src. */
  images?: readonly string[];
}

export function contentSecurityPolicy(widening: CspWidening = {}): string {
  const images = [...new Set((widening.images ?? []).map((url) => new URL(url).origin))];
  const imgSrc = ["'self'", ...images].join(' ');
  const formAction = widening.formAction === undefined ? "'self'" : new URL(widening.formAction).origin;
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src ${imgSrc}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

/** The policy of every page that does not widen it, worked out once. */
export const DEFAULT_CSP = contentSecurityPolicy();
