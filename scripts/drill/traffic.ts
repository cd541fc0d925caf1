/**
 * The drill's steady load, as users make it: token loops (a SAML AuthnRequest over the Redirect
 * binding, each loop with its own SSO session) and sign-in loops (GET the form, POST the password
 * of an AD user). Unlike the bench's autocannon, every request is followed on its own until it ends
 * in an answer, an error (reset, refused) or a hang (nothing after HANG_MS), because how a request
 * fails is what the drill is about.
 *
 * Half of the loops open a fresh connection per request (as many browsers behind a load balancer),
 * the other half keep theirs alive (as the load balancer's own pool).
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { cookiePairs, csrfTokenOf } from '../bench/signin.js';
import { looksLikeToken, samlRequestFactory } from '../bench/tokens.js';
import type { Outcome, RequestKind } from './analysis.js';

/** A request with neither an answer nor an error after this long is a hang: a load balancer waits on it. */
export const HANG_MS = 5_000;

type Exchange =
  | { kind: 'answer'; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: 'error'; code: string; reused: boolean }
  | { kind: 'hang' };

function exchange(url: string, o: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; agent: Agent | false }): Promise<Exchange> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (e: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(e);
    };
    const headers = { ...o.headers, ...(o.agent ? {} : { connection: 'close' }), ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}) };
    const req = httpRequest(url, { method: o.method ?? 'GET', agent: o.agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ kind: 'answer', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => done({ kind: 'error', code: codeOf(err), reused: req.reusedSocket }));
    });
    req.on('error', (err) => done({ kind: 'error', code: codeOf(err), reused: req.reusedSocket }));
    const timer = setTimeout(() => {
      done({ kind: 'hang' });
      req.destroy();
    }, HANG_MS);
    req.end(o.body);
  });
}

const codeOf = (err: Error) => (err as NodeJS.ErrnoException).code ?? err.message;

/** An exchange that is not a good answer, as an outcome. */
function failure(kind: RequestKind, sentAt: number, e: Exclude<Exchange, { kind: 'answer' }> | { kind: 'answer'; status: number }, why?: string): Outcome {
  const base = { kind, sentAt, endedAt: Date.now() };
  switch (e.kind) {
    case 'hang':
      return { ...base, result: 'hang' };
    case 'error':
      if (e.code === 'ECONNREFUSED') return { ...base, result: 'refused' };
      return { ...base, result: 'reset', error: e.code, ...(e.reused ? { reusedConnection: true } : {}) };
    case 'answer':
      return { ...base, result: why === 'session-lost' ? 'session-lost' : 'status', status: e.status, ...(why && why !== 'session-lost' ? { error: why } : {}) };
  }
}

export interface TrafficOptions {
  baseUrl: string;
  /** The identifier OpenFed's SSO endpoint has in AuthnRequests' Destination. */
  ssoUrl: string;
  spEntityId: string;
  /** One SSO cookie per token loop. */
  sessions: readonly string[];
  signInLoops: number;
  username: string;
  password: string;
  ssoCookieName?: string;
  /** Requests per second per token loop; unpaced when undefined. */
  tokenPace?: number;
  /** Sign-ins per second per sign-in loop; unpaced when undefined. */
  signInPace?: number;
  /**
   * When a token loop's session is gone: a new one to go on with (the soak, where sessions expire
   * as they would over a day). Without it the loop keeps the lost session, and every request says so.
   */
  renewSession?: () => Promise<string>;
  /** When the loops go through a load balancer that probes the node. */
  balancer?: Balancer;
}

/** A token request with one session: a token page, or why not. */
export async function tokenRequest(o: Pick<TrafficOptions, 'baseUrl' | 'ssoUrl' | 'spEntityId'>, cookie: string, agent: Agent | false, next: () => string): Promise<Outcome> {
  const sentAt = Date.now();
  const e = await exchange(`${o.baseUrl}${next()}`, { headers: { cookie }, agent });
  if (e.kind !== 'answer') return failure('token', sentAt, e);
  if (e.status === 200 && looksLikeToken(e.body, 'SAMLResponse')) return { kind: 'token', sentAt, endedAt: Date.now(), result: 'ok' };
  // Sent to the sign-in form: the session this cookie names is gone.
  const location = String(e.headers.location ?? '');
  if ((e.status === 302 || e.status === 303) && location.includes('/signin')) return failure('token', sentAt, e, 'session-lost');
  return failure('token', sentAt, e, e.status === 200 ? 'a 200 without a token' : undefined);
}

/** One password sign-in as a browser makes it; its outcome spans both requests. */
async function signInRequest(o: TrafficOptions, agent: Agent | false): Promise<Outcome> {
  const sentAt = Date.now();
  const form = await exchange(`${o.baseUrl}/signin`, { agent });
  if (form.kind !== 'answer') return failure('signin', sentAt, form);
  const csrf = csrfTokenOf(form.body);
  if (form.status !== 200 || !csrf) return failure('signin', sentAt, form, form.status === 200 ? 'no sign-in form' : undefined);
  const setCookies = [form.headers['set-cookie'] ?? []].flat();
  const posted = await exchange(`${o.baseUrl}/signin`, {
    method: 'POST',
    agent,
    headers: { cookie: cookiePairs(setCookies), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, username: o.username, password: o.password }).toString(),
  });
  if (posted.kind !== 'answer') return failure('signin', sentAt, posted);
  const sso = [posted.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith(`${o.ssoCookieName ?? 'openfed_sso'}=`));
  if (posted.status === 303 && sso) return { kind: 'signin', sentAt, endedAt: Date.now(), result: 'ok' };
  return failure('signin', sentAt, posted, posted.status === 303 ? 'no session started' : undefined);
}

/**
 * A load balancer with this one node behind it, as far as the drill needs one: it probes /adfs/probe
 * every `intervalMs` (one failure takes the node out, one success puts it back), and while the node
 * is out, no loop sends anything (a balancer with no healthy node holds or fails requests itself).
 */
export class Balancer {
  private healthy = true;
  private running = true;
  private readonly polling: Promise<void>;

  constructor(
    private readonly baseUrl: string,
    private readonly intervalMs = 100,
  ) {
    this.polling = this.poll();
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const probe = await exchange(`${this.baseUrl}/adfs/probe`, { agent: false });
      this.healthy = probe.kind === 'answer' && probe.status === 200;
      await sleep(this.intervalMs);
    }
  }

  /** Resolves when the node is in the pool (at once when it is). */
  async admitted(stillWanted: () => boolean): Promise<void> {
    while (!this.healthy && stillWanted()) await sleep(10);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.polling;
  }
}

/** Runs the loops until stop(); every outcome lands in `outcomes`, in the order requests ended. */
export class Traffic {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

  private readonly balancer: Balancer | undefined;

  constructor(o: TrafficOptions) {
    this.balancer = o.balancer;
    const requests = samlRequestFactory({ idpSsoUrl: o.ssoUrl, spEntityId: o.spEntityId });
    o.sessions.forEach((first, i) => {
      const agent = i % 2 === 0 ? false : this.keepAlive;
      let cookie = first;
      this.loops.push(
        this.loop(o.tokenPace, async () => {
          const outcome = await tokenRequest(o, cookie, agent, requests.next);
          if (outcome.result === 'session-lost' && o.renewSession) cookie = await o.renewSession().catch(() => cookie);
          return outcome;
        }),
      );
    });
    for (let i = 0; i < o.signInLoops; i++) {
      const agent = i % 2 === 0 ? false : this.keepAlive;
      this.loops.push(this.loop(o.signInPace, () => signInRequest(o, agent)));
    }
  }

  private async loop(perSecond: number | undefined, one: () => Promise<Outcome>): Promise<void> {
    const interval = perSecond ? 1000 / perSecond : 0;
    // Spread the paced loops' first requests over one interval, so they do not arrive in step.
    let next = Date.now() + Math.random() * interval;
    while (this.running) {
      if (interval > 0) {
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        // Behind schedule (a slow answer): carry on from now rather than catch up in a burst.
        next = Math.max(next, Date.now() - interval) + interval;
      }
      await this.balancer?.admitted(() => this.running);
      if (!this.running) break;
      const outcome = await one();
      this.outcomes.push(outcome);
      // A refused connection answers at once: without a pause a loop would spin on the dead port.
      if (outcome.result === 'refused') await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.keepAlive.destroy();
  }
}
