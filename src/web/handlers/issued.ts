/**
 * What every token leaves behind: one log line and one audit record (which the metrics count), the
 * same whether express's handlers or the hot path (hot-path.ts) answered.
 */
import type { Logger } from '../../log.js';
import type { AppDeps } from '../context.js';

/** Who asked, as far as the log and the audit trail are concerned. */
export interface Requester {
  ip: string;
  id: string;
  log: Logger;
}

export function recordTokenIssued(ctx: Pick<AppDeps, 'audit'>, who: Requester, issued: { protocol: 'saml2' | 'wsfed'; rp: string; upn: string; nameId?: string }): void {
  const { protocol, rp, upn } = issued;
  who.log.info({ event: 'token.issued', protocol, rp, upn }, protocol === 'saml2' ? 'SAML response issued' : 'WS-Fed token issued');
  ctx.audit.record({ type: 'token.issued', protocol, rp, upn, nameId: issued.nameId, clientIp: who.ip }, who.id);
}

/** An express request as a Requester. */
export function requesterOf(req: { ip?: string | undefined; id: string; log: Logger }): Requester {
  return { ip: req.ip ?? '', id: String(req.id), log: req.log };
}
