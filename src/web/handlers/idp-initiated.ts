/**
 * /adfs/ls/idpinitiatedsignon (and AD FS 2.0's IdpInitiatedSignOn.aspx): the SPs that allow
 * unsolicited sign-on, or straight to one with ?loginToRp=. Off by default, as in AD FS. The sign-on
 * itself is answered by the passive front door, like any SP-initiated request.
 */
import type { Request, Response } from 'express';
import { BadRequestError, NotFoundError } from '../../errors.js';
import { singleParam } from '../../protocols/params.js';
import type { WebContext } from '../web-context.js';
import { expressRequestParts, writeAnswer } from '../passive/http.js';
import { renderPage } from '../render.js';
import { readSession } from '../sso-cookie.js';

const badRequest = (detail: string) => new BadRequestError(detail);

export function idpInitiatedSignOn(ctx: WebContext) {
  return async (req: Request, res: Response) => {
    if (!ctx.config.saml.idpInitiatedSignOnPage) throw new NotFoundError('the IdP-initiated sign-on page is disabled (saml.idpInitiatedSignOnPage)');
    const query = req.query as Record<string, unknown>;
    const target = singleParam(query, 'loginToRp', badRequest);
    if (target !== undefined) {
      const trusted = ctx.saml.unsolicited(target, singleParam(query, 'RelayState', badRequest));
      return writeAnswer(req, res, ctx, await ctx.passive.signOn(expressRequestParts(req), trusted));
    }
    const session = await readSession(req, ctx);
    const rps = ctx.registry
      .all()
      .filter((rp) => rp.allowIdpInitiated)
      .map((rp) => ({ entityId: rp.entityId, name: rp.displayName }))
      .sort((a, b) => a.name.localeCompare(b.name));
    renderPage(req, res, ctx, 'idp-initiated', { rps, user: session?.record.principal.userPrincipalName ?? null });
  };
}
