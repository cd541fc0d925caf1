/**
 * The hot path: a browser whose SSO session already holds a token for a relying party asks for
 * another one, with a SAML AuthnRequest over the Redirect binding or a WS-Fed wsignin1.0 GET. That
 * is most of a federation server's traffic, and express's per-request set-up cost about as much
 * as the rest of the token (BENCHMARKS.md, the "floor" rows), so these requests are answered on
 * Node's own request and response — by the same protocol calls, issuing record and page as the
 * handlers in handlers/saml2.ts and handlers/wsfed.ts.
 *
 * Only that plain success is answered here, and nothing is left written otherwise: the session is
 * only read, and a SAML request ID claimed (admit(), sent with the session read) is given back
 * (unadmit()) when the request is not answered here. So whenever anything else would happen — no or stale
 * session, a sign-in needed, a SAML error status, the first token for this RP in the session (which
 * writes to it) — the request goes on to express untouched, which does it all again the usual way.
 * A request the protocol checks refuse (the same checks express runs) goes straight to express's one
 * error handler with that refusal.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import { parse as parseCookies } from 'cookie';
import proxyaddr from 'proxy-addr';
import { readSignInRequest, WA, wsfedParticipant } from '../protocols/wsfed/idp.js';
import type { AppDeps } from './context.js';
import { recordTokenIssued, type Requester } from './handlers/issued.js';
import { renderPost } from './handlers/post-binding.js';
import { lookupSession, sessionIdOf } from './sso-cookie.js';

/**
 * An error express's one error handler answers as it is, without receiving the request again: a
 * refusal by the very checks express would repeat (so a bad request costs one check, not two), or a
 * claimed request ID that could not be given back.
 */
class AnswerWithError extends Error {
  constructor(cause: unknown) {
    super('answered with an error', { cause });
  }
}

/** Runs a check express's handler would run in the same way; what it throws is answered as it is. */
function refusing<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new AnswerWithError(err);
  }
}

/** A page ready to send, with what must be recorded when it is. */
interface Answer {
  url: string;
  fields: Record<string, string>;
  commit(who: Requester): void;
}

/** Hands the request to express; with an error, straight to its error handler. */
export type Fallback = (err?: unknown) => void;
export type HotHandler = (req: IncomingMessage, res: ServerResponse, fallback: Fallback) => void;

/**
 * @param trustProxy express's compiled 'trust proxy fn': the client address is worked out exactly
 *   as req.ip would (X-Forwarded-For believed from the trusted proxies only).
 */
export function hotPath(ctx: AppDeps, trustProxy: (address: string, hop: number) => boolean): HotHandler {
  const cookieName = ctx.config.sessions.cookieName;

  async function attempt(req: IncomingMessage, ip: string): Promise<Answer | undefined> {
    const url = req.url ?? '';
    const rawQuery = url.slice(url.indexOf('?') + 1);
    // The parser express uses ("simple" = node:querystring), so a repeated name is an array here too.
    const query = parseQuery(rawQuery);
    const sessionId = sessionIdOf(sessionCookie(req.headers.cookie, cookieName));
    if (sessionId === undefined) return undefined;
    if (query.SAMLResponse === undefined && typeof query.SAMLRequest === 'string') return saml(query, query.SAMLRequest, rawQuery, sessionId);
    if (query.SAMLRequest === undefined && query.SAMLResponse === undefined && query.wa === WA.signIn) return wsfed(query, sessionId, ip);
    return undefined;
  }

  async function saml(query: ParsedUrlQuery, message: string, rawQuery: string, sessionId: string): Promise<Answer | undefined> {
    const relayState = single(query, 'RelayState');
    if (relayState === null) return undefined;
    const inspected = refusing(() => ctx.saml.inspect({ binding: 'redirect', message, param: 'SAMLRequest', relayState, rawQuery }));
    if (inspected.received.kind !== 'AuthnRequest') return undefined;
    const trusted = inspected.received.trusted;
    // One Redis round trip for both: the session read and the replay claim leave together
    // (auto-pipelined). A claim that is then not answered here is taken back before handing over.
    const [read, claim] = await Promise.allSettled([lookupSession(sessionId, ctx), ctx.saml.admit(inspected)]);
    if (claim.status === 'rejected') return undefined; // a replay, or Redis failing: express meets it again
    let answer: Answer | undefined;
    try {
      const session = read.status === 'fulfilled' ? read.value : undefined;
      if (session?.record.relyingParties.includes(trusted.rpEntityId)) {
        const outcome = await ctx.saml.answer(trusted, session);
        if (outcome.action === 'post' && outcome.status === 'success') {
          const upn = session.record.principal.userPrincipalName;
          answer = {
            url: outcome.url,
            fields: outcome.fields,
            commit: (who) => {
              who.log.info({ event: 'saml2.authn_request', rp: trusted.rpEntityId, id: trusted.request?.id }, 'SAML AuthnRequest');
              recordTokenIssued(ctx, who, { protocol: 'saml2', rp: trusted.rpEntityId, upn, nameId: outcome.nameId });
            },
          };
        }
      }
    } finally {
      if (answer === undefined) {
        await ctx.saml.unadmit(inspected).catch((err: unknown) => {
          throw new AnswerWithError(err);
        });
      }
    }
    return answer;
  }

  async function wsfed(query: ParsedUrlQuery, sessionId: string, ip: string): Promise<Answer | undefined> {
    const trusted = refusing(() => ctx.wsfed.trust(readSignInRequest(query)));
    const session = await lookupSession(sessionId, ctx);
    if (!session?.record.relyingParties.includes(wsfedParticipant(trusted.realm))) return undefined;
    const outcome = ctx.wsfed.answer(trusted, session, ip);
    if (outcome.action !== 'post') return undefined;
    const upn = session.record.principal.userPrincipalName;
    return {
      url: outcome.url,
      fields: outcome.fields,
      commit: (who) => {
        who.log.info({ event: 'wsfed.signin_request', realm: trusted.realm }, 'WS-Fed sign-in request');
        recordTokenIssued(ctx, who, { protocol: 'wsfed', rp: trusted.realm, upn, nameId: outcome.nameId });
      },
    };
  }

  return (req, res, fallback) => {
    const ip = proxyaddr(req, trustProxy);
    attempt(req, ip).then(
      (answer) => {
        if (!answer) return fallback();
        try {
          answer.commit({ ip, id: req.id, log: req.log });
          renderPost(res, ctx, answer.url, answer.fields);
        } catch (err) {
          // Past admit() the request cannot be received again: this one is answered as an error.
          fallback(err);
        }
      },
      // Whatever else went wrong, nothing was left written: express meets it again and answers properly.
      (err: unknown) => fallback(err instanceof AnswerWithError ? err.cause : undefined),
    );
  };
}

function sessionCookie(header: string | undefined, name: string): string | undefined {
  // cookie-parser's parser; a malformed header yields nothing rather than an error.
  return header === undefined ? undefined : parseCookies(header)[name];
}

/** A parameter given at most once: its value, undefined when absent, null when repeated. */
function single(query: ParsedUrlQuery, name: string): string | undefined | null {
  const value = query[name];
  return Array.isArray(value) ? null : value;
}
