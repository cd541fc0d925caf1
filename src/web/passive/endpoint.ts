/**
 * /adfs/ls/, AD FS's passive endpoint, as one front door: every request to it — a SAML message
 * (Redirect or POST binding), a WS-Federation wsignin1.0 / wsignout1.0 / wsignoutcleanup1.0, the way
 * back from the sign-in form — comes in here as plain request parts and leaves as an outcome: a token
 * page, a sign-in to do first, a page, or a refusal. A check added here holds for every request,
 * whether the browser already has a session or not; nothing else answers these requests.
 *
 * No express: http.ts turns Node's request into a PassiveRequest and the outcome into a response,
 * and express's own pages (IdP-initiated sign-on, the sign-out button) call `signOn` and
 * `signOutEverywhere` with parts they read themselves.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BadRequestError, WsfedError, type Protocol } from '../../errors.js';
import type { Logger } from '../../log.js';
import { readParked, type Parked } from '../../protocols/parked.js';
import { singleParam, type Params } from '../../protocols/params.js';
import type { LogoutHop, LogoutParticipant, Received, TrustedAuthnRequest } from '../../protocols/saml2/idp.js';
import { answered, beginLogout, couldNotAsk, nextStep, refuseLogout, type LogoutChain, type LogoutStep, type ParticipantResult } from '../../protocols/saml2/logout.js';
import { readSignInRequest, WA, WSFED_SESSION_PREFIX, wsfedParticipant, type TrustedSignIn } from '../../protocols/wsfed/idp.js';
import { applicationName } from '../applications.js';
import type { AppDeps } from '../context.js';
import { ROUTES } from '../route-paths.js';
import { lookupSession, sessionIdIn, ssoCookieOptions, type CookieSettings, type CurrentSession } from '../sso-cookie.js';

export interface PassiveRequest {
  method: string;
  /** The query (GET, HEAD) or the form (POST), as node's querystring / body-parser parse them. */
  params: Params;
  /** The raw query string: the Redirect binding signs it byte for byte. */
  rawQuery: string;
  cookies: Readonly<Record<string, unknown>>;
  /** After the trusted-proxy rules. */
  clientIp: string;
  requestId: string;
  log: Logger;
  /** Our own sign-out form's POST: a 303 to another origin would meet that page's CSP form-action. */
  fromSignOutForm?: boolean;
}

export interface CookieChange {
  name: string;
  /** '' with `clear`: the cookie is removed. */
  value: string;
  settings: CookieSettings;
  maxAgeMs?: number;
  clear?: boolean;
}

export type PassiveOutcome =
  /** The auto-POST page: a token or logout message to an endpoint registered for the relying party. */
  | { kind: 'post'; url: string; fields: Record<string, string>; progress: Progress; cleanup: readonly string[] }
  /** 303 to a path of ours (the sign-in form) or a registered SLO endpoint. */
  | { kind: 'redirect'; location: string }
  | { kind: 'page'; view: 'signed-out' | 'redirect'; locals: Record<string, unknown>; cleanup: readonly string[] }
  /** Nothing may be sent to the relying party: the error page, under the protocol that was asked. */
  | { kind: 'refused'; error: unknown; protocol?: Protocol };

/** What the auto-POST page says while it moves on (its words are the catalogue's, http.ts). */
export type Progress = 'signingIn' | 'signingOut';

export interface PassiveAnswer {
  outcome: PassiveOutcome;
  cookies: CookieChange[];
}

/**
 * Parked requests belong to the browser that made them: a random value in this cookie is stored
 * (as a digest) with each one and must come back on resume, so a leaked resume id is useless in
 * another browser.
 */
const FLOW_COOKIE = 'openfed_flow';
const FLOW_VALUE = /^[A-Za-z0-9_-]{22,64}$/;

const badRequest = (detail: string) => new BadRequestError(detail);
const badWsfed = (detail: string) => new WsfedError('wsfed_request_invalid', detail);

/** Collects what one request's answer does to the browser's cookies. */
class Reply {
  readonly cookies: CookieChange[] = [];
  constructor(readonly request: PassiveRequest) {}
}

export class PassiveEndpoint {
  private readonly cookieName: string;

  constructor(private readonly deps: AppDeps) {
    this.cookieName = deps.config.sessions.cookieName;
  }

  async handle(request: PassiveRequest): Promise<PassiveAnswer> {
    const reply = new Reply(request);
    let protocol: Protocol | undefined;
    try {
      const { params } = request;
      const samlRequest = singleParam(params, 'SAMLRequest', badRequest);
      const samlResponse = singleParam(params, 'SAMLResponse', badRequest);
      if (samlRequest !== undefined || samlResponse !== undefined) {
        protocol = 'saml2';
        if (samlRequest !== undefined && samlResponse !== undefined) throw new BadRequestError('both SAMLRequest and SAMLResponse');
        return this.answer(reply, await this.saml(reply, samlRequest !== undefined ? ['SAMLRequest', samlRequest] : ['SAMLResponse', samlResponse!]));
      }
      const wa = singleParam(params, 'wa', badWsfed);
      if (wa !== undefined) {
        protocol = 'wsfed';
        return this.answer(reply, await this.wsfed(reply, wa));
      }
      const resume = singleParam(params, 'resume', badRequest);
      if (resume === undefined) throw new BadRequestError('no SAML or WS-Federation message in the request');
      const parked = await this.unpark(request, resume);
      protocol = parked.kind;
      return this.answer(reply, parked.kind === 'saml2' ? await this.continueSaml(reply, parked.request) : await this.continueWsfed(reply, parked.request));
    } catch (error) {
      return this.answer(reply, { kind: 'refused', error, protocol });
    }
  }

  /** IdP-initiated sign-on (express's page): a trusted request made here, answered like any other. */
  async signOn(request: PassiveRequest, trusted: TrustedAuthnRequest): Promise<PassiveAnswer> {
    const reply = new Reply(request);
    try {
      return this.answer(reply, await this.continueSaml(reply, trusted));
    } catch (error) {
      return this.answer(reply, { kind: 'refused', error, protocol: 'saml2' });
    }
  }

  /**
   * Sign-out that starts here (the home page's button, WS-Fed wsignout1.0): the session ends, every
   * SAML SP of it is told in turn, WS-Fed RPs get wsignoutcleanup1.0 from the last page.
   */
  async signOutEverywhere(request: PassiveRequest, returnTo?: string): Promise<PassiveAnswer> {
    const reply = new Reply(request);
    return this.answer(reply, await this.signOut(reply, returnTo));
  }

  private answer(reply: Reply, outcome: PassiveOutcome): PassiveAnswer {
    return { outcome, cookies: reply.cookies };
  }

  // ------------------------------------------------------------------------------------ SAML 2.0

  private async saml(reply: Reply, [param, message]: ['SAMLRequest' | 'SAMLResponse', string]): Promise<PassiveOutcome> {
    const { request } = reply;
    const post = request.method === 'POST';
    const inspected = this.deps.saml.inspect({
      binding: post ? 'post' : 'redirect',
      message,
      param,
      relayState: singleParam(request.params, 'RelayState', badRequest),
      rawQuery: post ? undefined : request.rawQuery,
    });
    // The replay claim and the session read leave together: one Redis round trip (auto-pipelined).
    const [received, session] = await Promise.all([this.deps.saml.admit(inspected), this.session(request)]);
    switch (received.kind) {
      case 'AuthnRequest':
        request.log.info({ event: 'saml2.authn_request', rp: received.trusted.rpEntityId, id: received.trusted.request?.id }, 'SAML AuthnRequest');
        return this.answerSaml(reply, received.trusted, session);
      case 'LogoutRequest':
        return this.logoutRequest(reply, received, session);
      case 'LogoutResponse':
        return this.logoutResponse(request, received);
    }
  }

  private async continueSaml(reply: Reply, trusted: TrustedAuthnRequest): Promise<PassiveOutcome> {
    return this.answerSaml(reply, trusted, await this.session(reply.request));
  }

  /** A token (or a SAML error status) for the SP now if the session fits; otherwise sign in first. */
  private async answerSaml(reply: Reply, trusted: TrustedAuthnRequest, session: CurrentSession | undefined): Promise<PassiveOutcome> {
    const { request } = reply;
    const outcome = await this.deps.saml.answer(trusted, session, reply.request.clientIp);
    if (outcome.action === 'signin') return this.park(reply, { kind: 'saml2', request: trusted }, outcome);
    if (outcome.status === 'success' && session) {
      // The record just read already names the SP on every token after the first: no write then.
      if (!session.record.relyingParties.includes(trusted.rpEntityId)) await this.deps.sessions.addRelyingParty(session.id, trusted.rpEntityId);
      this.issued(request, { protocol: 'saml2', rp: trusted.rpEntityId, upn: session.record.principal.userPrincipalName, nameId: outcome.nameId });
    } else {
      request.log.info({ event: 'saml2.error_response', rp: trusted.rpEntityId }, 'SAML error response sent to the relying party');
      this.deps.audit.record({ type: 'token.refused', protocol: 'saml2', rp: trusted.rpEntityId, reason: outcome.refusal ?? 'error status sent to the relying party', clientIp: request.clientIp }, request.requestId);
    }
    return { kind: 'post', url: outcome.url, fields: outcome.fields, progress: 'signingIn', cleanup: [] };
  }

  // ------------------------------------------------------------------------------ WS-Federation

  private async wsfed(reply: Reply, wa: string): Promise<PassiveOutcome> {
    const { request } = reply;
    switch (wa) {
      case WA.signIn: {
        const trusted = this.deps.wsfed.trust(readSignInRequest(request.params));
        request.log.info({ event: 'wsfed.signin_request', realm: trusted.realm }, 'WS-Fed sign-in request');
        return this.continueWsfed(reply, trusted);
      }
      case WA.signOut:
      case WA.signOutCleanup: {
        const realm = singleParam(request.params, 'wtrealm', badWsfed);
        const wreply = singleParam(request.params, 'wreply', badWsfed);
        // Only a reply URL registered for that realm is offered afterwards; anything else is ignored.
        return this.signOut(reply, this.deps.wsfed.signOutReturn(realm, wreply));
      }
      default:
        throw new WsfedError('wsfed_request_invalid', `unknown wa ${wa.slice(0, 40)}`, 'fed:BadRequest');
    }
  }

  private async continueWsfed(reply: Reply, trusted: TrustedSignIn): Promise<PassiveOutcome> {
    const { request } = reply;
    const session = await this.session(request);
    const outcome = this.deps.wsfed.answer(trusted, session, request.clientIp);
    if (outcome.action === 'signin') return this.park(reply, { kind: 'wsfed', request: trusted }, outcome);
    // WsfedIdp answers with a token only for a session; a sign-in otherwise.
    if (!session) return this.park(reply, { kind: 'wsfed', request: trusted }, { forceAuthn: false });
    const participant = wsfedParticipant(trusted.realm);
    if (!session.record.relyingParties.includes(participant)) await this.deps.sessions.addRelyingParty(session.id, participant);
    this.issued(request, { protocol: 'wsfed', rp: trusted.realm, upn: session.record.principal.userPrincipalName, nameId: outcome.nameId });
    return { kind: 'post', url: outcome.url, fields: outcome.fields, progress: 'signingIn', cleanup: [] };
  }

  // ------------------------------------------------------------------------------ single logout

  /** A LogoutRequest from an SP: end the session if it is the one named, then tell the other SPs. */
  private async logoutRequest(reply: Reply, received: Extract<Received, { kind: 'LogoutRequest' }>, session: CurrentSession | undefined): Promise<PassiveOutcome> {
    const { request } = reply;
    const { rp } = received;
    const initiator = { rpEntityId: rp.entityId, requestId: received.request.id, relayState: received.relayState };
    if (session && !this.deps.saml.logoutMatchesSession(rp, received.request, session)) {
      // Another user's (or an old session's) logout must not end this browser's session.
      request.log.warn({ event: 'saml2.logout_mismatch', rp: rp.entityId }, 'LogoutRequest does not name this session');
      return this.advance(request, refuseLogout(initiator));
    }
    const participants = session ? this.deps.saml.logoutParticipants(session, rp.entityId) : [];
    const wsfedCleanup = session ? this.deps.wsfed.cleanupUrls(session.record) : [];
    await this.endSession(reply);
    const upn = session?.record.principal.userPrincipalName;
    request.log.info({ event: 'signout', initiator: rp.entityId, upn, others: participants.length }, 'single logout');
    this.deps.audit.record({ type: 'signout', upn, initiator: rp.entityId, relyingParties: participants.length + wsfedCleanup.length, clientIp: request.clientIp }, request.requestId);
    const others = session ? othersOf(session, participants, rp.entityId) : [];
    return this.advance(request, beginLogout({ initiator, participants, wsfedCleanup, others }));
  }

  /** A LogoutResponse from an SP we sent a LogoutRequest to: note the answer, go on to the next SP. */
  private async logoutResponse(request: PassiveRequest, received: Extract<Received, { kind: 'LogoutResponse' }>): Promise<PassiveOutcome> {
    const parked = received.relayState ? readParked((await this.deps.pending.take(received.relayState))?.state) : undefined;
    if (parked?.kind !== 'slo') return this.signedOut({ partial: false, returnTo: null, results: [] }, []);
    const { chain, confirmed } = answered(parked.chain, received.rp.entityId, received.response.statusCode);
    if (!confirmed) request.log.warn({ event: 'saml2.logout_not_confirmed', rp: received.rp.entityId }, 'an SP did not confirm logout');
    return this.advance(request, chain);
  }

  private async signOut(reply: Reply, returnTo?: string): Promise<PassiveOutcome> {
    const { request } = reply;
    const session = await this.session(request);
    const participants = session ? this.deps.saml.logoutParticipants(session) : [];
    const wsfedCleanup = session ? this.deps.wsfed.cleanupUrls(session.record) : [];
    await this.endSession(reply);
    if (session) {
      const upn = session.record.principal.userPrincipalName;
      request.log.info({ event: 'signout', upn, others: participants.length + wsfedCleanup.length }, 'signed out');
      this.deps.audit.record({ type: 'signout', upn, relyingParties: participants.length + wsfedCleanup.length, clientIp: request.clientIp }, request.requestId);
    }
    const others = session ? othersOf(session, participants) : [];
    return this.advance(request, beginLogout({ participants, wsfedCleanup, returnTo, others }));
  }

  /** Runs the chain until a browser hop is needed (its state parked) or everyone was told. */
  private async advance(request: PassiveRequest, start: LogoutChain): Promise<PassiveOutcome> {
    let chain = start;
    for (;;) {
      const step = nextStep(chain);
      if (step.kind === 'done') return this.logoutDone(request, step);
      const stateId = await this.deps.pending.put({ path: ROUTES.sso, state: { kind: 'slo', chain: step.waiting } satisfies Parked }, this.pendingTtlMs());
      const out = this.deps.saml.logoutRequest(step.participant, stateId);
      if (out) return hop(request, out.hop, []);
      await this.deps.pending.take(stateId); // the SP lost its SLO endpoint meanwhile
      chain = couldNotAsk(step.waiting);
    }
  }

  private logoutDone(request: PassiveRequest, step: Extract<LogoutStep, { kind: 'done' }>): PassiveOutcome {
    const { chain } = step;
    const response = chain.initiator && this.deps.saml.logoutResponse(chain.initiator, step.result);
    // WS-Fed RPs are cleaned up by the browser loading wsignoutcleanup1.0 as images (as AD FS does):
    // on the signed-out page, or on the page that carries the LogoutResponse on to the SAML SP.
    if (response) return hop(request, response, chain.wsfedCleanup);
    return this.signedOut({ partial: chain.partial, returnTo: chain.returnTo ?? null, results: chain.results ?? [] }, chain.wsfedCleanup);
  }

  /** The signed-out page: each relying party of the session by its name, with what became of it. */
  private signedOut(end: { partial: boolean; returnTo: string | null; results: readonly ParticipantResult[] }, cleanup: readonly string[]): PassiveOutcome {
    const applications = end.results.map(({ rp, result }) => ({ name: applicationName(this.deps, rp), result }));
    return { kind: 'page', view: 'signed-out', locals: { partial: end.partial, returnTo: end.returnTo, applications }, cleanup };
  }

  // ---------------------------------------------------------------------------- shared steps

  private session(request: PassiveRequest): Promise<CurrentSession | undefined> {
    return lookupSession(sessionIdIn(request.cookies, this.deps), this.deps);
  }

  /** What every token leaves behind: one log line and one audit record (which the metrics count). */
  private issued(request: PassiveRequest, token: { protocol: Protocol; rp: string; upn: string; nameId?: string }): void {
    const { protocol, rp, upn } = token;
    request.log.info({ event: 'token.issued', protocol, rp, upn }, protocol === 'saml2' ? 'SAML response issued' : 'WS-Fed token issued');
    this.deps.audit.record({ type: 'token.issued', protocol, rp, upn, nameId: token.nameId, clientIp: request.clientIp }, request.requestId);
  }

  private async endSession(reply: Reply): Promise<void> {
    const id = sessionIdIn(reply.request.cookies, this.deps);
    if (id) await this.deps.sessions.destroy(id);
    reply.cookies.push({ name: this.cookieName, value: '', settings: ssoCookieOptions(this.deps), clear: true });
  }

  private pendingTtlMs(): number {
    return this.deps.config.sessions.pendingRequestMinutes * 60_000;
  }

  /**
   * Parks a trusted request while the user signs in: the request under one id, and for the sign-in
   * form a pending entry that leads back to /adfs/ls/?resume=<that id>. The form never sees protocol
   * state, only where to return — a path our own code built.
   */
  private async park(reply: Reply, parked: { kind: 'saml2'; request: TrustedAuthnRequest } | { kind: 'wsfed'; request: TrustedSignIn }, signIn: { forceAuthn: boolean; loginHint?: string; password?: boolean; mfa?: boolean }): Promise<PassiveOutcome> {
    const ttl = this.pendingTtlMs();
    const flow = flowOf(reply.request) ?? randomBytes(18).toString('base64url');
    reply.cookies.push({ name: FLOW_COOKIE, value: flow, settings: ssoCookieOptions(this.deps), maxAgeMs: ttl });
    const state: Parked = { ...parked, flow: digest(flow) };
    const requestId = await this.deps.pending.put({ path: ROUTES.sso, state }, ttl);
    const signInId = await this.deps.pending.put({ path: `${ROUTES.sso}?resume=${requestId}`, forceAuthn: signIn.forceAuthn, loginHint: signIn.loginHint }, ttl);
    // Only the second factor is missing: the code page (web/handlers/mfa.ts), not the password again.
    if (signIn.mfa) return { kind: 'redirect', location: `${ROUTES.mfa}?pending=${signInId}` };
    const hint = signIn.loginHint ? `&username=${encodeURIComponent(signIn.loginHint)}` : '';
    // The relying party needs a password: no Negotiate challenge (web/handlers/windows-signin.ts).
    const forms = signIn.password ? '&forms=1' : '';
    return { kind: 'redirect', location: `${ROUTES.signIn}?pending=${signInId}${hint}${forms}` };
  }

  /** Takes a parked request back, only in the browser that parked it. */
  private async unpark(request: PassiveRequest, id: string): Promise<Extract<Parked, { kind: 'saml2' | 'wsfed' }>> {
    const parked = readParked((await this.deps.pending.take(id))?.state);
    const flow = flowOf(request);
    if (!parked || parked.kind === 'slo' || !flow || !sameDigest(parked.flow, digest(flow))) {
      throw new BadRequestError('no such pending request for this browser (expired, already used, or started elsewhere)');
    }
    return parked;
  }
}

/**
 * The relying parties of a session that are not asked in turn: WS-Fed RPs get wsignoutcleanup1.0 from
 * the last page, SAML SPs without an SLO endpoint cannot be told at all.
 */
function othersOf(session: CurrentSession, asked: readonly LogoutParticipant[], initiator?: string): ParticipantResult[] {
  const askedIds = new Set(asked.map((p) => p.rpEntityId));
  return session.record.relyingParties
    .filter((id) => id !== initiator && !askedIds.has(id))
    .map((id) => ({ rp: id, result: id.startsWith(WSFED_SESSION_PREFIX) ? 'cleanup' : 'no-logout' }));
}

/** A browser hop of single logout. */
function hop(request: PassiveRequest, to: LogoutHop, cleanup: readonly string[]): PassiveOutcome {
  if (to.action === 'post') return { kind: 'post', url: to.url, fields: to.fields, progress: cleanup.length ? 'signingOut' : 'signingIn', cleanup };
  // Cleanup images need a page to load on, and after our own sign-out form a 303 elsewhere would
  // meet that page's CSP form-action: a same-origin page moves on instead.
  if (cleanup.length || request.fromSignOutForm) return { kind: 'page', view: 'redirect', locals: { target: to.url }, cleanup };
  return { kind: 'redirect', location: to.url };
}

function flowOf(request: PassiveRequest): string | undefined {
  const value = request.cookies[FLOW_COOKIE];
  return typeof value === 'string' && FLOW_VALUE.test(value) ? value : undefined;
}

// Only a digest is stored, so the pending store never holds the browser's secret itself.
const digest = (flow: string) => createHash('sha256').update(flow).digest('base64url');
const sameDigest = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
