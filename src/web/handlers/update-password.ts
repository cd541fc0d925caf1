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
import type { MessageKey } from '../i18n/index.js';
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
  /** Why the change was refused: the page says it in the reader's language. */
  failure?: ChangeFailure;
}

type ChangeFailure = Extract<PasswordChangeOutcome, { ok: false }>['reason'];

const FAILURE_STATUS: Partial<Record<ChangeFailure, number>> = {
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
    const pending = pendingIdFrom(field(req.body, 'pending'));
    const reason = reasonFrom(field(req.body, 'reason'));
    if (!deps.directory.passwordChangeSupport().available) return renderUnavailable(req, res, deps, formAddress({ pending, reason }));
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
      if (outcome.reason === 'change_unavailable') return renderUnavailable(req, res, deps, formAddress({ pending, reason }));
      const status = FAILURE_STATUS[outcome.reason] ?? 400;
      return renderForm(req, res.status(status), deps, { username: outcome.username, pending, reason, failure: outcome.reason });
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
      signInHref: signInHref(outcome.username, pending),
      // This page answers the POST: a link to its address would show the form again, not this page.
      languageSwitch: false,
    });
  };
}

function signInHref(username: string, pending: string | undefined): string {
  const query = new URLSearchParams({ username });
  if (pending) query.set('pending', pending);
  return `${ROUTES.signIn}?${query.toString()}`;
}

/**
 * The form's own address with what it carries, for the language switch: after a POST the request's
 * address has none of it, and switching language must not lose the pending request. Never a password.
 */
function formAddress(view: { username?: string; pending?: string; reason?: ChangeReason }): string {
  const query = new URLSearchParams();
  if (view.username) query.set('username', view.username);
  if (view.reason) query.set('reason', view.reason);
  if (view.pending) query.set('pending', view.pending);
  const search = query.toString();
  return search ? `${ROUTES.updatePassword}?${search}` : ROUTES.updatePassword;
}

/**
 * Which fields a refusal is about, so that only they are marked invalid and described by the error:
 * the user name and current password for a wrong password, the new one twice for a policy's rule.
 */
const CREDENTIALS = ['username', 'currentPassword'];
const NEW_PASSWORD = ['newPassword', 'confirmPassword'];
const RULES: ReadonlySet<ChangeFailure> = new Set(['mismatch', 'same_as_current', 'too_short', 'complexity', 'in_history', 'rejected_by_policy']);
function invalidFields(reason: ChangeFailure | undefined): string[] {
  if (!reason) return [];
  if (reason === 'invalid_credentials' || reason === 'account_locked') return CREDENTIALS;
  if (RULES.has(reason)) return NEW_PASSWORD;
  if (reason === 'missing_fields' || reason === 'too_long') return [...CREDENTIALS, ...NEW_PASSWORD];
  // An account state or a change too soon: not something a field can fix.
  return [];
}

const NOTICES: Readonly<Record<ChangeReason, MessageKey>> = {
  expired: 'passwordChange.expiredNotice',
  must_change: 'passwordChange.mustChangeNotice',
};

function renderForm(req: Request, res: Response, deps: WebContext, view: FormView): void {
  renderPage(
    req,
    res,
    deps,
    'update-password',
    {
      action: ROUTES.updatePassword,
      username: view.username,
      pending: view.pending ?? '',
      reason: view.reason ?? '',
      notice: view.reason ? NOTICES[view.reason] : '',
      error: view.failure ? (`passwordChange.failures.${view.failure}` satisfies MessageKey) : '',
      invalid: invalidFields(view.failure),
      // A refusal the help desk may need to look up (an account state) carries the reference, as at sign-in.
      errorReference: res.statusCode >= 403,
      maxUsernameLength: deps.config.web.maxUsernameLength,
      maxPasswordLength: deps.config.web.maxPasswordLength,
    },
    formAddress(view),
  );
}

/** 503: said plainly on the page rather than failing at the user after they typed two passwords. */
function renderUnavailable(req: Request, res: Response, deps: WebContext, here?: string): void {
  renderPage(req, res.status(503), deps, 'update-password-unavailable', { now: Date.now() }, here);
}
