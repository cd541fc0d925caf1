/**
 * The change-password page at AD FS's /adfs/portal/updatepassword. Reached from the sign-in form when
 * AD says the password expired or must change (with the pending request and the user name, never a
 * password), or on its own. After a change from sign-in the user is signed in with the new password
 * (the sign-in path itself: throttle, lockout, audit) and continues to what was pending, with no
 * second prompt; on its own, the page says it is done and offers sign-in.
 */
import type { Request, Response } from 'express';
import { PasswordChanges, type PasswordChangeOutcome } from '../../authn/password-change.js';
import { BadRequestError } from '../../errors.js';
import { TooManyAttemptsError } from '../../lockout/guard.js';
import { singleParam, type Params } from '../../protocols/params.js';
import { continuePending } from '../local-path.js';
import { PASSWORD_CHANGE_MESSAGES } from '../messages.js';
import { renderPage } from '../render.js';
import { ROUTES } from '../route-paths.js';
import { startSession } from '../sso-cookie.js';
import type { WebContext } from '../web-context.js';

const PENDING_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** Why the sign-in form sent the user here; it decides the notice and that a change signs them in. */
export type ChangeReason = 'expired' | 'must_change';

/** Where the sign-in form sends a user whose password expired or must change. */
export function updatePasswordLocation(username: string, reason: ChangeReason, pending: string | undefined): string {
  const query = new URLSearchParams({ username, reason });
  if (pending) query.set('pending', pending);
  return `${ROUTES.updatePassword}?${query.toString()}`;
}

function field(source: unknown, name: string): string | undefined {
  return singleParam(typeof source === 'object' && source !== null ? (source as Params) : {}, name, (detail) => new BadRequestError(detail));
}

function pendingIdFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!PENDING_ID.test(value)) throw new BadRequestError('malformed pending request id');
  return value;
}

function reasonFrom(value: string | undefined): ChangeReason | undefined {
  return value === 'expired' || value === 'must_change' ? value : undefined;
}

interface FormView {
  username: string;
  pending?: string;
  reason?: ChangeReason;
  error?: string;
}

const FAILURE_STATUS: Partial<Record<Extract<PasswordChangeOutcome, { ok: false }>['reason'], number>> = {
  invalid_credentials: 401,
  account_locked: 401,
  account_disabled: 403,
  account_expired: 403,
  logon_hours: 403,
  workstation_restricted: 403,
  change_unavailable: 503,
};

/** GET: the form, or 503 when this directory cannot change passwords (no LDAPS). */
export function showUpdatePassword(deps: WebContext) {
  return (req: Request, res: Response) => {
    if (!deps.directory.passwordChangeSupport().available) return renderUnavailable(req, res, deps);
    renderForm(req, res, deps, {
      username: (field(req.query, 'username') ?? '').slice(0, deps.config.web.maxUsernameLength),
      pending: pendingIdFrom(field(req.query, 'pending')),
      reason: reasonFrom(field(req.query, 'reason')),
    });
  };
}

/** POST: change it; then sign in and continue, or say it is done. */
export function submitUpdatePassword(deps: WebContext) {
  const changes = new PasswordChanges(deps);
  return async (req: Request, res: Response) => {
    if (!deps.directory.passwordChangeSupport().available) return renderUnavailable(req, res, deps);
    const pending = pendingIdFrom(field(req.body, 'pending'));
    const reason = reasonFrom(field(req.body, 'reason'));
    const next = field(req.body, 'newPassword') ?? '';
    const common = { clientIp: req.ip ?? '', requestId: String(req.id), log: req.log };
    let outcome: PasswordChangeOutcome;
    try {
      outcome = await changes.change({
        ...common,
        username: field(req.body, 'username') ?? '',
        current: field(req.body, 'currentPassword') ?? '',
        next,
        confirmation: field(req.body, 'confirmPassword') ?? '',
      });
    } catch (err) {
      if (err instanceof TooManyAttemptsError) res.set('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
    if (!outcome.ok) {
      if (outcome.reason === 'change_unavailable') return renderUnavailable(req, res, deps);
      const status = FAILURE_STATUS[outcome.reason] ?? 400;
      return renderForm(req, res.status(status), deps, { username: outcome.username, pending, reason, error: PASSWORD_CHANGE_MESSAGES.failures[outcome.reason] });
    }

    if (reason) {
      // Sent here by the sign-in form: the new password signs the user in, as the form would.
      const signedIn = await deps.signIns.signIn({ ...common, username: outcome.username, password: next, endpoint: 'form' }, (username) =>
        deps.passwords.check(username, next),
      );
      if (signedIn.ok) {
        await startSession(req, res, deps, signedIn.principal, 'password', false);
        return continuePending(res, deps, pending);
      }
      // Changed, but the sign-in did not follow (another DC not yet replicated, a state AD reports
      // only now): the password is changed all the same, so say so and offer the form.
    }
    renderPage(req, res, deps, 'update-password-done', {
      title: PASSWORD_CHANGE_MESSAGES.changedTitle,
      m: PASSWORD_CHANGE_MESSAGES,
      signInHref: signInHref(outcome.username, pending),
    });
  };
}

function signInHref(username: string, pending: string | undefined): string {
  const query = new URLSearchParams({ username });
  if (pending) query.set('pending', pending);
  return `${ROUTES.signIn}?${query.toString()}`;
}

function renderForm(req: Request, res: Response, deps: WebContext, view: FormView): void {
  const m = PASSWORD_CHANGE_MESSAGES;
  renderPage(req, res, deps, 'update-password', {
    title: m.title,
    m,
    action: ROUTES.updatePassword,
    username: view.username,
    pending: view.pending ?? '',
    reason: view.reason ?? '',
    notice: view.reason === 'expired' ? m.expiredNotice : view.reason === 'must_change' ? m.mustChangeNotice : '',
    error: view.error ?? '',
    maxUsernameLength: deps.config.web.maxUsernameLength,
    maxPasswordLength: deps.config.web.maxPasswordLength,
  });
}

/** 503: said plainly on the page rather than failing at the user after they typed two passwords. */
function renderUnavailable(req: Request, res: Response, deps: WebContext): void {
  renderPage(req, res.status(503), deps, 'update-password-unavailable', { title: PASSWORD_CHANGE_MESSAGES.unavailableTitle, m: PASSWORD_CHANGE_MESSAGES });
}
