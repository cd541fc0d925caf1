/**
 * One error hierarchy for everything OpenFed can run into, and the one place that decides what each
 * error becomes on the wire: an HTTP status and a stable message id (`toProblem`), a SAML status
 * (`toSamlStatus`) or a WS-Federation fault code (`toWsfedFault`). Internal causes stay in `cause`
 * and the message, and reach the logs only.
 *
 * This file imports nothing: every layer may throw these.
 */

/** Stable ids of user-facing messages; the texts live in web/messages.ts. */
export type MessageId =
  | 'bad_request'
  | 'csrf_failed'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'sessions_unavailable'
  | 'directory_unavailable'
  | 'too_many_attempts'
  | 'pending_request_expired'
  | 'saml_request_invalid'
  | 'saml_unknown_relying_party'
  | 'saml_unknown_acs'
  | 'saml_signature_invalid'
  | 'saml_request_expired'
  | 'saml_request_replayed'
  | 'idp_initiated_not_allowed'
  | 'wsfed_request_invalid'
  | 'wsfed_unknown_realm'
  | 'wsfed_unknown_reply'
  | 'm365_domain_not_federated'
  | 'm365_no_immutable_id'
  | 'wstrust_request_invalid'
  | 'wstrust_not_https'
  | 'wstrust_wrong_destination'
  | 'wstrust_action_not_supported'
  | 'wstrust_message_expired'
  | 'wstrust_unknown_relying_party'
  | 'wstrust_authentication_failed'
  | 'wstrust_windows_not_offered'
  | 'wstrust_windows_challenge'
  | 'access_denied'
  | 'mfa_required'
  | 'internal_error';

/** The protocols a refusal can belong to; the route that received the message names it. */
export type Protocol = 'saml2' | 'wsfed' | 'wstrust';

export class OpenFedError extends Error {
  constructor(
    readonly status: number,
    readonly messageId: MessageId,
    /** For logs only. */
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = new.target.name;
  }
}

/**
 * Something wrong on our side — configuration, keys, a library — never the requester's fault: a
 * bare 500 on the wire, the detail in the log (or, at start-up, the one line the operator reads).
 */
export class InternalError extends OpenFedError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(500, 'internal_error', detail, options);
  }
}

export class BadRequestError extends OpenFedError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(400, 'bad_request', detail, options);
  }
}

export class CsrfError extends OpenFedError {
  constructor(detail = 'CSRF token missing or invalid') {
    super(403, 'csrf_failed', detail);
  }
}

export class NotFoundError extends OpenFedError {
  constructor(detail = 'no such route') {
    super(404, 'not_found', detail);
  }
}

export class ServiceUnavailableError extends OpenFedError {
  constructor(messageId: 'sessions_unavailable' | 'directory_unavailable', detail: string, options?: { cause?: unknown }) {
    super(503, messageId, detail, options);
  }
}

/** The session, replay or lockout store cannot be reached (Redis down or timing out): 503. */
export class StoreUnavailableError extends ServiceUnavailableError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('sessions_unavailable', detail, options);
  }
}

/** SAML 2.0 top-level and second-level status codes we answer with (SAML core §3.2.2.2). */
export type SamlTopStatus = 'Requester' | 'Responder' | 'VersionMismatch';
export type SamlSubStatus =
  | 'NoPassive'
  | 'InvalidNameIDPolicy'
  | 'NoAuthnContext'
  | 'RequestDenied'
  | 'RequestUnsupported'
  | 'UnsupportedBinding'
  | 'AuthnFailed'
  | 'PartialLogout'
  | 'UnknownPrincipal';
export interface SamlStatus {
  top: SamlTopStatus;
  sub?: SamlSubStatus;
}

/**
 * Fault codes of WS-Federation 1.2 §13 and WS-Trust 1.3 §11 that a passive or active requestor can
 * be told. The passive profile shows them on our error page only (never POSTs them to an unchecked
 * reply URL); WS-Trust carries them in a SOAP fault.
 */
export type WsfedFault =
  | 'fed:BadRequest'
  | 'fed:NotSignedIn'
  | 'wst:InvalidRequest'
  | 'wst:FailedAuthentication'
  | 'wst:RequestFailed'
  | 'wst:BadRequest';

/** A protocol message refused: audited as token.refused (AD FS event 1201) under the route's protocol. */
export class ProtocolError extends OpenFedError {}

/**
 * A SAML message refused. Before the relying party and its endpoint are trusted it becomes an error
 * page (status + messageId); after, the same error goes back to the SP as this SAML status.
 */
export class SamlError extends ProtocolError {
  constructor(messageId: MessageId, detail: string, readonly saml: SamlStatus = { top: 'Requester' }, status = 400) {
    super(status, messageId, detail);
  }
}

/** A WS-Federation request refused: an error page, with the fault code a requestor would be told. */
export class WsfedError extends ProtocolError {
  constructor(messageId: MessageId, detail: string, readonly fault: WsfedFault = 'wst:InvalidRequest', status = 400) {
    super(status, messageId, detail);
  }
}

/**
 * The user may not have a token for this relying party (their domain is not federated, their account
 * lacks what the RP needs): shown on our page, never sent to the relying party, where it would only
 * hide the reason from the one person who can act on it.
 */
export class TokenRefusedError extends ProtocolError {
  constructor(messageId: MessageId, detail: string, status = 403) {
    super(status, messageId, detail);
  }
}

/**
 * What a SOAP fault says (SOAP 1.2 §5.4.6): the Code (Sender: the request is at fault; Receiver: we
 * are; MustUnderstand and VersionMismatch are the envelope's own) and a Subcode naming the exact
 * condition from WS-Trust 1.3 §11 / WS-Trust 2005 (wst), WS-Security 1.0 §12 (wsse) or WS-Addressing
 * 1.0 SOAP binding §6.4 (wsa). SOAP 1.1 has no subcode: its faultcode is the subcode itself.
 */
export type SoapFaultCode = 'Sender' | 'Receiver' | 'MustUnderstand' | 'VersionMismatch';
export type SoapFaultSubcode =
  | 'wst:InvalidRequest'
  | 'wst:FailedAuthentication'
  | 'wst:RequestFailed'
  | 'wst:InvalidScope'
  | 'wst:BadRequest'
  | 'wsse:FailedAuthentication'
  | 'wsse:InvalidSecurity'
  | 'wsse:UnsupportedSecurityToken'
  | 'wsse:MessageExpired'
  | 'wsa:DestinationUnreachable'
  | 'wsa:ActionNotSupported'
  | 'wsa:ActionMismatch'
  | 'wsa:MessageAddressingHeaderRequired'
  | 'wsa:OnlyAnonymousAddressSupported';

/** A WS-Trust request refused: always a SOAP fault, never a page (nobody is there to read one). */
export class WsTrustError extends ProtocolError {
  constructor(
    messageId: MessageId,
    detail: string,
    readonly soap: { code: SoapFaultCode; subcode: SoapFaultSubcode } = { code: 'Sender', subcode: 'wst:InvalidRequest' },
    status?: number,
  ) {
    // SOAP 1.2 HTTP binding (part 2, §7.5.1.2): a Sender fault is 400, any other 500.
    super(status ?? (soap.code === 'Sender' ? 400 : 500), messageId, detail);
  }
}

/**
 * The relying party's access control policy does not permit this user (here, now, this way): a SAML
 * RequestDenied status to the SP, our page for WS-Federation, a RequestFailed SOAP fault for WS-Trust.
 * `mfa_required`: only a multi-factor sign-in would be permitted.
 */
export class AccessDeniedError extends ProtocolError {
  constructor(messageId: 'access_denied' | 'mfa_required', detail: string) {
    super(403, messageId, detail);
  }
}

export interface Problem {
  status: number;
  messageId: MessageId;
}

/**
 * Maps anything thrown to what the user may see. Unknown errors become a bare 500: their text might
 * name hosts, DNs or library internals.
 */
export function toProblem(err: unknown): Problem {
  if (err instanceof OpenFedError) return { status: err.status, messageId: err.messageId };
  // body-parser and express raise http-errors with a status; only their status is trusted.
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (status === 413) return { status, messageId: 'payload_too_large' };
  if (typeof status === 'number' && status >= 400 && status < 500) return { status: 400, messageId: 'bad_request' };
  return { status: 500, messageId: 'internal_error' };
}

/** The SAML status for anything thrown while answering a trusted relying party. */
export function toSamlStatus(err: unknown): SamlStatus {
  if (err instanceof SamlError) return err.saml;
  if (err instanceof AccessDeniedError) return { top: 'Responder', sub: 'RequestDenied' };
  if (err instanceof OpenFedError && err.status < 500) return { top: 'Requester' };
  return { top: 'Responder' };
}

/** The WS-Federation / WS-Trust fault code for anything thrown while answering a requestor. */
export function toWsfedFault(err: unknown): WsfedFault {
  if (err instanceof WsfedError) return err.fault;
  if (err instanceof OpenFedError && err.status < 500) return 'wst:InvalidRequest';
  return 'wst:RequestFailed';
}

export interface SoapFaultAnswer {
  code: SoapFaultCode;
  /** Always present: clients (MSAL) read Code/Subcode/Value and Reason/Text together. */
  subcode: SoapFaultSubcode;
  status: number;
  messageId: MessageId;
}

/**
 * The SOAP fault for anything thrown while answering a WS-Trust request. A wrong password, an unknown
 * user and a locked account are one fault (WS-Security's FailedAuthentication, as AD FS answers), so
 * the endpoint tells a password sprayer nothing the sign-in form would not.
 */
export function toSoapFault(err: unknown): SoapFaultAnswer {
  if (err instanceof WsTrustError) return { ...err.soap, status: err.status, messageId: err.messageId };
  // Otherwise the HTTP status the error already has (403 refused, 413, 429 throttled, 503 directory
  // down) says more than a bare 400/500 would; the fault names the condition.
  const problem = toProblem(err);
  if (problem.status >= 500) return { code: 'Receiver', subcode: 'wst:RequestFailed', ...problem };
  const refused = err instanceof TokenRefusedError || err instanceof AccessDeniedError || problem.status === 429;
  return { code: 'Sender', subcode: refused ? 'wst:RequestFailed' : 'wst:InvalidRequest', ...problem };
}

/** May this error go back to the relying party as a protocol answer, or must the user read it here? */
export function answersRelyingParty(err: unknown): boolean {
  return !(err instanceof TokenRefusedError);
}
