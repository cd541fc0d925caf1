import type { Request, Response } from 'express';
import type { WebContext } from '../web-context.js';
import { applicationName } from '../applications.js';
import { pageLanguage } from '../i18n/index.js';
import { renderPage } from '../render.js';
import { readSession } from '../sso-cookie.js';
import { expressRequestParts, writeAnswer } from '../passive/http.js';

/**
 * GET /: who is signed in, the applications of this session, a sign-out button; otherwise a link to
 * sign in.
 */
export function home(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    const session = await readSession(req, ctx);
    if (!session) return renderPage(req, res, ctx, 'home', { user: null });
    const p = session.record.principal;
    const { lang } = pageLanguage(req);
    renderPage(req, res, ctx, 'home', {
      user: {
        displayName: p.displayName ?? p.userPrincipalName,
        userPrincipalName: p.userPrincipalName,
        downLevelName: `${p.netbiosDomain}\\${p.sAMAccountName}`,
        groups: p.groups.map((g) => g.name).sort((a, b) => a.localeCompare(b, lang)),
        authnInstant: new Date(session.record.authnInstant),
        expiresAt: new Date(session.record.expiresAt),
        expiresIn: relativeTime(lang, session.record.expiresAt - ctx.clock.now()),
      },
      applications: session.record.relyingParties.map((rp) => applicationName(ctx, rp)).sort((a, b) => a.localeCompare(b, lang)),
    });
  };
}

/** "in 8 hours", "in 45 Minuten", "dans 3 jours": the largest unit that reads naturally. */
function relativeTime(lang: string, ms: number): string {
  const format = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return format.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  return hours < 48 ? format.format(hours, 'hour') : format.format(Math.round(hours / 24), 'day');
}

/**
 * POST /signout: ends the SSO session and signs out of every SAML SP of the session that has an SLO
 * endpoint (CSRF-checked, so no other site can sign a user out).
 */
export function signOut(ctx: WebContext) {
  return async (req: Request, res: Response) => writeAnswer(req, res, ctx, await ctx.passive.signOutEverywhere(expressRequestParts(req, { fromSignOutForm: true })));
}
