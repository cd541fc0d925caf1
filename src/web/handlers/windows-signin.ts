/**
 * The sign-in page's Windows Integrated Authentication step (RFC 4559), for browsers on the corporate
 * network (AppDeps.windows decides who is asked). No token yet: 401 with `WWW-Authenticate: Negotiate`,
 * and the forms page as its body — a browser without a ticket shows it, so nobody is stuck. A token:
 * the ticket's user is signed in (authn/kerberos.ts) and continues where they were going, with the
 * server's token for mutual authentication when there is one. A token that fails gets the forms page,
 * never a second challenge (a browser would loop) and never NTLM.
 *
 * `?forms=1` skips the challenge: the relying party asked for a password (SAML
 * PasswordProtectedTransport exactly), or the user chose the form.
 */
import type { Request, Response } from 'express';
import { negotiateToken } from '../../authn/kerberos.js';
import { ServiceUnavailableError } from '../../errors.js';
import type { AuthFailureReason } from '../../directory/types.js';
import { SIGN_IN_MESSAGES } from '../messages.js';
import { startSession } from '../sso-cookie.js';
import type { WebContext } from '../web-context.js';
import { continuePending } from '../local-path.js';

/** What the sign-in form may say above it: a failure's catalogue key, shown in the page's language. */
export type SignInError = `signInFailure.${AuthFailureReason}` | `form.${'missing_fields' | 'too_long'}`;

/** true when the step answered the request; false when the ordinary form is for this client. */
export async function integratedSignIn(
  req: Request,
  res: Response,
  deps: WebContext,
  view: { pending?: string },
  showForm: (status: number, error?: SignInError) => void,
): Promise<boolean> {
  const windows = deps.windows;
  if (!windows || req.query.forms === '1' || !windows.offeredTo(req.ip ?? '', req.get('user-agent'))) return false;
  const token = negotiateToken(req.get('authorization'));
  if (token === undefined) {
    res.set('WWW-Authenticate', 'Negotiate');
    showForm(401);
    return true;
  }
  const outcome = await windows.signIns.signIn({ token, clientIp: req.ip ?? '', requestId: String(req.id), log: req.log, endpoint: 'form' });
  if (!outcome.ok) {
    if (outcome.reason === 'directory_unavailable') throw new ServiceUnavailableError('directory_unavailable', outcome.detail);
    // The account's own state (disabled, expired...) is said as a password sign-in would say it; a
    // ticket that did not work says nothing: the form is the way on.
    const reason = Object.hasOwn(SIGN_IN_MESSAGES, outcome.reason) && outcome.reason !== 'invalid_credentials' ? (outcome.reason as AuthFailureReason) : undefined;
    showForm(reason ? SIGN_IN_MESSAGES[reason].status : 200, reason && `signInFailure.${reason}`);
    return true;
  }
  await startSession(req, res, deps, outcome.principal, 'windows');
  if (outcome.response) res.set('WWW-Authenticate', `Negotiate ${outcome.response}`);
  await continuePending(res, deps, view.pending);
  return true;
}
