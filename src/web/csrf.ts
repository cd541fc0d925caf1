/**
 * CSRF protection for every state-changing form: csrf-csrf's signed double-submit cookie, bound to
 * the SSO cookie when there is one, so a token minted for one session is useless in another.
 */
import type { NextFunction, Request, Response } from 'express';
import { doubleCsrf } from 'csrf-csrf';
import { CsrfError } from '../errors.js';
import type { AppDeps } from './context.js';
import { isHttps } from './sso-cookie.js';

export interface Csrf {
  /** Rejects a POST whose token does not match. */
  protect(req: Request, res: Response, next: NextFunction): void;
  /** Makes the cookie/token pair for a form about to be rendered. */
  token(req: Request, res: Response): string;
}

export function createCsrf(deps: AppDeps): Csrf {
  const https = isHttps(deps);
  const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
    getSecret: () => deps.csrfSecret,
    getSessionIdentifier: (req) => {
      const sso: unknown = req.cookies?.[deps.config.sessions.cookieName];
      return typeof sso === 'string' ? sso : '';
    },
    // __Host- cookies must be Secure, so the prefix is only used over HTTPS.
    cookieName: https ? '__Host-openfed.csrf' : 'openfed_csrf',
    cookieOptions: { sameSite: 'strict', secure: https, httpOnly: true, path: '/' },
    getCsrfTokenFromRequest: (req) => {
      const value: unknown = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof value === 'string' ? value : undefined;
    },
  });
  return {
    protect(req, res, next) {
      doubleCsrfProtection(req, res, (err?: unknown) => next(err ? new CsrfError() : undefined));
    },
    token: (req, res) => generateCsrfToken(req, res, { overwrite: false, validateOnReuse: false }),
  };
}
