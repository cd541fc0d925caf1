import type { Request, Response } from 'express';
import type { WebContext } from './web-context.js';

/**
 * Renders a page from views/ with what every page needs: the CSRF token for its forms, the request
 * id to quote to the help desk, and no caching (these pages show who is signed in).
 */
export function renderPage(req: Request, res: Response, ctx: WebContext, view: string, locals: Record<string, unknown>): void {
  res.set('Cache-Control', 'no-store');
  res.render(view, {
    ...locals,
    csrfToken: ctx.csrf.token(req, res),
    requestId: String(req.id ?? ''),
    serviceName: serviceName(ctx),
  });
}

/** The name pages show as the service: the host users typed. */
export function serviceName(deps: Pick<WebContext, 'config'>): string {
  return new URL(deps.config.server.baseUrl).hostname;
}
