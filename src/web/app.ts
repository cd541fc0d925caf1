/**
 * The public port: request ids, security headers and completion lines for every request; the front
 * doors and the express application behind them (routes.ts), and express's error handler, which
 * answers through the same error response as the doors (error-response.ts).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import cookieParser from 'cookie-parser';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { InternalError, NotFoundError, type Protocol } from '../errors.js';
import { requestContext, type Logger } from '../log.js';
import type { AppDeps } from './context.js';
import type { WebContext } from './web-context.js';
import { brandingOf } from './branding.js';
import { createCsrf } from './csrf.js';
import { DEFAULT_CSP } from './csp.js';
import { answerError } from './error-response.js';
import { rememberLanguage } from './i18n/index.js';
import { PassiveEndpoint } from './passive/endpoint.js';
import type { TrustProxy } from './passive/http.js';
import { PasswordAuthenticator } from './password-auth.js';
import { PasswordSignIns } from '../authn/password.js';
import { frontDoors, registerRoutes, ROUTES } from './routes.js';
import { ASSETS_DIR, VIEWS_DIR } from './views.js';

/** server.trustedProxies names something that is neither an address nor a CIDR. */
export class ProxyConfigError extends InternalError {}

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

function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * "request completed" at info (warn for 4xx, error for 5xx), as pino-http wrote it: the path only
 * (query strings carry SAML and WS-Fed messages). At a level that would drop the line nothing is
 * built at all. A 503 is at debug: it means a dependency is down (Redis, every DC) or a state said
 * once at start (no LDAPS for password change) or a probe's answer — each logged where it changes,
 * while an outage under load would write one error line per request.
 */
function logCompletion(logger: AppDeps['logger'], req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, id: string): void {
  const start = performance.now();
  res.once('finish', () => {
    const status = res.statusCode;
    const level = status === 503 ? 'debug' : status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
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
 * reason to run helmet's middleware chain per request. The Content-Security-Policy is ours (csp.ts),
 * so that pages which must widen it (posting a token elsewhere) start from the same one.
 */
function staticSecurityHeaders(deps: AppDeps): Array<[string, string]> {
  const headers: Array<[string, string]> = [['Content-Security-Policy', DEFAULT_CSP]];
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => void headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  helmet({
    contentSecurityPolicy: false,
    strictTransportSecurity: new URL(deps.config.server.baseUrl).protocol === 'https:',
  })({} as never, recorder as never, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

/**
 * The request listener of the public port. Every request gets its id, security headers and
 * completion line here; then a front door (routes.ts: the passive endpoint, the metadata) answers it
 * on Node's own request and response, or express serves it (pages and forms).
 */
export function createPublicListener(deps: AppDeps): RequestListener {
  const app = express();
  const securityHeaders = staticSecurityHeaders(deps);
  const https = new URL(deps.config.server.baseUrl).protocol === 'https:';
  // The logo is read now: a missing file stops the start, not a page.
  brandingOf(deps.config);
  const ctx: WebContext = {
    ...deps,
    csrf: createCsrf(deps),
    passwords: new PasswordAuthenticator(deps.directory),
    signIns: new PasswordSignIns(deps),
    passive: new PassiveEndpoint(deps),
  };

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
    // A ?lang= choice is kept in a cookie whichever door answers, so the rest of the flow follows it.
    if (req.url?.includes('lang=')) rememberLanguage(req, res, https);
    if (req.url !== ROUTES.health && req.url !== ROUTES.adfsProbe) logCompletion(logger, req, res, id);
    return id;
  };
  const doorFor = frontDoors(ctx, app.get('trust proxy fn') as TrustProxy);

  app.use(cookieParser());
  registerRoutes(app, ctx, ASSETS_DIR);
  app.use((_req: Request, _res: Response, next: NextFunction) => next(new NotFoundError()));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const protocol = res.locals.protocol as Protocol | undefined;
    answerError(req, res, deps, { err, protocol, clientIp: req.ip ?? '', requestId: String(req.id ?? ''), log: req.log ?? deps.logger });
  });

  return (req, res) => {
    requestContext.run({ reqId: begin(req, res) }, () => (doorFor(req) ?? app)(req, res));
  };
}
