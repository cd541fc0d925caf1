/**
 * A tiny but real WS-Federation passive relying party ("Entra-like") for browser tests: an express 5
 * app on 127.0.0.1 that treats OpenFed the way Entra ID's login.srf does.
 *
 *   GET  /            signed-in state (#status, #upn, #claims li[data-type=…])
 *   GET  /login       → 302 to <idp>/adfs/ls/?wa=wsignin1.0&wtrealm=<realm>&wctx=<state>[&username=…]
 *                     (no wreply, as Entra sends none: OpenFed uses the registered reply URL)
 *   POST /login.srf   wa=wsignin1.0: wctx must be a state we issued (single use); the assertion is cut
 *                     out of wresult and validated by saml20 (signature with OpenFed's certificate,
 *                     audience = realm, lifetime); a local cookie session starts; "Welcome <UPN>"
 *   GET  /login.srf?wa=wsignoutcleanup1.0
 *                     ends EVERY local session (the request carries no subject), records the event,
 *                     answers a 1x1 GIF (it is loaded as an <img> by OpenFed's signed-out page)
 *   GET  /login.srf   (anything else) → / : where "Return to the application" lands
 *   GET  /logout      → 302 to <idp>/adfs/ls/?wa=wsignout1.0&wtrealm=<realm>&wreply=<replyUrl>.
 *                     The local session is deliberately left alone: only wsignoutcleanup1.0 ends it,
 *                     so a test proves the cleanup arrived.
 *
 * OpenFed must know the reply URL before it starts and the RP needs OpenFed's certificate after:
 * start the RP with idpBase = http://127.0.0.1:<port from freePort>, start OpenFed on that port,
 * then setIdpCert(server.deps.keys.primary.certificateBase64).
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { validateWithSaml20 } from './wsfed.js';

export const M365_REALM = 'urn:federation:MicrosoftOnline';
export const UPN_CLAIM = 'http://schemas.xmlsoap.org/claims/UPN';
export const IMMUTABLE_ID_CLAIM = 'http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID';

export interface TestWsfedRpOptions {
  /** Our wtrealm, the Audience of the tokens. Default: urn:federation:MicrosoftOnline. */
  realm?: string;
  /** OpenFed's public base URL (its server.baseUrl). */
  idpBase: string;
  /** OpenFed's token-signing certificate (base64 DER). Usually only known later: setIdpCert. */
  certificateBase64?: string;
  /** Shown on the pages (#rp-name). */
  name?: string;
}

export interface TestWsfedRpSession {
  upn: string | undefined;
  issuer: string;
  claims: Record<string, string | string[]>;
}

export interface CleanupEvent {
  /** Local sessions it ended. */
  ended: number;
  /** Whether the request carried this browser's session cookie (an <img> request does, same site). */
  withCookie: boolean;
  referer: string | undefined;
}

export interface SignInFailure {
  reason: string;
}

export interface TestWsfedRp {
  url: string;
  realm: string;
  /** <url>/login.srf: register it as OpenFed's microsoft365.replyUrl (or a wsfed RP's replyUrls[0]). */
  replyUrl: string;
  name: string;
  setIdpCert(certificateBase64: string): void;
  sessions(): TestWsfedRpSession[];
  cleanupEvents(): CleanupEvent[];
  /** Sign-in responses refused, oldest first. */
  failures(): SignInFailure[];
  stop(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const GIF_1X1 = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const STATE_TTL_MS = 10 * 60_000;

export async function startTestWsfedRp(options: TestWsfedRpOptions): Promise<TestWsfedRp> {
  const realm = options.realm ?? M365_REALM;
  const idpSso = `${options.idpBase.replace(/\/+$/, '')}/adfs/ls/`;
  let certificateBase64 = options.certificateBase64;

  const app = express();
  app.disable('x-powered-by');
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const replyUrl = `${url}/login.srf`;
  const name = options.name ?? 'Entra-like RP';
  // Cookies are shared across ports of one host: a name of our own, apart from OpenFed's and the SPs'.
  const cookieName = `wsfedrp_${new URL(url).port}`;

  const sessions = new Map<string, TestWsfedRpSession>();
  const states = new Map<string, number>();
  const cleanupEvents: CleanupEvent[] = [];
  const failures: SignInFailure[] = [];

  const page = (title: string, body: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)} – ${esc(name)}</title></head>` +
    `<body><p id="rp-name">${esc(name)}</p>${body}</body></html>`;
  const sessionIdOf = (req: Request): string | undefined => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, v] = part.trim().split('=');
      if (k === cookieName && v && sessions.has(v)) return v;
    }
    return undefined;
  };
  const fail = (res: Response, status: number, reason: string) => {
    failures.push({ reason });
    res.status(status).type('html').send(page('Error', `<h1>Sign-in failed</h1><p id="error">${esc(reason)}</p>`));
  };
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

  app.get('/', (req, res) => {
    const sid = sessionIdOf(req);
    const s = sid ? sessions.get(sid) : undefined;
    if (!s) {
      res.type('html').send(page('Home', `<p id="status">Not signed in</p><a id="login" href="/login">Sign in</a>`));
      return;
    }
    const claims = Object.entries(s.claims)
      .map(([k, v]) => `<li data-type="${esc(k)}">${esc(Array.isArray(v) ? v.join(', ') : v)}</li>`)
      .join('');
    res.type('html').send(
      page('Home', `<p id="status">Signed in</p><p>UPN: <span id="upn">${esc(s.upn ?? '')}</span></p><ul id="claims">${claims}</ul><a id="logout" href="/logout">Sign out</a>`),
    );
  });

  app.get('/login', (req, res) => {
    const state = randomBytes(16).toString('base64url');
    states.set(state, Date.now() + STATE_TTL_MS);
    const target = new URL(idpSso);
    target.searchParams.set('wa', 'wsignin1.0');
    target.searchParams.set('wtrealm', realm);
    target.searchParams.set('wctx', state);
    if (typeof req.query.username === 'string') target.searchParams.set('username', req.query.username);
    res.redirect(302, target.toString());
  });

  app.get('/logout', (_req, res) => {
    const target = new URL(idpSso);
    target.searchParams.set('wa', 'wsignout1.0');
    target.searchParams.set('wtrealm', realm);
    target.searchParams.set('wreply', replyUrl);
    res.redirect(302, target.toString());
  });

  app.post('/login.srf', express.urlencoded({ extended: false, limit: '256kb' }), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.wa !== 'wsignin1.0') return fail(res, 400, `wa is ${String(body.wa)}, not wsignin1.0`);
    const wctx = body.wctx;
    const expires = typeof wctx === 'string' ? states.get(wctx) : undefined;
    if (typeof wctx !== 'string' || expires === undefined || expires < Date.now()) return fail(res, 400, 'wctx is not a state this RP issued');
    states.delete(wctx);
    const wresult = body.wresult;
    if (typeof wresult !== 'string') return fail(res, 400, 'no wresult');
    const assertion = /<(saml:)?Assertion[\s\S]*<\/(saml:)?Assertion>/.exec(wresult)?.[0];
    if (!assertion) return fail(res, 400, 'no assertion in wresult');
    if (!certificateBase64) return fail(res, 500, 'OpenFed certificate not set (setIdpCert)');
    let profile: Awaited<ReturnType<typeof validateWithSaml20>>;
    try {
      profile = await validateWithSaml20(assertion, { certificateBase64, audience: realm });
    } catch (err) {
      return fail(res, 401, `token refused: ${(err as Error).message}`);
    }
    const upn = first(profile.claims[UPN_CLAIM]);
    const sid = randomBytes(24).toString('base64url');
    sessions.set(sid, { upn, issuer: profile.issuer, claims: profile.claims });
    res.append('Set-Cookie', `${cookieName}=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    res.type('html').send(page('Welcome', `<h1 id="welcome">Welcome <span id="upn">${esc(upn ?? '')}</span></h1><p id="status">Signed in</p><a href="/">Home</a>`));
  });

  app.get('/login.srf', (req, res) => {
    if (req.query.wa !== 'wsignoutcleanup1.0') {
      res.redirect(302, '/');
      return;
    }
    const withCookie = sessionIdOf(req) !== undefined;
    const ended = sessions.size;
    sessions.clear();
    cleanupEvents.push({ ended, withCookie, referer: req.headers.referer });
    res.append('Set-Cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    res.set('Cache-Control', 'no-store').type('image/gif').send(GIF_1X1);
  });

  return {
    url,
    realm,
    replyUrl,
    name,
    setIdpCert(cert: string) {
      certificateBase64 = cert;
    },
    sessions: () => [...sessions.values()],
    cleanupEvents: () => [...cleanupEvents],
    failures: () => [...failures],
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
