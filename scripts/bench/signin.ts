/**
 * Password sign-ins as a browser makes them (GET the form for its CSRF token and cookie, POST it),
 * once for the session the token phases use, and as load steps; plus the domain controller's own
 * bind rate with the same concurrency, the ceiling a sign-in cannot beat.
 */
import { Client } from 'ldapts';
import { header, type Step } from './load.js';

const FORM = 'application/x-www-form-urlencoded';

export const csrfTokenOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

/** "name=value" pairs of Set-Cookie headers, ready for a Cookie header. */
export function cookiePairs(setCookies: readonly string[]): string {
  return setCookies.map((c) => c.split(';')[0]!.trim()).filter(Boolean).join('; ');
}

/** Signs in through the form; returns the Cookie header that carries the SSO session. */
export async function signIn(base: string, username: string, password: string, ssoCookieName = 'openfed_sso'): Promise<string> {
  const page = await fetch(`${base}/signin`, { redirect: 'manual' });
  const token = csrfTokenOf(await page.text());
  if (page.status !== 200 || !token) throw new Error(`GET /signin answered ${page.status} without a sign-in form`);
  const res = await fetch(`${base}/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookiePairs(page.headers.getSetCookie()), 'content-type': FORM },
    body: new URLSearchParams({ _csrf: token, username, password }).toString(),
  });
  await res.arrayBuffer();
  const sso = res.headers.getSetCookie().find((c) => c.startsWith(`${ssoCookieName}=`));
  if (res.status !== 303 || !sso) throw new Error(`sign-in as ${username} failed: POST /signin answered ${res.status}`);
  return cookiePairs([sso]);
}

/** The two requests of one sign-in, for runLoad: a sign-in counts when the POST starts a session. */
export function signInSteps(username: string, password: string, ssoCookieName = 'openfed_sso'): Step[] {
  return [
    {
      method: 'GET',
      path: '/signin',
      counts: false,
      check: (status, body, headers, ctx) => {
        const token = csrfTokenOf(body);
        if (status !== 200 || !token) return 'no sign-in form';
        ctx.csrf = token;
        ctx.cookie = cookiePairs(header(headers, 'set-cookie'));
        return true;
      },
    },
    {
      method: 'POST',
      path: '/signin',
      counts: true,
      headers: (ctx) => ({ cookie: String(ctx.cookie ?? ''), 'content-type': FORM }),
      body: (ctx) => new URLSearchParams({ _csrf: String(ctx.csrf ?? ''), username, password }).toString(),
      check: (status, _body, headers) =>
        status === 303 && header(headers, 'set-cookie').some((c) => c.startsWith(`${ssoCookieName}=`)) ? true : 'no session started',
    },
  ];
}

export interface BindRate {
  binds: number;
  errors: number;
  seconds: number;
  firstError?: string;
}

/** LDAP simple binds of one user, `connections` clients each binding in a loop on its own connection. */
export async function dcBindRate(o: { url: string; dn: string; password: string; connections: number; seconds: number }): Promise<BindRate> {
  let binds = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + o.seconds * 1000;
  const worker = async () => {
    const client = new Client({ url: o.url, timeout: 5000, connectTimeout: 3000 });
    try {
      while (performance.now() < deadline) {
        try {
          await client.bind(o.dn, o.password);
          binds++;
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  return { binds, errors, seconds: (performance.now() - started) / 1000, ...(firstError ? { firstError } : {}) };
}
