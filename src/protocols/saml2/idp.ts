/**
 * The SAML 2.0 identity provider's decisions, between the bindings and the web layer:
 *
 *   receive():  message in → RP known → signature checked with the RP's keys only → only signed
 *               content read → fresh and not replayed → ACS registered for that RP.
 *               Anything wrong up to here throws a SamlError (an error page: nobody to answer).
 *   answer():   for a trusted request: sign-in needed, or a Response (success or SAML error status)
 *               to POST to the registered ACS.
 *
 * No express, Redis or LDAP here: stores and the registry come in as interfaces.
 */
import type { Clock } from '../../clock.js';
import type { Config } from '../../config/schema.js';
import { answersRelyingParty, SamlError, toProblem, toSamlStatus, type MessageId, type SamlStatus } from '../../errors.js';
import { claimValues } from '../../claims/values.js';
import type { KeyRing } from '../../keys/key-ring.js';
import type { AcsEndpoint, SamlRelyingParty } from '../../relying-parties/registry.js';
import type { Principal } from '../../directory/types.js';
import { decideAccess, PERMIT_EVERYONE, type AccessControl } from '../../policy/access.js';
import type { ReplayCache, AuthMethod, SessionRecord } from '../../sessions/types.js';
import { XmlError } from '../../xml/errors.js';
import { deriveSessionValue, sessionIndexFor } from '../session-values.js';
import { parseXml } from '../../xml/parse.js';
import type { Element } from '../../xml/query.js';
import { hasSignature, signatureAlgorithmFor, verifySignedRoot } from '../../xml/verify.js';
import { decodePostMessage, decodeRedirectMessage, encodePostMessage, signedRedirectQuery, verifyRedirectSignature } from './bindings.js';
import { ATTRNAME_FORMAT, AUTHN_CONTEXT, BINDING, isUnspecifiedNameIdFormat, NAME_ID_FORMAT, STRONGER_AUTHN_CONTEXTS, type NameIdFormatName } from './constants.js';
import {
  messageKind,
  peekIssuer,
  readAuthnRequest,
  readLogoutRequest,
  readLogoutResponse,
  type AuthnRequest,
  type LogoutRequest,
  type LogoutResponse,
} from './requests.js';
import { sealResponse } from './encrypt.js';
import { buildErrorResponse, buildLogoutRequest, buildLogoutResponse, buildSuccessResponse } from './response.js';
import { signElement } from '../../xml/sign.js';

export interface RelyingPartyLookup {
  get(entityId: string): SamlRelyingParty | undefined;
  resolveAcs(rp: SamlRelyingParty, request: { url?: string; index?: number; binding?: string }): AcsEndpoint | undefined;
}

export interface IdpDeps {
  /** Our entityID: the Federation Service identifier. */
  issuer: string;
  /** Where SPs send requests: <baseUrl>/adfs/ls/. Signed requests must name it as Destination. */
  ssoUrl: string;
  settings: Config['saml'];
  registry: RelyingPartyLookup;
  replay: ReplayCache;
  clock: Clock;
  /** Read at every signature: a rollover takes effect on the next token. */
  keys: Pick<KeyRing, 'primary'>;
  /** Derives per-session values (SessionIndex, transient NameIDs) without storing them. */
  sessionSecret: string;
  /** An RP-specific Issuer (Microsoft 365: one per federated domain); undefined = ours. May throw a TokenRefusedError. */
  issuerFor?: (rpEntityId: string, principal: Principal) => string | undefined;
  /** Access control policies (policy/access.ts); default: everyone is permitted. */
  access?: AccessControl;
}

export interface IncomingMessage {
  binding: 'redirect' | 'post';
  /** The base64 message parameter (SAMLRequest or SAMLResponse). */
  message: string;
  param: 'SAMLRequest' | 'SAMLResponse';
  relayState?: string;
  /** Redirect binding: the raw query string, for the detached signature. */
  rawQuery?: string;
}

/** A request whose sender, signature, freshness and endpoint were checked. JSON-safe, so it can wait for a sign-in. */
export type TrustedAuthnRequest = {
  rpEntityId: string;
  acsUrl: string;
  /** Absent: IdP-initiated (unsolicited). */
  request?: AuthnRequest;
  relayState?: string;
  receivedAt: number;
};

export type Received =
  | { kind: 'AuthnRequest'; trusted: TrustedAuthnRequest }
  | { kind: 'LogoutRequest'; rp: SamlRelyingParty; request: LogoutRequest; relayState?: string; signed: boolean }
  | { kind: 'LogoutResponse'; rp: SamlRelyingParty; response: LogoutResponse; relayState?: string };

/** A message that passed every check but the replay cache (SamlIdp.inspect). */
export interface Inspected {
  received: Received;
  /** The replay-cache entry admit() claims. */
  firstUse: { key: string; ttlMs: number; what: string };
}

/** What the web layer does next. */
export type Outcome =
  | {
      action: 'post';
      url: string;
      fields: Record<string, string>;
      status: 'success' | 'error';
      /** for the audit trail */
      nameId?: string;
      /** for the audit trail: why an error status was sent */
      refusal?: MessageId;
    }
  /** `password`: only a password sign-in meets the request (it asked for PasswordProtectedTransport exactly). */
  | { action: 'signin'; forceAuthn: boolean; loginHint?: string; password?: boolean; /** only the second factor is missing */ mfa?: boolean };

/** A browser hop of single logout: a Redirect-binding URL, or a form to POST. */
export type LogoutHop = { action: 'redirect'; url: string } | { action: 'post'; url: string; fields: Record<string, string> };

/** One SP that received a token in this session, with the values it knows the session by. JSON-safe. */
export interface LogoutParticipant {
  rpEntityId: string;
  nameId: { format: string; value: string };
  sessionIndex: string;
}

/** The SP that asked us to log out, to be answered at the end. JSON-safe. */
export interface LogoutInitiator {
  rpEntityId: string;
  requestId: string;
  relayState?: string;
}

const SUBJECT_CONFIRMATION_MS = 5 * 60_000;

export class SamlIdp {
  constructor(private readonly deps: IdpDeps) {}

  async receive(input: IncomingMessage): Promise<Received> {
    return this.admit(this.inspect(input));
  }

  /**
   * Every check of receive() but the replay cache: nothing is written, so a caller may still drop
   * the request and have it received again (the web layer's hot path does, when the answer would
   * not be a plain token). A request is only trusted after admit().
   */
  inspect(input: IncomingMessage): Inspected {
    const { settings } = this.deps;
    if (input.relayState !== undefined && input.relayState.length > settings.maxRelayStateLength) {
      throw new SamlError('saml_request_invalid', 'RelayState too long');
    }
    const xml =
      input.binding === 'redirect'
        ? decodeRedirectMessage(input.message, settings.maxMessageBytes)
        : decodePostMessage(input.message, settings.maxMessageBytes);
    const unverified = this.parse(xml);
    const kind = readingXml(() => messageKind(unverified));
    if ((kind === 'LogoutResponse') !== (input.param === 'SAMLResponse')) {
      throw new SamlError('saml_request_invalid', `${kind} sent as ${input.param}`);
    }
    const issuer = readingXml(() => peekIssuer(unverified));
    const rp = this.deps.registry.get(issuer);
    if (!rp) throw new SamlError('saml_unknown_relying_party', `no relying party ${issuer.slice(0, 200)}`);

    const { root, signed } = this.checkSignature(rp, input, xml, unverified);
    const signatureRequired = kind === 'AuthnRequest' ? rp.requireSignedRequests : !rp.allowUnsignedLogout;
    if (signatureRequired && !signed) {
      throw new SamlError('saml_signature_invalid', `unsigned ${kind} from ${rp.entityId}, which must sign`);
    }

    const message = readingXml(() =>
      kind === 'AuthnRequest' ? readAuthnRequest(root) : kind === 'LogoutRequest' ? readLogoutRequest(root) : readLogoutResponse(root),
    );
    // The verified document is re-parsed from the signed bytes: its Issuer must still be this RP.
    if (message.issuer !== rp.entityId) throw new SamlError('saml_request_invalid', 'Issuer changed under the signature');
    this.checkDestination(message.destination, signed);
    const firstUse = this.checkAge(rp, message.id, message.issueInstant);

    if (message.kind === 'LogoutRequest') return { received: { kind: 'LogoutRequest', rp, request: message, relayState: input.relayState, signed }, firstUse };
    if (message.kind === 'LogoutResponse') return { received: { kind: 'LogoutResponse', rp, response: message, relayState: input.relayState }, firstUse };

    const acs = this.deps.registry.resolveAcs(rp, { url: message.acsUrl, index: message.acsIndex });
    if (!acs) throw new SamlError('saml_unknown_acs', `ACS ${message.acsUrl ?? `#${message.acsIndex}`} is not registered for ${rp.entityId}`);
    // Responses only travel by HTTP-POST: an ACS registered for another binding cannot receive one.
    if (acs.binding !== 'post') throw new SamlError('saml_unknown_acs', `ACS ${acs.url} of ${rp.entityId} is not an HTTP-POST endpoint`);
    return {
      received: {
        kind: 'AuthnRequest',
        trusted: { rpEntityId: rp.entityId, acsUrl: acs.url, request: message, relayState: input.relayState, receivedAt: this.deps.clock.now() },
      },
      firstUse,
    };
  }

  /** The replay check of an inspected message: each request ID is accepted once per RP, farm-wide. */
  async admit(inspected: Inspected): Promise<Received> {
    const { key, ttlMs, what } = inspected.firstUse;
    if (!(await this.deps.replay.firstUse(key, ttlMs))) throw new SamlError('saml_request_replayed', `${what} seen before`);
    return inspected.received;
  }

  /** IdP-initiated (unsolicited) sign-on for an RP that allows it, to its default ACS. */
  unsolicited(rpEntityId: string, relayState: string | undefined): TrustedAuthnRequest {
    const rp = this.deps.registry.get(rpEntityId);
    if (!rp || !rp.allowIdpInitiated) throw new SamlError('idp_initiated_not_allowed', `IdP-initiated sign-on to ${rpEntityId.slice(0, 200)}`, { top: 'Requester' }, 404);
    if (relayState !== undefined && relayState.length > this.deps.settings.maxRelayStateLength) {
      throw new SamlError('saml_request_invalid', 'RelayState too long');
    }
    const acs = this.deps.registry.resolveAcs(rp, { binding: 'post' });
    if (!acs) throw new SamlError('saml_unknown_acs', `${rp.entityId} has no default ACS`);
    return { rpEntityId: rp.entityId, acsUrl: acs.url, request: undefined, relayState, receivedAt: this.deps.clock.now() };
  }

  /**
   * The answer to a trusted request, given the browser's SSO session (if any). Errors from here on
   * go back to the SP as a SAML status: the SP and its ACS are known and trusted.
   */
  async answer(trusted: TrustedAuthnRequest, session: { id: string; record: SessionRecord } | undefined, clientIp = ''): Promise<Outcome> {
    const rp = this.deps.registry.get(trusted.rpEntityId);
    // The RP may have been removed (metadata refresh) while the user signed in: nothing to answer.
    if (!rp) throw new SamlError('saml_unknown_relying_party', `relying party ${trusted.rpEntityId} is gone`);
    const request = trusted.request;
    try {
      if (request?.protocolBinding !== undefined && request.protocolBinding !== BINDING.post) {
        throw new SamlError('saml_request_invalid', 'responses are only sent with HTTP-POST', { top: 'Requester', sub: 'UnsupportedBinding' });
      }
      const format = this.nameIdFormat(rp, request);
      // Which sign-in could meet the RequestedAuthnContext: none → NoAuthnContext before anyone is asked.
      // Which sign-in could meet the RequestedAuthnContext: none → NoAuthnContext before anyone is asked.
      const byPassword = this.authnContext(request, 'password', false);
      const possible = [byPassword, this.authnContext(request, 'windows', false), this.authnContext(request, 'password', true)];
      if (possible.every((met) => met === undefined)) {
        throw new SamlError('saml_request_invalid', 'requested authentication context cannot be met', { top: 'Responder', sub: 'NoAuthnContext' });
      }
      const fresh = session && (!request?.forceAuthn || session.record.authnInstant >= trusted.receivedAt);
      if (!fresh) {
        if (request?.isPassive) throw new SamlError('saml_request_invalid', 'IsPassive without a session', { top: 'Responder', sub: 'NoPassive' });
        return { action: 'signin', forceAuthn: Boolean(request?.forceAuthn), loginHint: request?.loginHint };
      }
      const { record } = session;
      const mfaDone = record.mfaInstant !== undefined;
      const noPrompt = (detail: string) => new SamlError('saml_request_invalid', detail, { top: 'Responder', sub: 'NoPassive' });
      const authnContext = this.authnContext(request, record.authnMethod, mfaDone);
      if (authnContext === undefined) {
        if (request?.isPassive) throw noPrompt('the session\'s authentication does not meet the requested context');
        // Step-up: the SP asks for MFA (multipleauthn, REFEDS MFA...) and this session has one factor.
        if (!mfaDone && this.authnContext(request, record.authnMethod, true) !== undefined) return { action: 'signin', forceAuthn: false, mfa: true };
        // As AD FS: a session from Windows authentication does not state PasswordProtectedTransport;
        // the user types the password (no Negotiate this time).
        if (byPassword === undefined) {
          throw new SamlError('saml_request_invalid', 'the session\'s authentication does not meet the requested context', { top: 'Responder', sub: 'NoAuthnContext' });
        }
        return { action: 'signin', forceAuthn: false, loginHint: request?.loginHint, password: true };
      }
      this.checkRequestedSubject(rp, request, format, session);
      // The policy is judged on this request's address, not the one the session began at.
      const access = decideAccess(this.deps.access ?? PERMIT_EVERYONE, rp.accessPolicy, { groups: record.principal.groups, clientIp, mfa: mfaDone }, rp.entityId);
      if (access === 'mfa_required') {
        if (request?.isPassive) throw noPrompt('the access policy requires multi-factor authentication');
        return { action: 'signin', forceAuthn: false, mfa: true };
      }
      return await this.success(rp, trusted, session, format, authnContext);
    } catch (err) {
      if (!answersRelyingParty(err)) throw err;
      return this.error(trusted, toSamlStatus(err), err instanceof SamlError ? err.message : undefined, toProblem(err).messageId);
    }
  }

  private async success(
    rp: SamlRelyingParty,
    trusted: TrustedAuthnRequest,
    session: { id: string; record: SessionRecord },
    format: NameIdFormatName,
    authnContextClassRef: string,
  ): Promise<Outcome> {
    const { record } = session;
    const principal = record.principal;
    const now = this.deps.clock.now();
    const nameIdValue = this.nameIdValue(rp, format, session);
    const built = buildSuccessResponse({
      issuer: this.deps.issuerFor?.(rp.entityId, principal) ?? this.deps.issuer,
      now,
      inResponseTo: trusted.request?.id,
      destination: trusted.acsUrl,
      audience: rp.entityId,
      nameId: { format: NAME_ID_FORMAT[format], value: nameIdValue },
      authnInstant: record.authnInstant,
      sessionIndex: this.sessionIndex(session.id),
      authnContextClassRef,
      attributes: rp.attributes.map((a) => ({
        name: a.name,
        nameFormat: ATTRNAME_FORMAT[a.nameFormat],
        friendlyName: a.friendlyName,
        values: claimValues(principal, a.source),
      })),
      lifetimeMs: rp.assertionLifetimeMinutes * 60_000,
      skewMs: this.deps.settings.clockSkewSeconds * 1000,
      deliveryMs: SUBJECT_CONFIRMATION_MS,
    });
    // Sign the assertion, encrypt it when the SP has an encryption certificate and encryptClaims is on (AD FS EncryptClaims), then sign the response.
    const xml = await sealResponse(built, {
      signAssertion: rp.signAssertion,
      signResponse: rp.signResponse,
      key: this.deps.keys.primary,
      algorithm: signatureAlgorithmFor(rp.signatureAlgorithm),
      encryption: rp.encryptClaims && rp.encryptionCertificate ? { certificate: rp.encryptionCertificate } : undefined,
    });
    return { action: 'post', url: trusted.acsUrl, fields: this.fields(xml, trusted.relayState), status: 'success', nameId: nameIdValue };
  }

  private error(trusted: TrustedAuthnRequest, status: SamlStatus, message?: string, refusal?: MessageId): Outcome {
    const { xml } = buildErrorResponse({
      issuer: this.deps.issuer,
      now: this.deps.clock.now(),
      inResponseTo: trusted.request?.id,
      destination: trusted.acsUrl,
      status,
      message,
    });
    return { action: 'post', url: trusted.acsUrl, fields: this.fields(xml, trusted.relayState), status: 'error', ...(refusal ? { refusal } : {}) };
  }

  private fields(xml: string, relayState: string | undefined): Record<string, string> {
    // RelayState goes back byte for byte: it is the SP's, and never a URL we follow.
    return relayState === undefined ? { SAMLResponse: encodePostMessage(xml) } : { SAMLResponse: encodePostMessage(xml), RelayState: relayState };
  }

  // --------------------------------------------------------------------------------- checks

  private parse(xml: string): Element {
    try {
      return parseXml(xml, { maxBytes: this.deps.settings.maxMessageBytes }).documentElement as unknown as Element;
    } catch (err) {
      if (err instanceof XmlError) throw new SamlError('saml_request_invalid', `unreadable XML: ${err.code}`);
      throw err;
    }
  }

  private checkSignature(rp: SamlRelyingParty, input: IncomingMessage, xml: string, unverified: Element): { root: Element; signed: boolean } {
    const allowSha1 = signatureAlgorithmFor(rp.signatureAlgorithm) === 'rsa-sha1';
    if (input.binding === 'redirect') {
      // The Redirect binding signs the query string; an XML signature inside would be ignored by
      // us, so refuse it rather than have two notions of "signed" (bindings §3.4.4.1).
      if (hasSignature(unverified)) throw new SamlError('saml_request_invalid', 'XML signature inside a Redirect-binding message');
      const signature = verifyRedirectSignature(input.rawQuery ?? '', input.param, rp.signingCertificates, allowSha1);
      return { root: unverified, signed: signature !== undefined };
    }
    if (!hasSignature(unverified)) return { root: unverified, signed: false };
    try {
      const verified = verifySignedRoot(xml, { certificates: rp.signingCertificates, allowSha1, maxBytes: this.deps.settings.maxMessageBytes });
      return { root: verified.root as unknown as Element, signed: true };
    } catch (err) {
      if (err instanceof XmlError) throw new SamlError('saml_signature_invalid', `signature refused: ${err.code}`);
      throw err;
    }
  }

  /** A signed message must say it was meant for us (bindings §3.4.5.2, §3.5.5.2); an unsigned one may omit it. */
  private checkDestination(destination: string | undefined, signed: boolean): void {
    if (destination === undefined) {
      if (signed) throw new SamlError('saml_request_invalid', 'signed message without Destination');
      return;
    }
    if (destination !== this.deps.ssoUrl) throw new SamlError('saml_request_invalid', `Destination ${destination.slice(0, 200)} is not this service`);
  }

  /** IssueInstant within the window; returns the replay-cache entry admit() will claim. */
  private checkAge(rp: SamlRelyingParty, id: string, issueInstant: number): Inspected['firstUse'] {
    const windowMs = this.deps.settings.requestMaxAgeMinutes * 60_000;
    const skewMs = this.deps.settings.clockSkewSeconds * 1000;
    const age = this.deps.clock.now() - issueInstant;
    if (age > windowMs || age < -skewMs) {
      throw new SamlError('saml_request_expired', `IssueInstant ${new Date(issueInstant).toISOString()} outside the ${windowMs / 60_000}-minute window`);
    }
    // Remembered for the whole window plus skew: a replay later than that is refused as too old.
    return { key: `saml2|${rp.entityId}|${id}`, ttlMs: windowMs + skewMs, what: `request ${id} from ${rp.entityId}` };
  }

  /**
   * The NameID format: the RP's configured one. A request may ask for it, or for "unspecified"
   * (any), and nothing else: like AD FS, we issue what the RP's rules produce or refuse. SAML 2.0
   * defines no "unspecified" format of its own, but SPs that write one mean SAML 1.1's.
   */
  private nameIdFormat(rp: SamlRelyingParty, request: AuthnRequest | undefined): NameIdFormatName {
    const configured = rp.nameId.format;
    const asked = request?.nameIdPolicy?.format;
    if (isUnspecifiedNameIdFormat(asked) || asked === NAME_ID_FORMAT[configured]) return configured;
    throw new SamlError('saml_request_invalid', `NameID format ${asked!.slice(0, 200)} is not configured for this relying party`, {
      top: 'Requester',
      sub: 'InvalidNameIDPolicy',
    });
  }

  /**
   * A request that names its subject (core §3.4.1.4) must get an assertion about that principal or an
   * error status. The session's user is the only one we can assert, so the NameID we would issue to
   * this RP for this session must be the one named; a mismatch is never answered with the session's
   * user, nor by signing in someone else behind the SP's back.
   *
   * The status is Requester/RequestDenied: we understood the request and decline it. UnknownPrincipal
   * would be wrong — it says the named principal is unknown to us, which we never checked and which
   * the SP could take as "no such account" — and would hint at who is signed in to this browser.
   */
  private checkRequestedSubject(
    rp: SamlRelyingParty,
    request: AuthnRequest | undefined,
    format: NameIdFormatName,
    session: { id: string; record: SessionRecord },
  ): void {
    const named = request?.subject;
    if (!named) return;
    // An unspecified Format leaves the kind of identifier to us, so only the value can differ; any
    // other Format must be the one we issue, or the two identifiers cannot name the same principal.
    const sameFormat = isUnspecifiedNameIdFormat(named.format) || named.format === NAME_ID_FORMAT[format];
    if (sameFormat && named.nameId === this.nameIdValue(rp, format, session)) return;
    throw new SamlError('saml_request_invalid', 'the requested Subject is not the signed-in user', { top: 'Requester', sub: 'RequestDenied' });
  }

  private nameIdValue(rp: SamlRelyingParty, format: NameIdFormatName, session: { id: string; record: SessionRecord }): string {
    if (format === 'transient') {
      // Opaque, per session and per SP: not linkable across SPs or sessions, yet stable within one.
      return deriveSessionValue(this.deps.sessionSecret, `transient|${session.id}|${rp.entityId}`);
    }
    const source = rp.nameId.source ?? ({ persistent: 'immutableId', emailAddress: 'mail', unspecified: 'upn' } as const)[format];
    const value = claimValues(session.record.principal, source)[0];
    if (value === undefined) {
      throw new SamlError('saml_request_invalid', `the user has no ${source} for the NameID`, { top: 'Responder', sub: 'InvalidNameIDPolicy' });
    }
    return value;
  }

  /**
   * A password over TLS lets us state PasswordProtectedTransport, a Kerberos ticket AD FS's
   * urn:federation:authentication:windows (or SAML's Kerberos class) — or unspecified, which states
   * nothing. RequestedAuthnContext is
   * judged on those two statements (SAML core §3.3.2.2.1), with strength "as deemed by the responder"
   * from RANKS:
   *
   *   exact    "the exact match of at least one of the authentication contexts specified": met when
   *            PasswordProtectedTransport (or unspecified) is listed. Password is NOT met: the Password
   *            class means a password over an unprotected session (authn context §3.4.18), which ours
   *            was not, and exact allows no stronger substitute — that is what minimum is for.
   *   minimum  "at least as strong ... as one of" them: met when any listed class ranks at or below ours.
   *   better   "stronger ... than any one of" them: stronger than each one listed, so every listed class
   *            must rank below ours (minimum already covers "stronger than some"; better asks more).
   *   maximum  "as strong as possible ... without exceeding the strength of at least one of" them: our
   *            method qualifies when a listed class is at least as strong (MFA, smart card: we are
   *            weaker, which maximum allows); if only weaker ones are listed, unspecified exceeds none.
   *
   * A class we cannot rank (an unknown URI) is never met: we cannot deem ourselves stronger, weaker or
   * equal to it. undefined: this method cannot meet the request (answer() decides what follows).
   */
  private authnContext(request: AuthnRequest | undefined, method: AuthMethod, mfa: boolean): string | undefined {
    const wanted = request?.requestedAuthnContext;
    // What we can say truthfully, strongest first: multipleauthn after a second factor; then
    // PasswordProtectedTransport, or AD FS's windows statement (or the SAML Kerberos class, when that
    // is what the SP names) for a Kerberos sign-in.
    const primary = method === 'windows' ? [AUTHN_CONTEXT.windows, AUTHN_CONTEXT.kerberos] : method === 'password' ? [AUTHN_CONTEXT.passwordProtectedTransport] : [];
    if (primary.length === 0) return undefined;
    const statements = [...(mfa ? [{ ref: AUTHN_CONTEXT.multipleAuthn, rank: RANK_PPT + 1 }] : []), ...primary.map((ref) => ({ ref, rank: RANK_PPT }))];
    const ours = statements[0]!;
    if (!wanted || wanted.classRefs.length === 0) return ours.ref;
    const ranks = wanted.classRefs.map((ref) => rankOf(ref));
    const known = ranks.filter((r): r is number => r !== undefined);
    switch (wanted.comparison) {
      case 'exact':
        return statements.find((s) => wanted.classRefs.includes(s.ref))?.ref ?? (wanted.classRefs.includes(AUTHN_CONTEXT.unspecified) ? AUTHN_CONTEXT.unspecified : undefined);
      case 'minimum':
        return known.some((r) => r <= ours.rank) ? ours.ref : undefined;
      case 'better':
        return known.length === ranks.length && known.every((r) => r < ours.rank) ? ours.ref : undefined;
      case 'maximum': {
        // The strongest statement that does not exceed every listed class.
        const fits = statements.find((s) => known.some((r) => r >= s.rank));
        return fits ? fits.ref : known.length > 0 ? AUTHN_CONTEXT.unspecified : undefined;
      }
    }
  }

  // --------------------------------------------------------------------------- single logout

  /**
   * Does this LogoutRequest name the browser's session? The NameID must be the one we issued to that
   * SP, and a SessionIndex, when given, must be this session's.
   */
  logoutMatchesSession(rp: SamlRelyingParty, request: LogoutRequest, session: { id: string; record: SessionRecord }): boolean {
    if (!session.record.relyingParties.includes(rp.entityId)) return false;
    const participant = this.participant(rp, session);
    if (!participant || participant.nameId.value !== request.nameId) return false;
    return request.sessionIndexes.length === 0 || request.sessionIndexes.includes(participant.sessionIndex);
  }

  /** The SPs of a session that have an SLO endpoint, except `except` (the one that started logout). */
  logoutParticipants(session: { id: string; record: SessionRecord }, except?: string): LogoutParticipant[] {
    return session.record.relyingParties.flatMap((entityId) => {
      const rp = entityId === except ? undefined : this.deps.registry.get(entityId);
      const participant = rp && rp.slo.length > 0 ? this.participant(rp, session) : undefined;
      return participant ? [participant] : [];
    });
  }

  private participant(rp: SamlRelyingParty, session: { id: string; record: SessionRecord }): LogoutParticipant | undefined {
    try {
      const format = rp.nameId.format;
      return {
        rpEntityId: rp.entityId,
        nameId: { format: NAME_ID_FORMAT[format], value: this.nameIdValue(rp, format, session) },
        sessionIndex: this.sessionIndex(session.id),
      };
    } catch {
      return undefined; // the user has no value for this SP's NameID: it never got a token
    }
  }

  /** A signed LogoutRequest to one participant; `relayState` lets its answer find the logout again. */
  logoutRequest(participant: LogoutParticipant, relayState: string): { hop: LogoutHop; requestId: string } | undefined {
    const rp = this.deps.registry.get(participant.rpEntityId);
    const slo = rp?.slo[0];
    if (!rp || !slo) return undefined;
    const { xml, id } = buildLogoutRequest({
      issuer: this.deps.issuer,
      now: this.deps.clock.now(),
      destination: slo.url,
      nameId: participant.nameId,
      sessionIndex: participant.sessionIndex,
    });
    return { hop: this.hop(rp, slo.url, slo.binding, 'SAMLRequest', xml, id, relayState), requestId: id };
  }

  /** The LogoutResponse for the SP that started logout, or undefined when it has no SLO endpoint. */
  logoutResponse(initiator: LogoutInitiator, outcome: 'success' | 'partial' | 'unknown-principal'): LogoutHop | undefined {
    const rp = this.deps.registry.get(initiator.rpEntityId);
    const slo = rp?.slo[0];
    if (!rp || !slo) return undefined;
    const destination = slo.responseUrl ?? slo.url;
    const { xml, id } = buildLogoutResponse({
      issuer: this.deps.issuer,
      now: this.deps.clock.now(),
      destination,
      inResponseTo: initiator.requestId,
      outcome,
    });
    return this.hop(rp, destination, slo.binding, 'SAMLResponse', xml, id, initiator.relayState);
  }

  /** Logout messages are always signed: AD FS and most SPs refuse unsigned ones (MSIS1014). */
  private hop(
    rp: SamlRelyingParty,
    url: string,
    binding: 'redirect' | 'post',
    param: 'SAMLRequest' | 'SAMLResponse',
    xml: string,
    id: string,
    relayState: string | undefined,
  ): LogoutHop {
    const algorithm = signatureAlgorithmFor(rp.signatureAlgorithm);
    const key = this.deps.keys.primary;
    if (binding === 'redirect') {
      const query = signedRedirectQuery(param, xml, relayState, key.privateKey, algorithm);
      return { action: 'redirect', url: `${url}${url.includes('?') ? '&' : '?'}${query}` };
    }
    const signed = signElement(xml, { key: { privateKey: key.privateKey, certificateBase64: key.certificateBase64 }, algorithm, referenceId: id });
    const fields: Record<string, string> = { [param]: encodePostMessage(signed) };
    if (relayState !== undefined) fields.RelayState = relayState;
    return { action: 'post', url, fields };
  }

  sessionIndex(sessionId: string): string {
    return sessionIndexFor(this.deps.sessionSecret, sessionId);
  }
}

/** A message whose shape the XML layer refuses (a comment inside a value, a duplicated element) is the sender's mistake. */
function readingXml<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof XmlError) throw new SamlError('saml_request_invalid', `unreadable message: ${err.code}`);
    throw err;
  }
}

/** Strength as we deem it; unspecified guarantees nothing, so it is the weakest. */
const RANK_PPT = 2;
const RANKS = new Map<string, number>([
  [AUTHN_CONTEXT.unspecified, 0],
  [AUTHN_CONTEXT.password, 1],
  [AUTHN_CONTEXT.passwordProtectedTransport, RANK_PPT],
  // One factor each, as a password over TLS is: neither is deemed stronger than the other.
  [AUTHN_CONTEXT.windows, RANK_PPT],
  [AUTHN_CONTEXT.kerberos, RANK_PPT],
  ...STRONGER_AUTHN_CONTEXTS.map((ref) => [ref, RANK_PPT + 1] as [string, number]),
]);
const rankOf = (ref: string): number | undefined => RANKS.get(ref);
