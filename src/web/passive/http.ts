/**
 * The HTTP side of the passive front door: Node's request in, PassiveRequest to the endpoint, its
 * answer out on Node's response. express never sees /adfs/ls/ (routes.ts), so nothing is done twice
 * per request and nothing can bypass the door's checks.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import bodyParser from 'body-parser';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import proxyaddr from 'proxy-addr';
import type { Request, Response } from 'express';
import type { AppDeps } from '../context.js';
import { contentSecurityPolicy } from '../csp.js';
import { answerError, sendBody } from '../error-response.js';
import { brandingOf } from '../branding.js';
import { languageOf, translator, type Language } from '../i18n/index.js';
import { brandName, layoutLocals } from '../render.js';
import { renderView } from '../views.js';
import { postBindingPage, type PostBindingWords } from './post-binding.js';
import type { CookieChange, PassiveAnswer, PassiveEndpoint, PassiveRequest, Progress } from './endpoint.js';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * GET, HEAD and POST /adfs/ls/. Relying parties POST here cross-site: no CSRF token (the protocol
 * message is the credential), a form no larger than the biggest SAML message we accept.
 */
export function passiveDoor(deps: AppDeps, endpoint: PassiveEndpoint, trustProxy: TrustProxy): NodeHandler {
  const readForm = bodyParser.urlencoded({ extended: false, limit: Math.ceil(deps.config.saml.maxMessageBytes * 1.4) + 16_384, parameterLimit: 8 });
  return (req, res) => {
    const clientIp = proxyaddr(req, trustProxy);
    const fail = (err: unknown) => answerError(req, res, deps, { err, clientIp, requestId: req.id, log: req.log });
    const rawQuery = rawQueryOf(req.url);
    const serve = (params: Record<string, unknown>) =>
      endpoint
        .handle(requestParts(req, params, rawQuery, clientIp))
        .then((answer) => writeAnswer(req, res, deps, answer))
        .catch(fail);
    if (req.method !== 'POST') return void serve(parseQuery(rawQuery));
    readForm(req, res, (err?: unknown) => {
      if (err !== undefined) return fail(err);
      void serve(((req as IncomingMessage & { body?: Record<string, unknown> }).body ?? {}) as Record<string, unknown>);
    });
  };
}

function requestParts(req: IncomingMessage, params: Record<string, unknown>, rawQuery: string, clientIp: string): PassiveRequest {
  return {
    method: req.method ?? 'GET',
    params,
    rawQuery,
    // cookie-parser's parser: a malformed header yields what it can, never an error.
    cookies: req.headers.cookie === undefined ? {} : parseCookies(req.headers.cookie),
    clientIp,
    requestId: req.id,
    log: req.log,
  };
}

/** The same parts of an express request, for express's pages that go through the door. */
export function expressRequestParts(req: Request, extra: Partial<PassiveRequest> = {}): PassiveRequest {
  return {
    method: req.method,
    params: req.query as Record<string, unknown>,
    rawQuery: rawQueryOf(req.originalUrl),
    cookies: (req.cookies ?? {}) as Record<string, unknown>,
    clientIp: req.ip ?? '',
    requestId: req.id,
    log: req.log,
    ...extra,
  };
}

function rawQueryOf(url: string | undefined): string {
  const q = (url ?? '').indexOf('?');
  return q < 0 ? '' : url!.slice(q + 1);
}

/**
 * Writes what the door decided: cookies first, then the page, the redirect or the error. Synchronous
 * but for the pages rendered from a template: a token page costs no promise of its own.
 */
export function writeAnswer(req: IncomingMessage | Request, res: ServerResponse | Response, deps: AppDeps, answer: PassiveAnswer): void | Promise<void> {
  for (const change of answer.cookies) res.appendHeader('Set-Cookie', cookieHeader(change));
  const { outcome } = answer;
  switch (outcome.kind) {
    case 'post': {
      const page = postBindingPage({ ...progressWords(deps, languageOf(req), outcome.progress), action: outcome.url, fields: outcome.fields, cleanup: outcome.cleanup });
      return send(res, 200, page, contentSecurityPolicy({ formAction: outcome.url, images: outcome.cleanup }));
    }
    case 'redirect':
      res.statusCode = 303;
      res.setHeader('Location', outcome.location);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Length', 0);
      res.end();
      return;
    case 'page': {
      const csp = outcome.cleanup.length ? contentSecurityPolicy({ images: outcome.cleanup }) : undefined;
      // These pages' addresses carry one-time protocol messages: no language switch to replay them.
      const locals = { ...layoutLocals(req, deps.config, { languageSwitch: false }), ...outcome.locals, cleanup: outcome.cleanup };
      return renderView(outcome.view, locals).then((html) => send(res, 200, html, csp));
    }
    case 'refused':
      return answerError(req, res, deps, { err: outcome.error, protocol: outcome.protocol, clientIp: clientIpOf(req), requestId: req.id, log: req.log });
  }
}

/**
 * The words around a token, worked out once per language: the token page is the hot path, and these
 * never change while the process runs.
 */
const progressCache = new WeakMap<AppDeps['config'], Map<string, PostBindingWords>>();

function progressWords(deps: AppDeps, lang: Language, progress: Progress): PostBindingWords {
  let byLanguage = progressCache.get(deps.config);
  if (!byLanguage) progressCache.set(deps.config, (byLanguage = new Map()));
  const key = `${lang}:${progress}`;
  let words = byLanguage.get(key);
  if (!words) {
    const t = translator(lang);
    words = {
      lang,
      title: t(`progress.${progress}`),
      heading: t(progress === 'signingIn' ? 'progress.signingInHeading' : 'progress.signingOut'),
      noScript: t('progress.noScript'),
      continueLabel: t('progress.continue'),
      serviceName: brandName(deps.config, t),
      themeHref: brandingOf(deps.config).themeHref,
    };
    byLanguage.set(key, words);
  }
  return words;
}

function clientIpOf(req: IncomingMessage | Request): string {
  return 'ip' in req && typeof req.ip === 'string' ? req.ip : (req.socket.remoteAddress ?? '');
}

function send(res: ServerResponse, status: number, html: string, csp: string | undefined): void {
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  if (csp !== undefined) res.setHeader('Content-Security-Policy', csp);
  sendBody(res, 'text/html; charset=utf-8', html);
}

/** As express's res.cookie / res.clearCookie write them (cookie.serialize, Max-Age in seconds plus Expires). */
function cookieHeader(change: CookieChange): string {
  const { httpOnly, secure, sameSite, path } = change.settings;
  if (change.clear) return serializeCookie(change.name, '', { httpOnly, secure, sameSite, path, expires: new Date(1) });
  const maxAge = change.maxAgeMs === undefined ? undefined : Math.floor(change.maxAgeMs / 1000);
  const expires = change.maxAgeMs === undefined ? undefined : new Date(Date.now() + change.maxAgeMs);
  return serializeCookie(change.name, change.value, { httpOnly, secure, sameSite, path, maxAge, expires });
}
