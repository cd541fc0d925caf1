/**
 * The management listener: Prometheus metrics and the health probes, on their own port so that
 * operational data never shares a listener with users. A single process serves its own registry
 * and checks; a cluster primary serves what its workers report (src/cluster/primary.ts).
 */
import express, { type Express } from 'express';
import type { Metrics } from '../metrics/metrics.js';
import type { AppDeps } from './context.js';
import { readiness } from './handlers/health.js';

export const MANAGEMENT_ROUTES = { metrics: '/metrics', health: '/healthz', ready: '/readyz' } as const;

/** Where the management listener gets its answers from. */
export interface ManagementSource {
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Liveness: false when nothing could serve a user (a farm with no worker listening), or once shutting down. */
  live(): boolean;
  readiness(): Promise<{ ready: boolean; report: unknown }>;
}

/** The management listener of a single process: its own registry and its own checks. */
export function createManagementApp(deps: Pick<AppDeps, 'sessions' | 'directory' | 'shutdown'>, metrics: Metrics): Express {
  return managementApp({
    metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.registry.metrics() }),
    live: () => !deps.shutdown.shuttingDown,
    readiness: async () => {
      const report = await readiness(deps);
      return { ready: report.status === 'ready', report };
    },
  });
}

export function managementApp(source: ManagementSource): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get(MANAGEMENT_ROUTES.metrics, async (_req, res) => {
    try {
      const { contentType, text } = await source.metrics();
      res.set('Cache-Control', 'no-store').type(contentType).send(text);
    } catch {
      // A scrape that fails is retried by Prometheus; the cause is the source's to log.
      res.status(503).type('text/plain').send('metrics unavailable');
    }
  });
  app.get(MANAGEMENT_ROUTES.health, (_req, res) => {
    const live = source.live();
    res.status(live ? 200 : 503).set('Cache-Control', 'no-store').type('text/plain').send(live ? 'OK' : 'not serving');
  });
  app.get(MANAGEMENT_ROUTES.ready, async (_req, res) => {
    const { ready, report } = await source.readiness();
    res.status(ready ? 200 : 503).set('Cache-Control', 'no-store').json(report);
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found');
  });
  return app;
}
