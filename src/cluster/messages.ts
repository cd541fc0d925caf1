/**
 * What the cluster primary and its workers say to each other over the IPC channel. Every message
 * carries an `openfed:` type, so prom-client's or node's own cluster messages pass by untouched.
 */
import type { Registry } from 'prom-client';
import type { ReadinessReport } from '../web/handlers/health.js';

/** One worker's registry as prom-client's AggregatorRegistry.aggregate() takes it. */
export type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Worker → primary. */
export type WorkerMessage =
  | { type: 'openfed:listening'; url: string }
  /** Start-up failed; `line` is the one-line explanation for the operator. */
  | { type: 'openfed:start-failed'; line: string }
  | { type: 'openfed:metrics'; id: number; metrics: WorkerMetrics }
  | { type: 'openfed:readiness'; id: number; report: ReadinessReport };

/** Primary → worker. */
export type PrimaryMessage =
  | { type: 'openfed:metrics'; id: number }
  | { type: 'openfed:readiness'; id: number }
  /** Stop accepting, finish the requests in flight, exit 0. */
  | { type: 'openfed:shutdown' };

const WORKER_TYPES = new Set(['openfed:listening', 'openfed:start-failed', 'openfed:metrics', 'openfed:readiness']);
const PRIMARY_TYPES = new Set(['openfed:metrics', 'openfed:readiness', 'openfed:shutdown']);

function typeOf(message: unknown): string | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const type = (message as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return WORKER_TYPES.has(typeOf(message) ?? '');
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return PRIMARY_TYPES.has(typeOf(message) ?? '');
}
