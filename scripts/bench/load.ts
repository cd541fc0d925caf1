/**
 * One bounded load phase: autocannon drives a sequence of HTTP steps on every connection for a fixed
 * time while the bench reads the CPU time (and, when asked, the RSS) of the server's processes —
 * OpenFed's, or the floor server's. Every response is checked, so throughput only counts what really
 * is a token, a metadata document or a sign-in.
 */
import autocannon from 'autocannon';
import { clockTicksPerSecond, cpuSecondsBetween, cpuSnapshot, RssSampler } from './cpu.js';
import type { OpenFed } from './processes.js';

export type Headers = Record<string, string | string[]>;
export type StepContext = Record<string, unknown>;

export interface Step {
  method: 'GET' | 'POST';
  /** Fixed path, or a fresh one per request. */
  path: string | ((ctx: StepContext) => string);
  headers?: Record<string, string> | ((ctx: StepContext) => Record<string, string>);
  body?: (ctx: StepContext) => string;
  /** true when the response is what it must be; otherwise why not. May store values in ctx for the next step. */
  check(status: number, body: string, headers: Headers, ctx: StepContext): true | string;
  /** Whether a good response of this step is one unit of work (a token, a sign-in). */
  counts: boolean;
}

export interface LoadResult {
  connections: number;
  /** wall-clock seconds of the phase */
  seconds: number;
  /** good responses of counting steps */
  units: number;
  /** responses that were not what they must be */
  bad: number;
  /** socket errors and timeouts */
  errors: number;
  /** the first few reasons for bad responses or errors */
  problems: string[];
  p50: number;
  p99: number;
  /** CPU-seconds the server's processes used during the phase */
  cpuSeconds: number;
  processes: number;
  /** highest VmRSS per server process, when sampled */
  rssMax?: Map<number, number>;
}

/** A header value regardless of the case the server wrote its name in. */
export function header(headers: Headers, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) out.push(...(Array.isArray(v) ? v : [v]));
  return out;
}

/** What a load phase needs of the server it drives: OpenFed, or the floor server beside it. */
export type LoadTarget = Pick<OpenFed, 'url' | 'pid' | 'crashed' | 'exited'>;

export async function runLoad(o: { target: LoadTarget; connections: number; seconds: number; steps: Step[]; sampleRss?: boolean }): Promise<LoadResult> {
  let units = 0;
  let bad = 0;
  const problems = new Map<string, number>();
  const note = (reason: string) => problems.set(reason, (problems.get(reason) ?? 0) + 1);

  const requests: autocannon.Request[] = o.steps.map((step) => ({
    method: step.method,
    setupRequest: (req, ctx) => {
      const path = typeof step.path === 'function' ? step.path(ctx) : step.path;
      const headers = typeof step.headers === 'function' ? step.headers(ctx) : step.headers ?? {};
      return { ...req, method: step.method, path, headers: { ...req.headers, ...headers }, ...(step.body ? { body: step.body(ctx) } : {}) };
    },
    onResponse: (status, body, ctx, headers) => {
      const verdict = step.check(status, body, headers, ctx);
      if (verdict === true) {
        if (step.counts) units++;
      } else {
        bad++;
        note(`${step.method} → ${status}: ${verdict}`);
      }
    },
  }));

  const ticks = clockTicksPerSecond();
  const rss = o.sampleRss ? new RssSampler(o.target.pid) : undefined;
  const before = cpuSnapshot(o.target.pid);
  const started = performance.now();
  let result: autocannon.Result;
  try {
    result = await Promise.race([
      autocannon({ url: o.target.url, connections: o.connections, duration: o.seconds, timeout: 10, requests }),
      o.target.crashed,
    ]);
  } finally {
    rss?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const after = cpuSnapshot(o.target.pid);
  const rssMax = rss?.stop();
  const cpu = cpuSecondsBetween(before, after, ticks);
  if (cpu.vanished.length > 0) throw new Error(`process(es) ${cpu.vanished.join(', ')} of the server at ${o.target.url} died during the load`);
  if (o.target.exited()) await o.target.crashed;

  // autocannon counts a timeout as an error too.
  const errors = result.errors;
  if (result.errors > result.timeouts) note(`${result.errors - result.timeouts} socket error(s)`);
  if (result.timeouts > 0) note(`${result.timeouts} timeout(s)`);
  return {
    connections: o.connections,
    seconds,
    units,
    bad,
    errors,
    problems: [...problems].slice(0, 5).map(([reason, n]) => `${n}× ${reason}`),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuSeconds: cpu.seconds,
    processes: after.ticks.size,
    ...(rssMax ? { rssMax } : {}),
  };
}
