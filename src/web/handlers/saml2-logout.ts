/**
 * SAML 2.0 single logout, front channel: the browser visits each SP that holds a piece of the SSO
 * session in turn (signed LogoutRequest out, LogoutResponse back to /adfs/ls/), then the SP that
 * started it gets its LogoutResponse — with PartialLogout when some SP did not confirm. The chain's
 * state waits in the pending store between hops, keyed by the RelayState we send.
 */
import type { Request, Response } from 'express';
import type { LogoutHop, LogoutInitiator, LogoutParticipant, Received } from '../../protocols/saml2/idp.js';
import type { WebContext } from '../context.js';
import { renderPage, serviceName } from '../render.js';
import { ROUTES } from '../route-paths.js';
import { endSession, readSession } from '../sso-cookie.js';
import { postBindingPage, renderPost } from './post-binding.js';

interface LogoutChain {
  initiator?: LogoutInitiator;
  remaining: LogoutParticipant[];
  /** The SP we are waiting to hear from. */
  awaiting?: string;
  partial: boolean;
  /** The request named a session other than this browser's: nothing was ended. */
  unknownPrincipal?: boolean;
  /** WS-Fed RPs of the session: wsignoutcleanup1.0 URLs loaded by the signed-out page. */
  wsfedCleanup?: string[];
  /** A registered wreply to offer once everything is signed out (wsignout1.0). */
  returnTo?: string;
}

type LogoutRequestReceived = Extract<Received, { kind: 'LogoutRequest' }>;
type LogoutResponseReceived = Extract<Received, { kind: 'LogoutResponse' }>;

/** A LogoutRequest from an SP: end the session if it is the one named, then tell the other SPs. */
export async function handleLogoutRequest(req: Request, res: Response, ctx: WebContext, received: LogoutRequestReceived): Promise<void> {
  const { rp, request } = received;
  const session = await readSession(req, ctx);
  const initiator: LogoutInitiator = { rpEntityId: rp.entityId, requestId: request.id, relayState: received.relayState };
  if (session && !ctx.saml.logoutMatchesSession(rp, request, session)) {
    // Another user's (or an old session's) logout must not end this browser's session.
    req.log.warn({ event: 'saml2.logout_mismatch', rp: rp.entityId }, 'LogoutRequest does not name this session');
    return finish(req, res, ctx, { initiator, remaining: [], partial: false, unknownPrincipal: true });
  }
  const participants = session ? ctx.saml.logoutParticipants(session, rp.entityId) : [];
  const wsfedCleanup = session ? ctx.wsfed.cleanupUrls(session.record) : [];
  await endSession(req, res, ctx);
  req.log.info({ event: 'signout', initiator: rp.entityId, upn: session?.record.principal.userPrincipalName, others: participants.length }, 'single logout');
  ctx.audit.record(
    { type: 'signout', upn: session?.record.principal.userPrincipalName, initiator: rp.entityId, relyingParties: participants.length + wsfedCleanup.length, clientIp: req.ip ?? '' },
    String(req.id),
  );
  await next(req, res, ctx, { initiator, remaining: participants, partial: false, wsfedCleanup });
}

/** A LogoutResponse from an SP we sent a LogoutRequest to: note the answer, go on to the next SP. */
export async function handleLogoutResponse(req: Request, res: Response, ctx: WebContext, received: LogoutResponseReceived): Promise<void> {
  const parked = received.relayState ? await ctx.pending.take(received.relayState) : undefined;
  const chain = parked?.state?.slo as LogoutChain | undefined;
  if (!chain) return renderPage(req, res, ctx, 'signed-out', { title: 'Signed out', partial: false });
  const confirmed = chain.awaiting === received.rp.entityId && received.response.statusCode === 'urn:oasis:names:tc:SAML:2.0:status:Success';
  if (!confirmed) req.log.warn({ event: 'saml2.logout_not_confirmed', rp: received.rp.entityId }, 'an SP did not confirm logout');
  await next(req, res, ctx, { ...chain, awaiting: undefined, partial: chain.partial || !confirmed });
}

/**
 * Sign-out that starts here: the home page's button, or WS-Federation wsignout1.0. Every SAML SP of
 * the session is told in turn; WS-Fed RPs get wsignoutcleanup1.0 from the signed-out page.
 */
export async function signOutEverywhere(req: Request, res: Response, ctx: WebContext, returnTo?: string): Promise<void> {
  const session = await readSession(req, ctx);
  const participants = session ? ctx.saml.logoutParticipants(session) : [];
  const wsfedCleanup = session ? ctx.wsfed.cleanupUrls(session.record) : [];
  await endSession(req, res, ctx);
  if (session) {
    req.log.info({ event: 'signout', upn: session.record.principal.userPrincipalName, others: participants.length + wsfedCleanup.length }, 'signed out');
    ctx.audit.record({ type: 'signout', upn: session.record.principal.userPrincipalName, relyingParties: participants.length + wsfedCleanup.length, clientIp: req.ip ?? '' }, String(req.id));
  }
  await next(req, res, ctx, { remaining: participants, partial: false, wsfedCleanup, returnTo });
}

async function next(req: Request, res: Response, ctx: WebContext, chain: LogoutChain): Promise<void> {
  const remaining = [...chain.remaining];
  let partial = chain.partial;
  for (let participant = remaining.shift(); participant; participant = remaining.shift()) {
    const waiting: LogoutChain = { ...chain, remaining, awaiting: participant.rpEntityId, partial };
    const stateId = await ctx.pending.put({ path: ROUTES.sso, state: { slo: waiting } }, ctx.config.sessions.pendingRequestMinutes * 60_000);
    const out = ctx.saml.logoutRequest(participant, stateId);
    if (out) return send(req, res, ctx, out.hop);
    partial = true; // the SP lost its SLO endpoint meanwhile
    await ctx.pending.take(stateId);
  }
  return finish(req, res, ctx, { ...chain, remaining: [], partial });
}

function finish(req: Request, res: Response, ctx: WebContext, chain: LogoutChain): void {
  const outcome = chain.unknownPrincipal ? 'unknown-principal' : chain.partial ? 'partial' : 'success';
  const hop = chain.initiator && ctx.saml.logoutResponse(chain.initiator, outcome);
  // WS-Fed RPs are cleaned up by the browser loading wsignoutcleanup1.0 as images (as AD FS does):
  // on the signed-out page, or on the page that carries the LogoutResponse on to the SAML SP.
  const cleanup = chain.wsfedCleanup ?? [];
  if (hop) return send(req, res, ctx, hop, cleanup);
  if (cleanup.length) res.set('Content-Security-Policy', pageCsp(cleanup));
  renderPage(req, res, ctx, 'signed-out', { title: 'Signed out', partial: chain.partial, cleanup, returnTo: chain.returnTo ?? null });
}

/** Our usual policy, plus the cleanup URLs' origins as image sources and, for a POST hop, its target. */
function pageCsp(cleanup: readonly string[], formAction?: string): string {
  const origins = [...new Set(cleanup.map((u) => new URL(u).origin))].join(' ');
  return `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' ${origins}; form-action ${formAction ? new URL(formAction).origin : "'self'"}; frame-ancestors 'none'; base-uri 'none'`;
}

function send(req: Request, res: Response, ctx: WebContext, hop: LogoutHop, cleanup: readonly string[] = []): void {
  res.set('Cache-Control', 'no-store');
  if (hop.action === 'post') {
    if (!cleanup.length) return renderPost(res, ctx, hop.url, hop.fields);
    res.set('Content-Security-Policy', pageCsp(cleanup, hop.url));
    res.type('html').send(postBindingPage({ title: 'Signing you out…', serviceName: serviceName(ctx), action: hop.url, fields: hop.fields, cleanup }));
    return;
  }
  // After our own sign-out form a 303 elsewhere would meet the page's CSP form-action, and cleanup
  // images need a page to load on: a same-origin page moves on once they have loaded.
  if (cleanup.length || (req.method === 'POST' && req.path === ROUTES.signOut)) {
    if (cleanup.length) res.set('Content-Security-Policy', pageCsp(cleanup));
    return renderPage(req, res, ctx, 'redirect', { title: 'Signing you out…', target: hop.url, cleanup });
  }
  res.redirect(303, hop.url);
}
