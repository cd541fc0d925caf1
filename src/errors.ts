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
  | 'pending_request_expired'
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
