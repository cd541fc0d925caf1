import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { BadRequestError } from '../../errors.js';
import type { PendingRequest } from '../../sessions/types.js';
import type { WebContext } from '../context.js';
import { ROUTES } from '../route-paths.js';
import { ssoCookieOptions } from '../sso-cookie.js';

/**
 * Parked requests belong to the browser that made them: a random value in this cookie is stored with
 * each one and must come back on resume, so a leaked resume id is useless in another browser.
 */
const FLOW_COOKIE = 'openfed_flow';
const FLOW_VALUE = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * Parks a trusted protocol request while the user signs in: the request itself under one id, and
 * for the sign-in form a pending entry that leads back to /adfs/ls/?resume=<that id>. The form
 * never sees protocol state, only where to return — a path our own code built.
 */
export async function parkForSignIn(
  req: Request,
  res: Response,
  ctx: WebContext,
  state: { saml2: unknown } | { wsfed: unknown },
  signIn: { forceAuthn: boolean; loginHint?: string },
): Promise<void> {
  const ttl = ctx.config.sessions.pendingRequestMinutes * 60_000;
  const flow = flowOf(req) ?? randomBytes(18).toString('base64url');
  res.cookie(FLOW_COOKIE, flow, { ...ssoCookieOptions(ctx), maxAge: ttl });
  const requestId = await ctx.pending.put({ path: ROUTES.sso, state: { ...state, flow: digest(flow) } }, ttl);
  const signInId = await ctx.pending.put({ path: `${ROUTES.sso}?resume=${requestId}`, forceAuthn: signIn.forceAuthn, loginHint: signIn.loginHint }, ttl);
  const hint = signIn.loginHint ? `&username=${encodeURIComponent(signIn.loginHint)}` : '';
  res.redirect(303, `${ROUTES.signIn}?pending=${signInId}${hint}`);
}

/** Takes a parked request back, only in the browser that parked it. */
export async function unpark(req: Request, ctx: WebContext, id: string): Promise<PendingRequest['state']> {
  const parked = await ctx.pending.take(id);
  const stored = parked?.state?.flow;
  const flow = flowOf(req);
  if (typeof stored !== 'string' || !flow || !sameDigest(stored, digest(flow))) {
    throw new BadRequestError('no such pending request for this browser (expired, already used, or started elsewhere)');
  }
  return parked!.state;
}

function flowOf(req: Request): string | undefined {
  const value: unknown = req.cookies?.[FLOW_COOKIE];
  return typeof value === 'string' && FLOW_VALUE.test(value) ? value : undefined;
}

// Only a digest is stored, so the pending store never holds the browser's secret itself.
const digest = (flow: string) => createHash('sha256').update(flow).digest('base64url');
const sameDigest = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
