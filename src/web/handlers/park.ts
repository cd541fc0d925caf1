import type { Response } from 'express';
import type { WebContext } from '../context.js';
import { ROUTES } from '../route-paths.js';

/**
 * Parks a trusted protocol request while the user signs in: the request itself under one id, and
 * for the sign-in form a pending entry that leads back to /adfs/ls/?resume=<that id>. The form
 * never sees protocol state, only where to return — a path our own code built.
 */
export async function parkForSignIn(
  res: Response,
  ctx: WebContext,
  state: { saml2: unknown } | { wsfed: unknown },
  signIn: { forceAuthn: boolean; loginHint?: string },
): Promise<void> {
  const ttl = ctx.config.sessions.pendingRequestMinutes * 60_000;
  const requestId = await ctx.pending.put({ path: ROUTES.sso, state }, ttl);
  const signInId = await ctx.pending.put({ path: `${ROUTES.sso}?resume=${requestId}`, forceAuthn: signIn.forceAuthn, loginHint: signIn.loginHint }, ttl);
  const hint = signIn.loginHint ? `&username=${encodeURIComponent(signIn.loginHint)}` : '';
  res.redirect(303, `${ROUTES.signIn}?pending=${signInId}${hint}`);
}
