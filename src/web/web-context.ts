/**
 * AppDeps plus the web layer's own helpers, handed to every express handler factory. Kept apart from
 * context.ts so that the helpers themselves (CSRF, the passive front door) depend on AppDeps alone.
 */
import type { PasswordSignIns } from '../authn/password.js';
import type { AppDeps } from './context.js';
import type { Csrf } from './csrf.js';
import type { PassiveEndpoint } from './passive/endpoint.js';
import type { PasswordAuthenticator } from './password-auth.js';

export interface WebContext extends AppDeps {
  csrf: Csrf;
  passwords: PasswordAuthenticator;
  /** Every password attempt, from the form or a WS-Trust request: throttle, lockout, directory, audit. */
  signIns: PasswordSignIns;
  /** The one front door of /adfs/ls/; express's pages that start a sign-on or sign-out go through it too. */
  passive: PassiveEndpoint;
}
