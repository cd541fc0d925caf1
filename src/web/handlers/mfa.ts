/**
 * The second factor, for a session that has its first (a password or a Kerberos ticket): the code
 * prompt, or — the first time — the authenticator app's enrolment (a QR code and the key as text,
 * confirmed by a first code) and the recovery codes, shown once. A relying party that needs MFA
 * sends the user here (passive/endpoint.ts parks its request); afterwards the session carries the
 * second factor to every other relying party (sso-cookie.ts upgradeSession), with a new id.
 *
 * The codes themselves are checked by mfa/service.ts (once each, ±1 step, a per-user limit, audited).
 */
import type { Request, Response } from 'express';
import QRCode from 'qrcode';
import { AccessDeniedError, BadRequestError } from '../../errors.js';
import type { MfaFailureReason } from '../../mfa/service.js';
import { singleParam, type Params } from '../../protocols/params.js';
import { pageLanguage } from '../i18n/index.js';
import { continuePending } from '../local-path.js';
import { renderPage } from '../render.js';
import { ROUTES } from '../route-paths.js';
import { readSession, upgradeSession } from '../sso-cookie.js';
import type { WebContext } from '../web-context.js';

const PENDING_ID = /^[A-Za-z0-9_-]{16,64}$/;

function pendingIdFrom(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !PENDING_ID.test(value)) throw new BadRequestError('malformed pending request id');
  return value;
}

function field(body: unknown, name: string): string | undefined {
  return singleParam(typeof body === 'object' && body !== null ? (body as Params) : {}, name, (detail) => new BadRequestError(detail), 64);
}

/** The service, or the refusal a relying party's MFA requirement meets when OpenFed has no second factor. */
function mfaOf(deps: WebContext) {
  if (!deps.mfa) throw new AccessDeniedError('mfa_required', 'a second factor is required but MFA is not set up (keys.encryptionSecret)');
  return deps.mfa;
}

/** Without a session there is no first factor to add to: the password first, then back here. */
async function sessionOrSignIn(req: Request, res: Response, deps: WebContext, pending: string | undefined) {
  const session = await readSession(req, deps);
  if (!session) res.redirect(303, pending ? `${ROUTES.signIn}?pending=${pending}` : ROUTES.signIn);
  return session;
}

/** GET /mfa: the code prompt, or the enrolment when the user has no authenticator yet. */
export function showMfa(deps: WebContext) {
  return async (req: Request, res: Response) => {
    const pending = pendingIdFrom(req.query.pending);
    const session = await sessionOrSignIn(req, res, deps, pending);
    if (!session) return;
    const mfa = mfaOf(deps);
    const upn = session.record.principal.userPrincipalName;
    if ((await mfa.status(upn)).enrolled) return renderCode(req, res, deps, { pending });
    await renderEnrolment(req, res, deps, upn, { pending });
  };
}

/** POST /mfa: a code (or a recovery code) for an enrolled user. */
export function submitMfa(deps: WebContext) {
  return async (req: Request, res: Response) => {
    const pending = pendingIdFrom(field(req.body, 'pending'));
    const session = await sessionOrSignIn(req, res, deps, pending);
    if (!session) return;
    const code = field(req.body, 'code') ?? '';
    const result = await mfaOf(deps).verify(session.record.principal.userPrincipalName, code, { clientIp: req.ip ?? '', requestId: String(req.id) });
    if (!result.ok) {
      if (result.reason === 'not_enrolled') return res.redirect(303, `${ROUTES.mfa}${pending ? `?pending=${pending}` : ''}`);
      if (result.retryAfterSeconds !== undefined) res.set('Retry-After', String(result.retryAfterSeconds));
      return renderCode(req, res.status(failureStatus(result.reason)), deps, { pending, error: result.reason });
    }
    await upgradeSession(res, deps, session, deps.clock.now());
    await continuePending(res, deps, pending);
  };
}

/** POST /mfa/enrol: the first code from the newly scanned app; then the recovery codes, once. */
export function submitEnrolment(deps: WebContext) {
  return async (req: Request, res: Response) => {
    const pending = pendingIdFrom(field(req.body, 'pending'));
    const session = await sessionOrSignIn(req, res, deps, pending);
    if (!session) return;
    const upn = session.record.principal.userPrincipalName;
    const code = field(req.body, 'code') ?? '';
    const result = await mfaOf(deps).confirmEnrolment(upn, code.replace(/\s+/g, ''), { clientIp: req.ip ?? '', requestId: String(req.id) });
    if (!result.ok) {
      if (result.reason === 'already_enrolled') return renderCode(req, res, deps, { pending });
      // A new key when the old one expired unconfirmed: the page shows what the app must scan now.
      const error = result.reason === 'no_pending' ? 'enrolment_expired' : result.reason;
      return renderEnrolment(req, res.status(400), deps, upn, { pending, error });
    }
    await upgradeSession(res, deps, session, deps.clock.now());
    renderPage(req, res, deps, 'mfa-recovery', {
      recoveryCodes: result.recoveryCodes,
      continueHref: `${ROUTES.mfaContinue}${pending ? `?pending=${pending}` : ''}`,
    });
  };
}

/** GET /mfa/continue: on from the recovery codes to what was waiting. */
export function continueAfterEnrolment(deps: WebContext) {
  return async (req: Request, res: Response) => {
    await continuePending(res, deps, pendingIdFrom(req.query.pending));
  };
}

function failureStatus(reason: MfaFailureReason): number {
  return reason === 'too_many_attempts' ? 429 : 400;
}

type PageError = MfaFailureReason | 'enrolment_expired';

function renderCode(req: Request, res: Response, deps: WebContext, view: { pending?: string; error?: PageError }): void {
  const { t } = pageLanguage(req);
  renderPage(req, res, deps, 'mfa', {
    pending: view.pending ?? '',
    error: view.error ? t(`mfa.${view.error}`) : '',
    issuer: deps.mfaIssuer,
  });
}

async function renderEnrolment(req: Request, res: Response, deps: WebContext, upn: string, view: { pending?: string; error?: PageError }): Promise<void> {
  // After a wrong first code the same key again: the user's app already has it.
  const begun = await mfaOf(deps).beginEnrolment(upn, { keepPending: view.error === 'wrong_code' || view.error === 'replayed' });
  if (!begun.ok) return renderCode(req, res, deps, view);
  // An SVG drawn from paths: no script, no style attribute, nothing the CSP has to allow.
  const qrSvg = await QRCode.toString(begun.otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
  const { t } = pageLanguage(req);
  renderPage(req, res, deps, 'mfa-enrol', {
    pending: view.pending ?? '',
    error: view.error ? t(`mfa.${view.error}`) : '',
    qrSvg,
    secretGroups: begun.secret.replace(/(.{4})/g, '$1 ').trim(),
  });
}
