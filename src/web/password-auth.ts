/**
 * The password step, through passport's local strategy so other strategies (Windows integrated,
 * certificates) slot in beside it later. Passport only carries the result: the directory decides.
 */
import type { Request, Response } from 'express';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { AuthFailureReason, AuthResult, Directory, Principal } from '../directory/types.js';

export type PasswordOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; reason: AuthFailureReason; detail?: string };

interface FailureInfo {
  reason: AuthFailureReason;
  detail?: string;
}

export class PasswordAuthenticator {
  private readonly passport = new Passport();

  constructor(private readonly directory: Directory) {
    this.passport.use(
      'password',
      new LocalStrategy({ usernameField: 'username', passwordField: 'password', session: false }, (username, password, done) => {
        this.check(username, password).then(
          (result) => {
            if (result.ok) return done(null, result.principal);
            // passport types `info` as { message }; ours carries the reason, read back below.
            const info: FailureInfo & { message: string } = { message: result.reason, reason: result.reason, detail: result.detail };
            done(null, false, info);
          },
          (err: unknown) => done(err),
        );
      }),
    );
  }

  /**
   * The check every password strategy ends in, also for credentials that came in another message
   * than a form (a WS-Trust UsernameToken): the directory's bind, nothing else.
   */
  check(username: string, password: string): Promise<AuthResult> {
    return this.directory.authenticate(username, password);
  }

  /** Runs the strategy on a request whose body has already been checked. */
  authenticate(req: Request, res: Response): Promise<PasswordOutcome> {
    return new Promise((resolve, reject) => {
      const handler = this.passport.authenticate(
        'password',
        { session: false },
        (err: unknown, user: Principal | false, info: FailureInfo | { message?: string } | undefined) => {
          if (err) return reject(err);
          if (user) return resolve({ ok: true, principal: user });
          // Passport's own "Missing credentials" never reaches the directory: treat it as a wrong password.
          const failure = info && 'reason' in info ? info : { reason: 'invalid_credentials' as const, detail: 'missing credentials' };
          resolve({ ok: false, reason: failure.reason, detail: failure.detail });
        },
      );
      handler(req, res, reject);
    });
  }
}
