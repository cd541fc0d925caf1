/**
 * The management listener: Prometheus metrics and the health probes, on their own port so that
 * operational data never shares a listener with users.
 */
import express, { type Express } from 'express';
import type { Metrics } from '../metrics/metrics.js';
import type { AppDeps } from './context.js';
import { healthz, readyz } from './handlers/health.js';

export const MANAGEMENT_ROUTES = { metrics: '/metrics', health: '/healthz', ready: '/readyz' } as const;

export function createManagementApp(deps: Pick<AppDeps, 'sessions' | 'directory'>, metrics: Metrics): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get(MANAGEMENT_ROUTES.metrics, async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get(MANAGEMENT_ROUTES.health, healthz());
  app.get(MANAGEMENT_ROUTES.ready, readyz(deps));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found');
  });
  return app;
}
