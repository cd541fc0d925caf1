/**
 * /adfs/ls/?wa=…: WS-Federation passive sign-in and sign-out. Thin glue around protocols/wsfed.
 */
import type { Request, Response } from 'express';
import { BadRequestError, WsfedError } from '../../errors.js';
import { readSignInRequest, WA, wsfedParticipant, type TrustedSignIn } from '../../protocols/wsfed/idp.js';
import type { WebContext } from '../context.js';
import { readSession } from '../sso-cookie.js';
import { renderPost } from './post-binding.js';
import { recordTokenIssued, requesterOf } from './issued.js';
import { parkForSignIn } from './park.js';
import { signOutEverywhere } from './saml2-logout.js';

/** Handles a request carrying wa=; returns false when there is none. */
export async function handleWsfed(req: Request, res: Response, ctx: WebContext): Promise<boolean> {
  const params = ((req.method === 'POST' ? req.body : req.query) ?? {}) as Record<string, unknown>;
  const wa = params.wa;
  if (wa === undefined) return false;
  if (typeof wa !== 'string') throw new BadRequestError('wa is not a single value');
  switch (wa) {
    case WA.signIn: {
      const trusted = ctx.wsfed.trust(readSignInRequest(params));
      req.log.info({ event: 'wsfed.signin_request', realm: trusted.realm }, 'WS-Fed sign-in request');
      await continueWsfed(req, res, ctx, trusted);
      return true;
    }
    case WA.signOut:
    case WA.signOutCleanup: {
      const realm = typeof params.wtrealm === 'string' ? params.wtrealm : undefined;
      const wreply = typeof params.wreply === 'string' ? params.wreply : undefined;
      // Only a reply URL registered for that realm is offered afterwards; anything else is ignored.
      await signOutEverywhere(req, res, ctx, ctx.wsfed.signOutReturn(realm, wreply));
      return true;
    }
    default:
      throw new WsfedError('wsfed_request_invalid', `unknown wa ${wa.slice(0, 40)}`);
  }
}

export async function continueWsfed(req: Request, res: Response, ctx: WebContext, trusted: TrustedSignIn): Promise<void> {
  const session = await readSession(req, ctx);
  const outcome = ctx.wsfed.answer(trusted, session, req.ip ?? '');
  if (outcome.action === 'post') {
    const participant = wsfedParticipant(trusted.realm);
    // The record just read already names this RP on every token after the first: no write then.
    if (!session!.record.relyingParties.includes(participant)) await ctx.sessions.addRelyingParty(session!.id, participant);
    recordTokenIssued(ctx, requesterOf(req), { protocol: 'wsfed', rp: trusted.realm, upn: session!.record.principal.userPrincipalName, nameId: outcome.nameId });
    return renderPost(res, ctx, outcome.url, outcome.fields);
  }
  await parkForSignIn(req, res, ctx, { wsfed: trusted }, outcome);
}
