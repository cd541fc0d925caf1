import type { Request, Response } from 'express';
import type { WebContext } from '../context.js';
import { renderPage } from '../render.js';
import { endSession, readSession } from '../sso-cookie.js';

/** GET /: who is signed in, with a sign-out button; otherwise a link to sign in. */
export function home(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    const session = await readSession(req, ctx);
    if (!session) return renderPage(req, res, ctx, 'home', { title: 'OpenFed', user: null });
    const p = session.record.principal;
    renderPage(req, res, ctx, 'home', {
      title: 'Signed in',
      user: {
        displayName: p.displayName ?? p.userPrincipalName,
        userPrincipalName: p.userPrincipalName,
        downLevelName: `${p.netbiosDomain}\\${p.sAMAccountName}`,
        groups: p.groups.map((g) => g.name).sort((a, b) => a.localeCompare(b)),
        authnInstant: new Date(session.record.authnInstant).toISOString(),
        expiresAt: new Date(session.record.expiresAt).toISOString(),
      },
    });
  };
}

/** POST /signout: ends the SSO session (CSRF-checked, so no one can sign a user out from another site). */
export function signOut(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    const ended = await endSession(req, res, ctx);
    if (ended) {
      req.log.info({ event: 'signout', upn: ended.record.principal.userPrincipalName }, 'signed out');
    }
    renderPage(req, res, ctx, 'signed-out', { title: 'Signed out' });
  };
}
