import type { Request, Response } from 'express';
import type { PasswordSignIn } from '../../authn/password.js';
import { BadRequestError } from '../../errors.js';
import { TooManyAttemptsError } from '../../lockout/guard.js';
import { singleParam, type Params } from '../../protocols/params.js';
import type { WebContext } from '../web-context.js';
import { continuePending } from '../local-path.js';
import { brandingOf } from '../branding.js';
import { pageLanguage } from '../i18n/index.js';
import { SIGN_IN_MESSAGES } from '../messages.js';
import { ROUTES } from '../route-paths.js';
import { readSession, startSession } from '../sso-cookie.js';
import { renderPage } from '../render.js';
import { integratedSignIn, type SignInError } from './windows-signin.js';
import { updatePasswordLocation } from './update-password.js';

const PENDING_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A form field we rendered: once, as a string (a repeated field arrives as an array and is refused). */
function field(body: unknown, name: string): string | undefined {
  return singleParam(typeof body === 'object' && body !== null ? (body as Params) : {}, name, (detail) => new BadRequestError(detail));
}

function pendingIdFrom(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !PENDING_ID.test(value)) throw new BadRequestError('malformed pending request id');
  return value;
}

/**
 * GET /signin: the form — or, for a browser on the corporate network, first the Negotiate challenge
 * (windows-signin.ts), whose body is this same form. With a live session and nothing pending, there
 * is nothing to do.
 */
export function showSignIn(deps: WebContext) {
  return async (req: Request, res: Response) => {
    const pending = pendingIdFrom(req.query.pending);
    if (!pending && (await readSession(req, deps))) return res.redirect(303, '/');
    const username = typeof req.query.username === 'string' ? req.query.username.slice(0, deps.config.web.maxUsernameLength) : '';
    const view = { pending, username };
    if (await integratedSignIn(req, res, deps, view, (status, error) => renderSignIn(req, res.status(status), deps, { ...view, error }))) return;
    renderSignIn(req, res, deps, view);
  };
}

/** POST /signin: check the password, start a session, continue what was pending. */
export function submitSignIn(deps: WebContext) {
  return async (req: Request, res: Response) => {
    // Only honoured when offered: a crafted form cannot extend a session the administrator keeps short.
    const keepSignedIn = deps.config.sessions.keepMeSignedIn.enabled && field(req.body, 'kmsi') === 'true';
    const pending = pendingIdFrom(field(req.body, 'pending'));
    let outcome: PasswordSignIn;
    try {
      outcome = await deps.signIns.signIn(
        {
          username: field(req.body, 'username') ?? '',
          password: field(req.body, 'password') ?? '',
          clientIp: req.ip ?? '',
          requestId: String(req.id),
          log: req.log,
          endpoint: 'form',
          persistent: keepSignedIn,
        },
        () => deps.passwords.authenticate(req, res),
      );
    } catch (err) {
      if (err instanceof TooManyAttemptsError) res.set('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
    // AD reports these only after a right password: on to the change page, then on to what was pending.
    if (!outcome.ok && (outcome.reason === 'password_expired' || outcome.reason === 'password_must_change')) {
      return res.redirect(303, updatePasswordLocation(outcome.username, outcome.reason === 'password_expired' ? 'expired' : 'must_change', pending));
    }
    if (!outcome.ok) {
      const { status, error } =
        outcome.reason === 'missing_fields' || outcome.reason === 'too_long'
          ? { status: 400, error: `form.${outcome.reason}` as const }
          : { status: SIGN_IN_MESSAGES[outcome.reason].status, error: `signInFailure.${outcome.reason}` as const };
      return renderSignIn(req, res.status(status), deps, { pending, username: outcome.username, error });
    }

    await startSession(req, res, deps, outcome.principal, 'password', keepSignedIn);
    await continuePending(res, deps, pending);
  };
}


interface SignInView {
  pending?: string;
  username: string;
  error?: SignInError;
}

function renderSignIn(req: Request, res: Response, deps: WebContext, view: SignInView): void {
  const { t, lang } = pageLanguage(req);
  // The switch must keep what the form carries, also when the form is shown again after its POST.
  const here = view.pending ? `${ROUTES.signIn}?pending=${view.pending}` : ROUTES.signIn;
  renderPage(req, res, deps, 'signin', {
    pending: view.pending ?? '',
    username: view.username,
    error: view.error ? t(view.error) : '',
    // A refusal the help desk may need to look up (an account state, a directory down) carries the reference.
    errorReference: res.statusCode >= 403,
    offerKmsi: deps.config.sessions.keepMeSignedIn.enabled,
    signInText: brandingOf(deps.config).signInText(lang) ?? '',
  }, here);
}
