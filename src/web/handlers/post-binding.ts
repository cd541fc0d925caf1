import type { Request, Response } from 'express';
import type { WebContext } from '../context.js';
import { renderPage } from '../render.js';

/**
 * The HTTP-POST binding page: a form that submits itself through a script from our own origin,
 * and a button for browsers without JavaScript. Its CSP allows posting to this one ACS only.
 */
export function renderPost(req: Request, res: Response, ctx: WebContext, url: string, fields: Record<string, string>): void {
  const origin = new URL(url).origin;
  res.set(
    'Content-Security-Policy',
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action ${origin}; frame-ancestors 'none'; base-uri 'none'`,
  );
  renderPage(req, res, ctx, 'post-binding', { title: 'Signing in', action: url, fields: Object.entries(fields) });
}
