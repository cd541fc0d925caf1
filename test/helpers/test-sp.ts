/**
 * A tiny but real SAML 2.0 service provider for browser tests: an express 5 app on 127.0.0.1 that
 * uses @node-saml/node-saml the way an application would.
 *
 *   GET  /          signed-in state (#status, #name-id, #attributes)
 *   GET  /login     → 302 to OpenFed with a signed Redirect-binding AuthnRequest
 *   POST /acs       HTTP-POST binding: validates the Response, starts a local session, "Welcome <nameID>"
 *   GET  /logout    ends the local session, → 302 to OpenFed with a signed LogoutRequest
 *   GET  /slo       Redirect binding from OpenFed: a LogoutRequest (ends matching local sessions,
 *                   answers with a signed LogoutResponse) or the LogoutResponse to our /logout
 *
 * node-saml's own SLO checks are thin (it accepts an unsigned Redirect message, and a LogoutResponse
 * without InResponseTo), so this SP adds what SAML profiles §4.4 asks of an SP: Redirect SLO messages
 * must be signed, name us as Destination, and a LogoutResponse must answer a LogoutRequest we sent.
 *
 * OpenFed must know the SP before it starts, and the SP must know OpenFed's URL: allocate OpenFed's
 * port first (freePort), start the SPs with idpBase = http://127.0.0.1:<port>, then start OpenFed
 * with `server: { port, baseUrl: idpBase }` and `relyingParties: sps.map(rpConfigFor)`.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import express, { type Request, type Response } from 'express';
import type { z } from 'zod';
import type { samlRelyingPartySchema } from '../../src/relying-parties/schema.js';
import { makeKeyPair } from './saml.js';

export const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

/** A relying-party entry as written in OpenFed's configuration (before defaults). */
export type RelyingPartyInput = z.input<typeof samlRelyingPartySchema>;

export interface TestSpOptions {
  /** OpenFed's public base URL (its server.baseUrl), e.g. http://127.0.0.1:41234. */
  idpBase: string;
  /** OpenFed's token-signing certificate (PEM). Only known once OpenFed has started: see setIdpCert. */
  idpCertPem?: string;
  /** Our entityID. Default: <our url>/saml. */
  entityId?: string;
  /** OpenFed's entityID. Default: AD FS's http://<host of idpBase>/adfs/services/trust. */
  idpIssuer?: string;
  /** Shown on the pages (#sp-name), so a test can tell two SPs apart. */
  name?: string;
}

/** What the SP keeps about a signed-in user. */
export interface TestSpSession {
  nameID: string;
  nameIDFormat: string;
  sessionIndex: string | undefined;
  issuer: string;
  attributes: Record<string, unknown>;
}

/** One SAML single-logout message this SP received, and what it did with it. */
export interface SloEvent {
  kind: 'LogoutRequest' | 'LogoutResponse';
  ok: boolean;
  /** Local sessions a LogoutRequest ended, or the failure reason. */
  detail: string;
}

export interface TestSp {
  url: string;
  entityId: string;
  acsUrl: string;
  sloUrl: string;
  /** Our request-signing certificate (PEM): OpenFed verifies our AuthnRequests and LogoutRequests with it. */
  certPem: string;
  name: string;
  /** Sets OpenFed's signing certificate when it was not known at start (OpenFed starts after the SPs). */
  setIdpCert(pem: string): void;
  /** The local sessions that are alive now. */
  sessions(): TestSpSession[];
  /** Every SLO message received, oldest first. */
  sloEvents(): SloEvent[];
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it straight away). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(sp: { name: string }, title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)} – ${esc(sp.name)}</title></head>` +
    `<body><p id="sp-name">${esc(sp.name)}</p>${body}</body></html>`;
}

/** The decoded XML of a Redirect-binding message (deflate + base64). */
function inflateRedirect(b64: string): string {
  return inflateRawSync(Buffer.from(b64, 'base64')).toString('utf8');
}

const SESSION_COOKIE_BYTES = 24;

export async function startTestSp(options: TestSpOptions): Promise<TestSp> {
  const keys = makeKeyPair('test-sp.openfed.test');
  const app = express();
  app.disable('x-powered-by');
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = options.entityId ?? `${url}/saml`;
  const acsUrl = `${url}/acs`;
  const sloUrl = `${url}/slo`;
  const name = options.name ?? entityId;
  const idpBase = options.idpBase.replace(/\/+$/, '');
  const idpSso = `${idpBase}/adfs/ls/`;
  const idpIssuer = options.idpIssuer ?? `http://${new URL(idpBase).hostname}/adfs/services/trust`;
  // Browsers share cookies across ports of one host: two SPs on 127.0.0.1 need different cookie names.
  const cookieName = `testsp_${new URL(url).port}`;

  let idpCertPem = options.idpCertPem;
  let saml: SAML | undefined;
  const samlClient = (): SAML => {
    if (!idpCertPem) throw new Error('test SP: OpenFed certificate not set (setIdpCert)');
    // One instance for the SP's life: its in-memory cache remembers the IDs of the requests it sent,
    // which InResponseTo of Responses and LogoutResponses must match.
    saml ??= new SAML({
      issuer: entityId,
      callbackUrl: acsUrl,
      entryPoint: idpSso,
      logoutUrl: idpSso,
      logoutCallbackUrl: sloUrl,
      idpCert: idpCertPem,
      idpIssuer,
      audience: entityId,
      identifierFormat: PERSISTENT,
      privateKey: keys.keyPem,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.always,
    });
    return saml;
  };

  const sessions = new Map<string, TestSpSession>();
  const sloEvents: SloEvent[] = [];

  const sessionIdOf = (req: Request): string | undefined => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, v] = part.trim().split('=');
      if (k === cookieName && v && sessions.has(v)) return v;
    }
    return undefined;
  };
  const clearCookie = (res: Response) => res.append('Set-Cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
  const fail = (res: Response, status: number, message: string) =>
    res.status(status).type('html').send(page({ name }, 'Error', `<h1>Sign-in failed</h1><p id="error">${esc(message)}</p>`));

  app.get('/', (req, res) => {
    const sid = sessionIdOf(req);
    const s = sid ? sessions.get(sid) : undefined;
    if (!s) {
      res.type('html').send(page({ name }, 'Home', `<p id="status">Not signed in</p><a id="login" href="/login">Sign in</a>`));
      return;
    }
    const attrs = Object.entries(s.attributes)
      .map(([k, v]) => `<li data-name="${esc(k)}">${esc(Array.isArray(v) ? v.join(', ') : String(v))}</li>`)
      .join('');
    res.type('html').send(
      page({ name }, 'Home', `<p id="status">Signed in</p><p>NameID: <span id="name-id">${esc(s.nameID)}</span></p><ul id="attributes">${attrs}</ul><a id="logout" href="/logout">Sign out</a>`),
    );
  });

  app.get('/login', async (req, res) => {
    const relayState = typeof req.query.RelayState === 'string' ? req.query.RelayState : '/';
    res.redirect(302, await samlClient().getAuthorizeUrlAsync(relayState, undefined, {}));
  });

  app.post('/acs', express.urlencoded({ extended: false, limit: '256kb' }), async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const samlResponse = body?.SAMLResponse;
    if (typeof samlResponse !== 'string') return fail(res, 400, 'no SAMLResponse');
    let profile: Profile | null;
    try {
      ({ profile } = await samlClient().validatePostResponseAsync({ SAMLResponse: samlResponse }));
    } catch (err) {
      return fail(res, 401, (err as Error).message);
    }
    if (!profile) return fail(res, 401, 'no profile in the Response');
    const { issuer, nameID, nameIDFormat, sessionIndex, ...rest } = profile;
    const attributes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (typeof v === 'string' || Array.isArray(v)) attributes[k] = v;
    delete attributes.inResponseTo;
    const sid = randomBytes(SESSION_COOKIE_BYTES).toString('base64url');
    sessions.set(sid, { issuer, nameID, nameIDFormat, sessionIndex, attributes });
    res.append('Set-Cookie', `${cookieName}=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    res.type('html').send(
      page({ name }, 'Welcome', `<h1 id="welcome">Welcome <span id="name-id">${esc(nameID)}</span></h1><p id="status">Signed in</p><a href="/">Home</a>`),
    );
  });

  app.get('/logout', async (req, res) => {
    const sid = sessionIdOf(req);
    const s = sid ? sessions.get(sid) : undefined;
    if (!sid || !s) {
      res.redirect(302, '/');
      return;
    }
    // The SP ends its own session first (profiles §4.4.4.1 allows it), then asks the IdP to end the rest.
    sessions.delete(sid);
    clearCookie(res);
    const url = await samlClient().getLogoutUrlAsync(
      { issuer: s.issuer, nameID: s.nameID, nameIDFormat: s.nameIDFormat, ...(s.sessionIndex ? { sessionIndex: s.sessionIndex } : {}) },
      'logged-out',
      {},
    );
    res.redirect(302, url);
  });

  app.get('/slo', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const kind = typeof query.SAMLRequest === 'string' ? 'LogoutRequest' : typeof query.SAMLResponse === 'string' ? 'LogoutResponse' : undefined;
    if (!kind) return fail(res, 400, 'no SAML message');
    const rawQuery = req.originalUrl.slice(req.originalUrl.indexOf('?') + 1);
    const record = (ok: boolean, detail: string) => sloEvents.push({ kind, ok, detail });
    try {
      // What node-saml leaves out (see the file comment): signed, meant for us.
      if (typeof query.Signature !== 'string' || typeof query.SigAlg !== 'string') throw new Error('unsigned Redirect-binding SLO message');
      const xml = inflateRedirect(String(query.SAMLRequest ?? query.SAMLResponse));
      const destination = /\sDestination="([^"]*)"/.exec(xml)?.[1];
      if (destination !== sloUrl) throw new Error(`Destination ${destination ?? '(none)'} is not ${sloUrl}`);
      if (kind === 'LogoutResponse' && !/\sInResponseTo="[^"]+"/.test(xml)) throw new Error('LogoutResponse without InResponseTo');

      const result = await samlClient().validateRedirectAsync(req.query, rawQuery);
      if (kind === 'LogoutResponse') {
        // node-saml checked status Success, issuer, signature, and that InResponseTo is one of ours.
        record(true, 'signed out at the IdP');
        res.type('html').send(page({ name }, 'Signed out', `<h1 id="signed-out">Signed out</h1><p id="status">Not signed in</p>`));
        return;
      }
      const profile = result.profile;
      if (!profile) throw new Error('LogoutRequest without a subject');
      // Every local session of that subject (and session index, when given) ends, whichever browser
      // holds it: the IdP names the subject, not our cookie.
      let ended = 0;
      for (const [sid, s] of sessions) {
        if (s.nameID === profile.nameID && (!profile.sessionIndex || profile.sessionIndex === s.sessionIndex)) {
          sessions.delete(sid);
          ended++;
        }
      }
      if (sessionIdOf(req) === undefined) clearCookie(res);
      record(true, `${ended} session(s) ended`);
      const relayState = typeof query.RelayState === 'string' ? query.RelayState : '';
      res.redirect(302, await samlClient().getLogoutResponseUrlAsync(profile, relayState, {}, true));
    } catch (err) {
      record(false, (err as Error).message);
      fail(res, 400, (err as Error).message);
    }
  });

  return {
    url,
    entityId,
    acsUrl,
    sloUrl,
    certPem: keys.certPem,
    name,
    setIdpCert(pem: string) {
      idpCertPem = pem;
      saml = undefined;
    },
    sessions: () => [...sessions.values()],
    sloEvents: () => [...sloEvents],
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The relyingParties entry OpenFed needs for this SP: its ACS (HTTP-POST, default), its SLO endpoint
 * (Redirect), its request-signing certificate (required), persistent NameID and a few attributes.
 */
export function rpConfigFor(sp: Pick<TestSp, 'entityId' | 'acsUrl' | 'sloUrl' | 'certPem' | 'name'>): RelyingPartyInput {
  return {
    entityId: sp.entityId,
    name: sp.name,
    assertionConsumerServices: [{ url: sp.acsUrl, binding: 'post', index: 0, isDefault: true }],
    singleLogoutServices: [{ url: sp.sloUrl, binding: 'redirect' }],
    signingCertificates: [sp.certPem],
    requireSignedRequests: true,
    nameId: { format: 'persistent' },
    attributes: [
      { name: 'upn', source: 'upn', nameFormat: 'basic' },
      { name: 'displayName', source: 'displayName', nameFormat: 'basic' },
    ],
  };
}
