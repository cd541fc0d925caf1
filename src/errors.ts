/**
 * One error hierarchy for everything a request can run into. `toProblem` is the only place that
 * decides what goes on the wire: a status and a stable message id. Internal causes stay in `cause`
 * and reach the logs only.
 */
import { StoreUnavailableError } from './sessions/types.js';

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
  | 'internal_error';

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

/**
 * A protocol request we refuse. Before the relying party and its endpoint are trusted it becomes an
 * error page (status + messageId); after, the same error goes back to the RP as a SAML status.
 */
export class ProtocolError extends OpenFedError {
  constructor(
    messageId: MessageId,
    detail: string,
    readonly saml: { top: SamlTopStatus; sub?: SamlSubStatus } = { top: 'Requester' },
    status = 400,
    /** false: the user must read this on our page (answering the RP would only hide the reason). */
    readonly answerRelyingParty = true,
  ) {
    super(status, messageId, detail);
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
  if (err instanceof StoreUnavailableError) return { status: 503, messageId: 'sessions_unavailable' };
  // body-parser and express raise http-errors with a status; only their status is trusted.
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (status === 413) return { status, messageId: 'payload_too_large' };
  if (typeof status === 'number' && status >= 400 && status < 500) return { status: 400, messageId: 'bad_request' };
  return { status: 500, messageId: 'internal_error' };
}

/** The SAML status for anything thrown while answering a trusted relying party. */
export function toSamlStatus(err: unknown): { top: SamlTopStatus; sub?: SamlSubStatus } {
  if (err instanceof ProtocolError) return err.saml;
  if (err instanceof OpenFedError && err.status < 500) return { top: 'Requester' };
  return { top: 'Responder' };
}
