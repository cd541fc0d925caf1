/**
 * The express application: security headers, request logging with a correlation id, cookies,
 * routes, and the one error handler that turns anything thrown into a page.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import cookieParser from 'cookie-parser';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { NotFoundError, ProtocolError, toProblem } from '../errors.js';
import { requestContext } from '../log.js';
import type { AppDeps, WebContext } from './context.js';
import { createCsrf } from './csrf.js';
import { PAGE_MESSAGES } from './messages.js';
import { PasswordAuthenticator } from './password-auth.js';
import { serviceName } from './render.js';
import { registerRoutes } from './routes.js';

const VIEWS_DIR = fileURLToPath(new URL('../../views', import.meta.url));
const ASSETS_DIR = fileURLToPath(new URL('../../views/assets', import.meta.url));

export class ProxyConfigError extends Error {}

/**
 * A load balancer's or caller's X-Request-Id is kept when it is a short token of safe characters,
 * so one id follows the request through every tier; anything else (long, spaces, quotes, control
 * characters that could forge log lines) is replaced by a fresh one.
 */
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  const ctx: WebContext = { ...deps, csrf: createCsrf(deps), passwords: new PasswordAuthenticator(deps.directory) };

  app.disable('x-powered-by');
  app.set('view engine', 'ejs');
  app.set('views', VIEWS_DIR);
  try {
    // X-Forwarded-For/-Proto are believed only from the listed proxies; with none, the socket is the client.
    app.set('trust proxy', deps.config.server.trustedProxies.length ? deps.config.server.trustedProxies : false);
  } catch (err) {
    throw new ProxyConfigError(`configuration key server.trustedProxies: ${(err as Error).message}`);
  }

  // The id is chosen before anything logs, and every async step of the request runs inside its
  // context: log lines written by components that never see `req` carry it too (see log.ts).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const id = requestIdOf(req.headers['x-request-id']);
    req.id = id;
    res.setHeader('X-Request-Id', id);
    requestContext.run({ reqId: id }, next);
  });
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req) => requestIdOf(req.headers['x-request-id']),
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      // Query strings will carry SAML and WS-Fed messages: log the path only.
      serializers: {
        req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?')[0],
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/adfs/probe' },
    }),
  );
  app.use(
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
    }),
  );
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
