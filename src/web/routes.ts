/**
 * Every route OpenFed serves, in one place.
 *
 * Front doors answer on Node's own request and response, before express: the passive endpoint
 * (/adfs/ls/: every SAML 2.0 and WS-Federation message, passive/endpoint.ts) and the metadata
 * (precomputed bytes, polled by every relying party), and with wsTrust.enabled the WS-Trust endpoints
 * for rich clients (wstrust/endpoint.ts: SOAP in, SOAP out) and their WS-MetadataExchange document.
 * A check for these belongs in the door itself; express middleware never sees them. A new protocol
 * endpoint is added the same way: a path, the methods, a door.
 *
 * express serves the pages and forms people use: sign-in, home, sign-out, IdP-initiated sign-on,
 * probes, static assets and the branding's generated ones. Handlers are thin: parse, call, render.
 */
import type { IncomingMessage } from 'node:http';
import express, { type Express } from 'express';
import type { WebContext } from './web-context.js';
import { brandingAsset } from './handlers/branding.js';
import { healthz, readyz } from './handlers/health.js';
import { home, signOut } from './handlers/home.js';
import { idpInitiatedSignOn } from './handlers/idp-initiated.js';
import { federationMetadata } from './handlers/metadata.js';
import { continueAfterEnrolment, showMfa, submitEnrolment, submitMfa } from './handlers/mfa.js';
import { mexDocument } from './handlers/mex.js';
import { showSignIn, submitSignIn } from './handlers/signin.js';
import { showUpdatePassword, submitUpdatePassword } from './handlers/update-password.js';
import { passiveDoor, type NodeHandler, type TrustProxy } from './passive/http.js';
import { ROUTES } from './route-paths.js';
import { WsTrustEndpoint } from './wstrust/endpoint.js';
import { wsTrustDoor } from './wstrust/http.js';

export { ROUTES } from './route-paths.js';

interface FrontDoor {
  path: string;
  methods: ReadonlySet<string>;
  handler: NodeHandler;
}

/**
 * The front door a request is for, or undefined (express then serves it). Paths match as express
 * matches them: case-insensitively, with or without one trailing slash.
 */
export function frontDoors(ctx: WebContext, trustProxy: TrustProxy): (req: IncomingMessage) => NodeHandler | undefined {
  const doors: FrontDoor[] = [
    { path: ROUTES.sso, methods: new Set(['GET', 'HEAD', 'POST']), handler: passiveDoor(ctx, ctx.passive, trustProxy) },
    { path: ROUTES.federationMetadata, methods: new Set(['GET', 'HEAD']), handler: federationMetadata(ctx) },
  ];
  if (ctx.config.wsTrust.enabled) {
    const endpoint = new WsTrustEndpoint(ctx);
    const { maxMessageBytes } = ctx.config.wsTrust;
    // Every method reaches the SOAP doors: what is not a POST still gets a SOAP fault, not a page.
    const any = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    doors.push(
      { path: ROUTES.wsTrust2005UsernameMixed, methods: any, handler: wsTrustDoor(endpoint, '2005', 'username', maxMessageBytes, trustProxy) },
      { path: ROUTES.wsTrust13UsernameMixed, methods: any, handler: wsTrustDoor(endpoint, '13', 'username', maxMessageBytes, trustProxy) },
      { path: ROUTES.mex, methods: new Set(['GET', 'HEAD']), handler: mexDocument(ctx, trustProxy) },
    );
    // Kerberos over HTTP, with Windows Integrated Authentication on (intranet addresses only, checked in the door).
    if (ctx.windows) {
      doors.push(
        { path: ROUTES.wsTrust2005WindowsTransport, methods: any, handler: wsTrustDoor(endpoint, '2005', 'windows', maxMessageBytes, trustProxy) },
        { path: ROUTES.wsTrust13WindowsTransport, methods: any, handler: wsTrustDoor(endpoint, '13', 'windows', maxMessageBytes, trustProxy) },
      );
    }
  }
  const byPath = new Map(doors.map((door) => [normalise(door.path), door]));
  return (req) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const door = byPath.get(normalise(q < 0 ? url : url.slice(0, q)));
    return door?.methods.has(req.method ?? '') ? door.handler : undefined;
  };
}

function normalise(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

/** The express routes: pages and forms. */
export function registerRoutes(app: Express, ctx: WebContext, assetsDir: string): void {
  const forms = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 16 });

  app.get(ROUTES.health, healthz(ctx));
  app.get(ROUTES.adfsProbe, healthz(ctx));
  app.get(ROUTES.ready, readyz(ctx));
  app.use(ROUTES.assets, express.static(assetsDir, { fallthrough: false, index: false, maxAge: '1h' }));
  app.get(`${ROUTES.branding}/:file`, brandingAsset(ctx));

  app.get(ROUTES.home, home(ctx));
  app.get(ROUTES.signIn, showSignIn(ctx));
  app.post(ROUTES.signIn, forms, ctx.csrf.protect, submitSignIn(ctx));
  app.post(ROUTES.signOut, forms, ctx.csrf.protect, signOut(ctx));
  app.get(ROUTES.updatePassword, showUpdatePassword(ctx));
  app.post(ROUTES.updatePassword, forms, ctx.csrf.protect, submitUpdatePassword(ctx));
  app.get(ROUTES.mfa, showMfa(ctx));
  app.post(ROUTES.mfa, forms, ctx.csrf.protect, submitMfa(ctx));
  app.post(ROUTES.mfaEnrol, forms, ctx.csrf.protect, submitEnrolment(ctx));
  app.get(ROUTES.mfaContinue, continueAfterEnrolment(ctx));

  // SAML: its refusals are audited as SAML's (error-response.ts), whatever their message id.
  const saml2 = protocolRoute('saml2');
  app.get(ROUTES.idpInitiatedSignOn, saml2, idpInitiatedSignOn(ctx));
  app.get(ROUTES.idpInitiatedSignOnAspx, saml2, idpInitiatedSignOn(ctx));
}

/** Names the protocol of an express route, for the error handler's audit record. */
function protocolRoute(protocol: 'saml2' | 'wsfed'): express.RequestHandler {
  return (_req, res, next) => {
    res.locals.protocol = protocol;
    next();
  };
}
