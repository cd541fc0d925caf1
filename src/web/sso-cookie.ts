/**
 * The SSO cookie: an opaque id, HttpOnly; Secure and SameSite=None over HTTPS because relying
 * parties POST back to us cross-site, Lax over plain HTTP (browsers refuse SameSite=None without
 * Secure). The session itself lives server-side.
 */
import type { Request, Response } from 'express';
import type { Principal } from '../directory/types.js';
import { isWellFormedId } from '../sessions/ids.js';
import { sessionExpiresAt } from '../sessions/index.js';
import type { AuthMethod, SessionRecord } from '../sessions/types.js';
import type { AppDeps } from './context.js';

export interface CurrentSession {
  id: string;
  record: SessionRecord;
}

export function isHttps(deps: Pick<AppDeps, 'config'>): boolean {
  return new URL(deps.config.server.baseUrl).protocol === 'https:';
}

/** How our cookies are set: what express's res.cookie and cookie.serialize both take. */
export interface CookieSettings {
  httpOnly: boolean;
  secure: boolean;
  sameSite: 'none' | 'lax' | 'strict';
  path: string;
}

export function ssoCookieOptions(deps: Pick<AppDeps, 'config'>): CookieSettings {
  const https = isHttps(deps);
  return { httpOnly: true, secure: https, sameSite: https ? 'none' : 'lax', path: '/' };
}

/** The session id in a request's cookies (however they were parsed), if it is shaped like one. */
export function sessionIdIn(cookies: Readonly<Record<string, unknown>> | undefined, deps: Pick<AppDeps, 'config'>): string | undefined {
  const value = cookies?.[deps.config.sessions.cookieName];
  return typeof value === 'string' && isWellFormedId(value) ? value : undefined;
}

/** The signed-in user's session, or undefined. Throws StoreUnavailableError when the store is down. */
export function readSession(req: Request, deps: AppDeps): Promise<CurrentSession | undefined> {
  return lookupSession(sessionIdIn(req.cookies as Record<string, unknown> | undefined, deps), deps);
}

/** The live session with this id, or undefined (none, unknown or expired). */
export async function lookupSession(id: string | undefined, deps: Pick<AppDeps, 'sessions' | 'clock'>): Promise<CurrentSession | undefined> {
  if (!id) return undefined;
  const record = await deps.sessions.get(id);
  if (!record || record.expiresAt <= deps.clock.now()) return undefined;
  return { id, record };
}

/**
 * Starts a new session after a successful authentication. The id is always new (no fixation): a
 * session the browser already had is destroyed, not upgraded.
 */
export async function startSession(
  req: Request,
  res: Response,
  deps: AppDeps,
  principal: Principal,
  authnMethod: AuthMethod,
  /** "Keep me signed in": a longer session in a cookie that outlives the browser. */
  persistent = false,
): Promise<CurrentSession> {
  const previous = sessionIdIn(req.cookies as Record<string, unknown> | undefined, deps);
  if (previous) await deps.sessions.destroy(previous);
  const now = deps.clock.now();
  const record: SessionRecord = {
    principal,
    authnInstant: now,
    authnMethod,
    clientIp: req.ip ?? '',
    persistent,
    relyingParties: [],
    expiresAt: persistent ? now + deps.config.sessions.keepMeSignedIn.lifetimeMinutes * 60_000 : sessionExpiresAt(deps.config.sessions, now),
  };
  const id = await deps.sessions.create(record);
  // Normally a browser-session cookie (the server-side record carries the real expiry); with
  // "keep me signed in" the cookie lives as long as the session.
  res.cookie(deps.config.sessions.cookieName, id, persistent ? { ...ssoCookieOptions(deps), expires: new Date(record.expiresAt) } : ssoCookieOptions(deps));
  return { id, record };
}

/**
 * The same sign-in, now with its second factor: a new session id (the session gained a privilege, so
 * the old id must not carry it), the same user, methods, time of sign-in, relying parties and expiry.
 */
export async function upgradeSession(res: Response, deps: AppDeps, current: CurrentSession, mfaInstant: number): Promise<CurrentSession> {
  const record: SessionRecord = { ...current.record, mfaInstant };
  const id = await deps.sessions.create(record);
  await deps.sessions.destroy(current.id);
  res.cookie(deps.config.sessions.cookieName, id, record.persistent ? { ...ssoCookieOptions(deps), expires: new Date(record.expiresAt) } : ssoCookieOptions(deps));
  return { id, record };
}
