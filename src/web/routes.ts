/**
 * Every route OpenFed serves, in one place. Handlers are thin: parse, call, render.
 */
import type { IncomingMessage } from 'node:http';
import express, { type Express } from 'express';
import type { WebContext } from './context.js';
import { hotPath, type HotHandler } from './hot-path.js';
import { ROUTES } from './route-paths.js';
import { healthz, readyz } from './handlers/health.js';
import { home, signOut } from './handlers/home.js';
import { federationMetadata } from './handlers/metadata.js';
import { passiveEndpoint } from './handlers/passive.js';
import { idpInitiatedSignOn } from './handlers/saml2.js';
import { showSignIn, submitSignIn } from './handlers/signin.js';

export { ROUTES } from './route-paths.js';

/**
 * Requests answered before express sees them (app.ts): the metadata's precomputed bytes, polled by
 * every relying party, and token requests of browsers that already have a session (hot-path.ts),
 * which hand anything else to express. Returns the handler when the request is one, else
 * undefined. Express matches paths case-insensitively, so does this; anything else (a trailing
 * slash, another method) goes on to express and its routes below.
 */
export function preRouter(ctx: WebContext, trustProxy: (address: string, hop: number) => boolean): (req: IncomingMessage) => HotHandler | undefined {
  const metadataPath = ROUTES.federationMetadata.toLowerCase();
  const metadata = federationMetadata(ctx);
  const ssoPath = ROUTES.sso.toLowerCase();
  const hot = hotPath(ctx, trustProxy);
  return (req) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
    // Token requests: a GET with a query and cookies (without them there is no session to use).
    if (path === ssoPath) return req.method === 'GET' && q >= 0 && req.headers.cookie !== undefined ? hot : undefined;
    return path === metadataPath && (req.method === 'GET' || req.method === 'HEAD') ? metadata : undefined;
  };
}

/** Routes that need no cookies, body or session: before the rest of the middleware. */
export function registerEarlyRoutes(app: Express, ctx: WebContext): void {
  app.get(ROUTES.federationMetadata, federationMetadata(ctx));
}

/**
 * The routes behind express's middleware. A check added as middleware here (a rate limit, a header
 * rule) does not see what preRouter answers: give the hot path (hot-path.ts) the same check.
 */
export function registerRoutes(app: Express, ctx: WebContext, assetsDir: string): void {
  const forms = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 16 });

  app.get(ROUTES.health, healthz());
  app.get(ROUTES.adfsProbe, healthz());
  app.get(ROUTES.ready, readyz(ctx));
  app.use(ROUTES.assets, express.static(assetsDir, { fallthrough: false, index: false, maxAge: '1h' }));

  app.get(ROUTES.home, home(ctx));
  app.get(ROUTES.signIn, showSignIn(ctx));
  app.post(ROUTES.signIn, forms, ctx.csrf.protect, submitSignIn(ctx));
  app.post(ROUTES.signOut, forms, ctx.csrf.protect, signOut(ctx));

  // Relying parties POST here cross-site: no CSRF token (the protocol message is the credential).
  const protocolForms = express.urlencoded({
    extended: false,
    limit: Math.ceil(ctx.config.saml.maxMessageBytes * 1.4) + 16_384,
    parameterLimit: 8,
  });
  app.get(ROUTES.sso, passiveEndpoint(ctx));
  app.post(ROUTES.sso, protocolForms, passiveEndpoint(ctx));
  app.get(ROUTES.idpInitiatedSignOn, idpInitiatedSignOn(ctx));
  app.get(ROUTES.idpInitiatedSignOnAspx, idpInitiatedSignOn(ctx));
}
