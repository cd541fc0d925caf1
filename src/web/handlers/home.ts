import type { Request, Response } from 'express';
import type { WebContext } from '../web-context.js';
import { renderPage } from '../render.js';
import { readSession } from '../sso-cookie.js';
import { expressRequestParts, writeAnswer } from '../passive/http.js';

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

/**
 * POST /signout: ends the SSO session and signs out of every SAML SP of the session that has an SLO
 * endpoint (CSRF-checked, so no other site can sign a user out).
 */
export function signOut(ctx: WebContext) {
  return async (req: Request, res: Response) => writeAnswer(req, res, ctx, await ctx.passive.signOutEverywhere(expressRequestParts(req, { fromSignOutForm: true })));
}
