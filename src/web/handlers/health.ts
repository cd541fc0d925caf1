import type { Request, Response } from 'express';
import type { WebContext } from '../web-context.js';

/**
 * GET /healthz and /adfs/probe: the process answers. No dependency is checked, as AD FS's probe; 503
 * once shutting down, so that a load balancer stops sending new connections before the port closes.
 */
export function healthz(ctx: Pick<WebContext, 'shutdown'>) {
  return (_req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store').type('text/plain');
    if (ctx.shutdown.shuttingDown) res.status(503).send('shutting down');
    else res.send('OK');
  };
}

const CHECK_TIMEOUT_MS = 3000;

async function check(probe: () => Promise<{ ok: boolean; detail: string }>): Promise<{ ok: boolean; detail: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: boolean; detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([probe().catch((err: unknown) => ({ ok: false, detail: (err as Error).message })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /readyz: 200 only when sessions and the directory answer, so a load balancer stops sending
 * users to a node that cannot sign them in. The details name only the kind of failure.
 */
export function readyz(ctx: Pick<WebContext, 'sessions' | 'directory' | 'shutdown'>) {
  return async (_req: Request, res: Response) => {
    const report = await readiness(ctx);
    res
      .status(report.status === 'ready' ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(report);
  };
}

export interface ReadinessReport {
  status: 'ready' | 'not ready';
  /** Present once SIGTERM came: not ready whatever the checks say. */
  shuttingDown?: true;
  checks: {
    sessions: { ok: boolean; store: string; detail: string };
    directory: { ok: boolean; kind: string; detail: string };
  };
}

/** The checks behind /readyz, also asked of each cluster worker by the primary's management listener. */
export async function readiness(ctx: Pick<WebContext, 'sessions' | 'directory' | 'shutdown'>): Promise<ReadinessReport> {
  const [sessions, directory] = await Promise.all([check(() => ctx.sessions.health()), check(() => ctx.directory.health())]);
  const shuttingDown = ctx.shutdown.shuttingDown;
  return {
    status: sessions.ok && directory.ok && !shuttingDown ? 'ready' : 'not ready',
    ...(shuttingDown ? { shuttingDown: true as const } : {}),
    checks: {
      sessions: { ok: sessions.ok, store: ctx.sessions.kind, detail: sessions.detail },
      directory: { ok: directory.ok, kind: ctx.directory.kind, detail: directory.detail },
    },
  };
}
