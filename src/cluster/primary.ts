/**
 * The cluster primary: forks the workers that serve the port, restarts one that dies (with backoff,
 * giving up on a crash loop), serves the management listener for the whole farm from what the
 * workers report over IPC, and on SIGTERM/SIGINT lets every worker finish its requests, then exits 0.
 * It serves no user request itself.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ReadinessReport } from '../web/handlers/health.js';
import { listen, listenUrl } from '../web/listen.js';
import { managementApp, type ManagementSource } from '../web/management.js';
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage, type WorkerMetrics } from './messages.js';
import { defaultRestartPolicy, RestartPolicy, type RestartPolicyOptions } from './restart-policy.js';

/**
 * Node's default on Linux, round robin, has the primary accept every connection and pass it to a
 * worker over IPC, keeping its own copy open until the worker says it took it. A worker killed
 * (SIGKILL, OOM) with a connection on its way never says so, and node forgets that copy: the client
 * has neither an answer nor a reset, and waits for its own timeout (issue #17; measured: a hang in
 * each of 25 kills under load, each held by the primary, test/faults/worker-kill.test.ts). With
 * SCHED_NONE the workers accept from the shared socket, the kernel hands a connection only to a
 * live process, and whatever a dead worker had accepted is reset by the kernel: a load balancer
 * retries a reset, it waits on a hang. Measured with two workers under load, the spread stayed
 * even (see the README, "A farm").
 */
const SCHEDULING_POLICY = cluster.SCHED_NONE;
/** A worker slower than this to report is left out of one scrape rather than stalling it. */
const METRICS_TIMEOUT_MS = 2_000;
/** The worker's own checks time out at 3 s (handlers/health.ts); a little more for the round trip. */
const READINESS_TIMEOUT_MS = 4_000;
/** After the workers' grace period, how much longer a worker may take to exit before SIGKILL. */
const EXIT_MARGIN_MS = 5_000;

export interface PrimaryOptions {
  workers: number;
  clock?: Clock;
  restartPolicy?: RestartPolicyOptions;
}

interface WorkerState {
  worker: Worker;
  listening: boolean;
}

type Reply = Extract<WorkerMessage, { id: number }>;

export class ClusterPrimary {
  private readonly log: Logger;
  private readonly states = new Map<number, WorkerState>();
  /** Questions asked of workers (readiness, metrics) by request id, until answered, timed out, or the worker exits. */
  private readonly pending = new Map<number, { workerId: number; resolve: (reply: Reply | 'exited') => void }>();
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly policy: RestartPolicy;
  private readonly registry = new Registry();
  private readonly restarts = new Counter({ name: 'openfed_worker_restarts_total', help: 'Cluster workers restarted after dying', registers: [this.registry] });
  private nextRequestId = 1;
  private started = false;
  private stopping: Promise<number> | undefined;
  private management: Server | undefined;
  /** Resolves with the exit code once the farm has stopped, for whatever reason. */
  private finish!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.finish = resolve));

  constructor(
    private readonly config: Config,
    logger: Logger,
    private readonly options: PrimaryOptions,
  ) {
    this.log = logger.child({ role: 'primary' });
    this.policy = new RestartPolicy(options.clock ?? systemClock, options.restartPolicy ?? defaultRestartPolicy(options.workers));
    const states = this.states;
    new Gauge({
      name: 'openfed_workers',
      help: 'Cluster workers: configured, and listening now',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.set({ state: 'configured' }, options.workers);
        this.set({ state: 'listening' }, [...states.values()].filter((s) => s.listening).length);
      },
    });
    cluster.on('message', (worker, message: unknown) => this.onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
  }

  /**
   * Starts the management listener and the workers; resolves once every worker listens. A worker
   * that fails to start here ends the whole start (exit 1): at this point that is a configuration
   * or environment problem, which restarting would not mend.
   */
  async start(): Promise<{ managementUrl?: string }> {
    const port = this.config.management.port;
    if (port !== undefined) {
      this.management = createServer(managementApp(this.managementSource()));
      await listen(this.management, port, this.config.management.host);
    }
    const managementUrl = this.management && listenUrl(this.management, 'http');
    const listening = new Promise<void>((resolve) => (this.onAllListening = resolve));
    // Workers accept connections themselves, from the listening socket they share (see
    // SCHEDULING_POLICY). Read by node once, at the first setupPrimary().
    cluster.schedulingPolicy = SCHEDULING_POLICY;
    cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
    for (let i = 0; i < this.options.workers; i++) this.fork();
    const outcome = await Promise.race([listening.then(() => 'listening' as const), this.finished]);
    if (outcome === 'listening') {
      this.started = true;
      this.log.info({ workers: this.options.workers, managementUrl }, 'OpenFed farm listening');
    }
    return managementUrl === undefined ? {} : { managementUrl };
  }

  /** Graceful: every worker finishes its requests in flight (up to server.shutdownGraceMs), then exit 0. */
  stop(reason: string, code = 0): Promise<number> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'stopping the farm');
      for (const timer of this.restartTimers) clearTimeout(timer);
      this.restartTimers.clear();
      const exits = [...this.states.values()].map(({ worker, listening }) => {
        const exited = new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve())));
        // Not listening yet means no shutdown handler yet either: ending it is all there is to do.
        if (listening && worker.isConnected()) this.send(worker, { type: 'openfed:shutdown' });
        else worker.process.kill('SIGTERM');
        return exited;
      });
      let timer: NodeJS.Timeout | undefined;
      const { shutdownDelayMs, shutdownGraceMs } = this.config.server;
      const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), shutdownDelayMs + shutdownGraceMs + EXIT_MARGIN_MS)));
      if ((await Promise.race([Promise.all(exits), deadline])) === 'late') {
        this.log.warn('workers did not exit in time: killing them');
        for (const { worker } of this.states.values()) worker.process.kill('SIGKILL');
      }
      clearTimeout(timer);
      this.management?.closeAllConnections();
      this.management?.close();
      this.log.info('stopped');
      this.finish(code);
      return code;
    })();
    return this.stopping;
  }

  private onAllListening: () => void = () => undefined;

  private fork(): void {
    const worker = cluster.fork();
    this.states.set(worker.id, { worker, listening: false });
    this.log.debug({ worker: worker.id, workerPid: worker.process.pid }, 'worker forked');
  }

  private send(worker: Worker, message: PrimaryMessage): boolean {
    try {
      return worker.send(message);
    } catch {
      return false; // the channel closed under us: the 'exit' event follows
    }
  }

  private onMessage(worker: Worker, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    switch (message.type) {
      case 'openfed:listening': {
        const state = this.states.get(worker.id);
        if (state) state.listening = true;
        this.log.info({ worker: worker.id, workerPid: worker.process.pid, url: message.url }, 'worker listening');
        if ([...this.states.values()].every((s) => s.listening) && this.states.size >= this.options.workers) this.onAllListening();
        return;
      }
      case 'openfed:start-failed':
        if (!this.started) {
          // One line for the whole farm, however many workers fail the same way.
          if (!this.stopping) process.stderr.write(`openfed: ${message.line}\n`);
          void this.stop('a worker failed to start', 1);
        } else {
          this.log.error({ worker: worker.id, reason: message.line }, 'a restarted worker failed to start');
        }
        return;
      case 'openfed:metrics':
      case 'openfed:readiness':
        this.pending.get(message.id)?.resolve(message);
        this.pending.delete(message.id);
        return;
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.states.delete(worker.id);
    // A question asked just before it died will never be answered: say so now rather than at the
    // timeout (a /readyz probe at a worker's death took the whole 4 s and answered 503).
    for (const [id, question] of this.pending) {
      if (question.workerId !== worker.id) continue;
      this.pending.delete(id);
      question.resolve('exited');
    }
    if (this.stopping) return;
    if (!this.started) {
      // Died before the farm was up, without saying why (a start-failed message would have stopped us).
      process.stderr.write(`openfed: a worker exited during start-up (${signal ?? `exit code ${code}`})\n`);
      void this.stop('a worker failed to start', 1);
      return;
    }
    const decision = this.policy.onDeath();
    if (!decision.restart) {
      this.log.fatal({ worker: worker.id, code, signal, recentDeaths: decision.recentDeaths }, 'workers keep dying: stopping the farm rather than restarting in a loop');
      void this.stop('crash loop', 1);
      return;
    }
    this.log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, restartInMs: decision.delayMs }, 'worker died: restarting it');
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.restarts.inc();
      this.fork();
    }, decision.delayMs);
    this.restartTimers.add(timer);
  }

  /**
   * Asks every listening worker; a worker that does not answer in time is there with no reply, one
   * that exits meanwhile is left out (it serves nobody any more; its replacement is on its way).
   */
  private async askAll<T extends Reply['type']>(type: T, timeoutMs: number): Promise<{ worker: Worker; reply: Extract<Reply, { type: T }> | undefined }[]> {
    const listening = [...this.states.values()].filter((s) => s.listening && s.worker.isConnected());
    const answers = await Promise.all(
      listening.map(async ({ worker }) => {
        const id = this.nextRequestId++;
        let timer: NodeJS.Timeout | undefined;
        const reply = await new Promise<Reply | 'exited' | undefined>((resolve) => {
          this.pending.set(id, { workerId: worker.id, resolve });
          timer = setTimeout(() => {
            this.pending.delete(id);
            resolve(undefined);
          }, timeoutMs);
          if (!this.send(worker, { type, id } as PrimaryMessage)) resolve(undefined);
        });
        clearTimeout(timer);
        this.pending.delete(id);
        return { worker, reply };
      }),
    );
    return answers.flatMap(({ worker, reply }) => (reply === 'exited' ? [] : [{ worker, reply: reply as Extract<Reply, { type: T }> | undefined }]));
  }

  private managementSource(): ManagementSource {
    return {
      metrics: async () => {
        const answers = await this.askAll('openfed:metrics', METRICS_TIMEOUT_MS);
        const missing = answers.filter((a) => !a.reply).map((a) => a.worker.id);
        if (missing.length) this.log.warn({ workers: missing }, 'workers did not report metrics in time: left out of this scrape');
        const perWorker: WorkerMetrics[] = answers.flatMap((a) => (a.reply ? [a.reply.metrics] : []));
        // Counters add up across workers; the certificate gauge says how it aggregates (min).
        const aggregated = AggregatorRegistry.aggregate(perWorker);
        const text = (await aggregated.metrics()) + (await this.registry.metrics());
        return { contentType: this.registry.contentType, text };
      },
      // Once stopping, both probes fail at once (the workers' own answer 503 too: server.shutdownDelayMs).
      live: () => !this.stopping && [...this.states.values()].some((s) => s.listening),
      readiness: async () => {
        if (this.stopping) return { ready: false, report: { status: 'not ready', shuttingDown: true, workers: { configured: this.options.workers } } };
        const answers = await this.askAll('openfed:readiness', READINESS_TIMEOUT_MS);
        const workers = answers.map(({ worker, reply }) => ({
          worker: worker.id,
          pid: worker.process.pid,
          ...(reply ? (reply.report satisfies ReadinessReport) : { status: 'not ready' as const, detail: `no answer within ${READINESS_TIMEOUT_MS} ms` }),
        }));
        const ready = workers.length > 0 && workers.every((w) => w.status === 'ready');
        return {
          ready,
          report: { status: ready ? 'ready' : 'not ready', workers: { configured: this.options.workers, listening: workers.length }, checks: workers },
        };
      },
    };
  }
}

/**
 * A worker's live heap is ~35 MB at 64 concurrent token requests, yet V8 lets the old generation grow
 * to three times that before it collects, which put workers at 160–220 MB RSS under load. A 96 MB cap
 * makes it collect sooner (measured: 132–136 MB RSS, no change in tokens per CPU-second). An operator's
 * own --max-old-space-size (on the command line or in NODE_OPTIONS, e.g. for thousands of relying
 * parties) wins.
 */
export const WORKER_MAX_OLD_SPACE_MB = 96;

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--max[-_]old[-_]space[-_]size(=|$)/.test(arg));
  return given ? [...execArgv] : [...execArgv, `--max-old-space-size=${WORKER_MAX_OLD_SPACE_MB}`];
}
