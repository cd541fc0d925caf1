/**
 * The express application: security headers, request logging with a correlation id, cookies,
 * routes, and the one error handler that turns anything thrown into a page.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { NotFoundError, ProtocolError, toProblem } from '../errors.js';
import { requestContext, type Logger } from '../log.js';
import type { AppDeps, WebContext } from './context.js';
import { createCsrf } from './csrf.js';
import { PAGE_MESSAGES } from './messages.js';
import { PasswordAuthenticator } from './password-auth.js';
import { serviceName } from './render.js';
import { preRouter, registerEarlyRoutes, registerRoutes, ROUTES } from './routes.js';

const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
const ASSETS_DIR = fileURLToPath(new URL('../../views/assets', import.meta.url));

type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

export class ProxyConfigError extends Error {}

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id (X-Request-Id, kept when safe, else a fresh UUID). */
    id: string;
    /** The logger for this request; its lines carry the request id (log.ts). */
    log: Logger;
  }
}

/**
 * A load balancer's or caller's X-Request-Id is kept when it is a short token of safe characters,
 * so one id follows the request through every tier; anything else (long, spaces, quotes, control
 * characters that could forge log lines) is replaced by a fresh one.
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * "request completed" at info (warn for 4xx, error for 5xx), as pino-http wrote it: the path only
 * (query strings carry SAML and WS-Fed messages). At a level that would drop the line nothing is
 * built at all.
 */
function logCompletion(logger: AppDeps['logger'], req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, id: string): void {
  const start = performance.now();
  res.once('finish', () => {
    const status = res.statusCode;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    const url = req.originalUrl ?? req.url ?? '';
    const q = url.indexOf('?');
    logger[level](
      {
        reqId: id,
        req: { id, method: req.method, path: q < 0 ? url : url.slice(0, q), remoteAddress: req.socket.remoteAddress },
        res: { statusCode: status },
        responseTime: Math.round(performance.now() - start),
      },
      'request completed',
    );
  });
}

/**
 * helmet's headers, worked out once: the policy is the same for every response, so there is no
 * reason to run helmet's middleware chain per request. Pages that post elsewhere widen form-action
 * themselves (post-binding.ts).
 */
function staticSecurityHeaders(deps: AppDeps): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        // Only our own files (views/assets): never inline script, never another origin.
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    strictTransportSecurity: new URL(deps.config.server.baseUrl).protocol === 'https:',
  })({} as never, recorder as never, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  const securityHeaders = staticSecurityHeaders(deps);
  const ctx: WebContext = { ...deps, csrf: createCsrf(deps), passwords: new PasswordAuthenticator(deps.directory) };

  app.disable('x-powered-by');
  // Pages are no-store and the metadata sets its own ETag: a hash of every body would be wasted work.
  app.set('etag', false);
  app.set('view engine', 'ejs');
  app.set('views', VIEWS_DIR);
  try {
    // X-Forwarded-For/-Proto are believed only from the listed proxies; with none, the socket is the client.
    app.set('trust proxy', deps.config.server.trustedProxies.length ? deps.config.server.trustedProxies : false);
  } catch (err) {
    throw new ProxyConfigError(`configuration key server.trustedProxies: ${(err as Error).message}`);
  }

  // The id is chosen before anything logs, and every async step of the request runs inside its
  // context: log lines written by components that never see `req` carry it too (see log.ts). The
  // process logger is the request's logger: the context adds the id to its lines, so no child
  // logger is made (and serialised) per request.
  const logger = deps.logger;
  const begin = (req: IncomingMessage, res: ServerResponse): string => {
    const id = requestIdOf(req.headers['x-request-id']);
    req.id = id;
    req.log = logger;
    res.setHeader('X-Request-Id', id);
    for (const [name, value] of securityHeaders) res.setHeader(name, value);
    if (req.url !== ROUTES.health && req.url !== ROUTES.adfsProbe) logCompletion(logger, req, res, id);
    return id;
  };
  // Requests the pre-router answers (the metadata, the hot path of token requests) skip express's
  // per-request set-up: they get the same id, headers and completion line. The hot path hands
  // anything it does not answer to express, or an error it met past the point of no return.
  const preRouted = preRouter(ctx, app.get('trust proxy fn') as (address: string, hop: number) => boolean);
  const hotPathFailures = new WeakMap<IncomingMessage, unknown>();
  const expressHandle = (app as unknown as { handle: NodeHandler }).handle.bind(app);
  (app as unknown as { handle: NodeHandler }).handle = (req, res, next) => {
    requestContext.run({ reqId: begin(req, res) }, () => {
      const serve = preRouted(req);
      if (serve === undefined) return expressHandle(req, res, next);
      serve(req, res, (err) => {
        if (err !== undefined) hotPathFailures.set(req, err);
        expressHandle(req, res, next);
      });
    });
  };
  app.use((req: Request, _res: Response, next: NextFunction) => next(hotPathFailures.get(req)));
  // Static, public and polled by every relying party: served before cookies are parsed.
  registerEarlyRoutes(app, ctx);
  app.use(cookieParser());

  registerRoutes(app, ctx, ASSETS_DIR);

  app.use((_req: Request, _res: Response, next: NextFunction) => next(new NotFoundError()));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const problem = toProblem(err);
    const log = req.log ?? deps.logger;
    if (problem.status >= 500) log.error({ err, messageId: problem.messageId }, 'request failed');
    else log.warn({ reason: (err as Error)?.message, messageId: problem.messageId }, 'request rejected');
    if (err instanceof ProtocolError) {
      // A protocol request refused before anyone could be answered (AD FS event 1201).
      const protocol = problem.messageId.startsWith('saml') || problem.messageId === 'idp_initiated_not_allowed' ? 'saml2' : 'wsfed';
      deps.audit.record({ type: 'token.refused', protocol, reason: problem.messageId, clientIp: req.ip ?? '' }, String(req.id ?? ''));
    }
    if (res.headersSent) return;
    const message = PAGE_MESSAGES[problem.messageId];
    res.status(problem.status).set('Cache-Control', 'no-store');
    if (req.path === '/readyz' || req.accepts(['html', 'json']) === 'json') {
      res.json({ error: problem.messageId, message: message.text, requestId: String(req.id ?? '') });
      return;
    }
    res.render('error', { title: message.title, text: message.text, requestId: String(req.id ?? ''), serviceName: serviceName(deps) }, (renderErr, html) => {
      // A broken template must not turn an error page into a stack trace.
      if (renderErr) res.type('text/plain').send(`${message.title}. Reference: ${String(req.id ?? '')}`);
      else res.send(html);
    });
  });
  return app;
}
