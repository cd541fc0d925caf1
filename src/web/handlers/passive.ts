/**
 * /adfs/ls/, AD FS's passive endpoint: one URL for SAML 2.0 messages, WS-Federation requests, and the
 * way back from the sign-in form to whichever of them was waiting.
 */
import type { Request, Response } from 'express';
import { BadRequestError } from '../../errors.js';
import type { TrustedAuthnRequest } from '../../protocols/saml2/idp.js';
import type { TrustedSignIn } from '../../protocols/wsfed/idp.js';
import type { WebContext } from '../context.js';
import { continueSignOn, handleSamlMessage, single } from './saml2.js';
import { continueWsfed, handleWsfed } from './wsfed.js';
import { unpark } from './park.js';

/** GET and POST /adfs/ls/: a SAML message, a WS-Fed request, or the way back from the sign-in form. */
export function passiveEndpoint(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    if (await handleSamlMessage(req, res, ctx)) return;
    if (await handleWsfed(req, res, ctx)) return;
    const resume = single(req.query.resume, 'resume');
    if (resume !== undefined) return resumeSignOn(req, res, ctx, resume);
    throw new BadRequestError('no SAML or WS-Federation message in the request');
  };
}

/** GET /adfs/ls/?resume=<id>: back from the sign-in form, to the SAML or WS-Fed request that waited. */
export async function resumeSignOn(req: Request, res: Response, ctx: WebContext, id: string): Promise<void> {
  const state = await unpark(req, ctx, id);
  const saml2 = state?.saml2 as TrustedAuthnRequest | undefined;
  const wsfed = state?.wsfed as TrustedSignIn | undefined;
  if (saml2) return continueSignOn(req, res, ctx, saml2);
  if (wsfed) return continueWsfed(req, res, ctx, wsfed);
  throw new BadRequestError('no such pending request (expired or already used)');
}
