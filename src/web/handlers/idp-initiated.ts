/**
 * /adfs/ls/ for SAML 2.0: thin glue between HTTP and protocols/saml2. Which message arrived, whose
 * session the browser has, where the browser goes next.
 */
import type { Request, Response } from 'express';
import { BadRequestError, NotFoundError } from '../../errors.js';
import type { TrustedAuthnRequest } from '../../protocols/saml2/idp.js';
import type { WebContext } from '../context.js';
import { renderPage } from '../render.js';
import { readSession } from '../sso-cookie.js';
import { handleLogoutRequest, handleLogoutResponse } from './saml2-logout.js';
import { parkForSignIn } from './park.js';
import { renderPost } from './post-binding.js';
import { recordTokenIssued, requesterOf } from './issued.js';

export function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`${name} is not a single value`);
  return value;
}

function rawQueryOf(req: Request): string {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? '' : req.originalUrl.slice(q + 1);
}

/** A SAMLRequest or SAMLResponse in the query (Redirect) or form (POST). Returns false when there is none. */
export async function handleSamlMessage(req: Request, res: Response, ctx: WebContext): Promise<boolean> {
  const post = req.method === 'POST';
  const params = (post ? req.body : req.query) as Record<string, unknown> | undefined;
  const samlRequest = single(params?.SAMLRequest, 'SAMLRequest');
  const samlResponse = single(params?.SAMLResponse, 'SAMLResponse');
  if (samlRequest === undefined && samlResponse === undefined) return false;
  if (samlRequest !== undefined && samlResponse !== undefined) throw new BadRequestError('both SAMLRequest and SAMLResponse');

  const received = await ctx.saml.receive({
    binding: post ? 'post' : 'redirect',
    message: (samlRequest ?? samlResponse)!,
    param: samlRequest !== undefined ? 'SAMLRequest' : 'SAMLResponse',
    relayState: single(params?.RelayState, 'RelayState'),
    rawQuery: post ? undefined : rawQueryOf(req),
  });
  switch (received.kind) {
    case 'AuthnRequest':
      req.log.info({ event: 'saml2.authn_request', rp: received.trusted.rpEntityId, id: received.trusted.request?.id }, 'SAML AuthnRequest');
      await continueSignOn(req, res, ctx, received.trusted);
      return true;
    case 'LogoutRequest':
      await handleLogoutRequest(req, res, ctx, received);
      return true;
    case 'LogoutResponse':
      await handleLogoutResponse(req, res, ctx, received);
      return true;
  }
}

/**
 * Answers a trusted request now if the browser has a fitting session; otherwise parks it and sends
 * the user to the sign-in form, which comes back through the passive endpoint's resume.
 */
export async function continueSignOn(req: Request, res: Response, ctx: WebContext, trusted: TrustedAuthnRequest): Promise<void> {
  const session = await readSession(req, ctx);
  const outcome = await ctx.saml.answer(trusted, session);
  if (outcome.action === 'post') {
    if (outcome.status === 'success' && session) {
      // The record just read already names this RP on every token after the first: no write then.
      if (!session.record.relyingParties.includes(trusted.rpEntityId)) await ctx.sessions.addRelyingParty(session.id, trusted.rpEntityId);
      recordTokenIssued(ctx, requesterOf(req), { protocol: 'saml2', rp: trusted.rpEntityId, upn: session.record.principal.userPrincipalName, nameId: outcome.nameId });
    } else {
      req.log.info({ event: 'saml2.error_response', rp: trusted.rpEntityId }, 'SAML error response sent to the relying party');
      ctx.audit.record({ type: 'token.refused', protocol: 'saml2', rp: trusted.rpEntityId, reason: 'error status sent to the relying party', clientIp: req.ip ?? '' }, String(req.id));
    }
    return renderPost(res, ctx, outcome.url, outcome.fields);
  }
  await parkForSignIn(req, res, ctx, { saml2: trusted }, outcome);
}


/** GET /adfs/ls/idpinitiatedsignon: the RPs that allow it, or straight to one with ?loginToRp=. Off by default, as in AD FS. */
export function idpInitiatedSignOn(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    if (!ctx.config.saml.idpInitiatedSignOnPage) throw new NotFoundError('the IdP-initiated sign-on page is disabled (saml.idpInitiatedSignOnPage)');
    const target = single(req.query.loginToRp, 'loginToRp');
    if (target !== undefined) {
      const trusted = ctx.saml.unsolicited(target, single(req.query.RelayState, 'RelayState'));
      return continueSignOn(req, res, ctx, trusted);
    }
    const session = await readSession(req, ctx);
    const rps = ctx.registry
      .all()
      .filter((rp) => rp.allowIdpInitiated)
      .map((rp) => ({ entityId: rp.entityId, name: rp.displayName }))
      .sort((a, b) => a.name.localeCompare(b.name));
    renderPage(req, res, ctx, 'idp-initiated', { title: 'Sign in to an application', rps, user: session?.record.principal.userPrincipalName ?? null });
  };
}
