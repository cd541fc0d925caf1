/**
 * An outage of a dependency (Redis, the domain controllers) as a few log lines instead of one per
 * refused request: under load a line per request floods the log pipeline exactly when people read
 * it (issue #17). The state machine here is pure — events in, lines to write out, time from an
 * injected clock — so its table tests need no timers; OutageLog writes its lines to a logger and
 * runs the "still down" timer.
 *
 *   up  --failed(cause)-->  down: "<what> lost" (warn, with the cause), once
 *   down --failed/tick-->   down: "<what> still down" every reportEveryMs, with the failures since the last line
 *   down --ok-->            up:   "<what> back" (info), with how long it was down and how many failed in all
 *
 * Failures while up that do not start an outage do not exist: any failure starts one, and the next
 * success ends it (a single timeout costs two lines, a long outage a few more) — or, with `settleMs`,
 * the first success after which nothing failed for that long. A Redis Cluster with a dead master
 * answers for the keys on the live ones and fails the others, request by request: without settling,
 * each success would end the outage and the next failure start another (210 "lost" lines in one
 * failover, measured by `npm run drill -- --redis cluster`).
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';

export interface OutageLine {
  level: 'warn' | 'info';
  fields: Record<string, unknown>;
  msg: string;
}

export interface OutageMessages {
  /** The dependency, as the lines name it: "Redis", "Active Directory". */
  what: string;
  /** What users see meanwhile, appended to the "lost" line: "sign-ins fail with 503 until it is back". */
  impact: string;
}

export interface FailureKind {
  refused?: boolean;
  atStart?: boolean;
}

export class OutageState {
  private downSince: number | undefined;
  /** While down: the first success since the last failure, if any. */
  private okSince: number | undefined;
  private lastReport = 0;
  private failedSinceReport = 0;
  private failedTotal = 0;

  constructor(
    private readonly messages: OutageMessages,
    private readonly reportEveryMs: number,
    private readonly clock: Clock,
    private readonly settleMs = 0,
  ) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /**
   * Something failed because of the dependency: a refused request or operation (counted) or, with
   * `refused: false`, a failed reconnect (nobody was refused). `cause` goes on the "lost" line only;
   * the per-failure detail is the caller's to log at debug. `atStart`: it was never up, so the first
   * line says "unreachable" rather than "lost".
   */
  failed(cause: string, { refused = true, atStart = false }: FailureKind = {}): OutageLine[] {
    const now = this.clock.now();
    if (refused) {
      this.failedSinceReport++;
      this.failedTotal++;
    }
    this.okSince = undefined;
    if (this.downSince === undefined) {
      this.downSince = now;
      this.lastReport = now;
      // The first refusal is on the "lost" line's account, so "still down" counts the ones after it.
      this.failedSinceReport = 0;
      const { what, impact } = this.messages;
      return [{ level: 'warn', fields: { reason: cause }, msg: `${what} ${atStart ? 'unreachable' : 'lost'}: ${impact}` }];
    }
    return this.tick();
  }

  /** The "still down" line, when one is due, or "back" once settled. Called on every failure and by a timer while down. */
  tick(): OutageLine[] {
    if (this.downSince === undefined) return [];
    const now = this.clock.now();
    if (this.okSince !== undefined && now - this.okSince >= this.settleMs) return this.back();
    if (now - this.lastReport < this.reportEveryMs) return [];
    const refused = this.failedSinceReport;
    this.lastReport = now;
    this.failedSinceReport = 0;
    return [{ level: 'warn', fields: { downMs: now - this.downSince, refused }, msg: `${this.messages.what} still down: ${refused} refused since the last report` }];
  }

  /** The dependency answered again: back, or (with settleMs) back once nothing failed for that long. */
  ok(): OutageLine[] {
    if (this.downSince === undefined) return [];
    this.okSince ??= this.clock.now();
    return this.clock.now() - this.okSince >= this.settleMs ? this.back() : [];
  }

  /** When the outage, if settling, will have settled; undefined when nothing is settling. */
  settlesAt(): number | undefined {
    return this.downSince === undefined || this.okSince === undefined ? undefined : this.okSince + this.settleMs;
  }

  private back(): OutageLine[] {
    // Down until the first success that lasted, not until it was confirmed.
    const downMs = this.okSince! - this.downSince!;
    const totalRefused = this.failedTotal;
    this.downSince = undefined;
    this.okSince = undefined;
    this.failedSinceReport = 0;
    this.failedTotal = 0;
    return [{ level: 'info', fields: { downMs, totalRefused }, msg: `${this.messages.what} back after ${formatDuration(downMs)}: ${totalRefused} refused in all` }];
  }
}

/** 850 ms, 12.3 s, 4 min 5 s: what a person reading the line wants, the exact value is in downMs. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/**
 * OutageState writing to a logger, with a timer for "still down" while nothing else happens (no
 * request, no reconnect attempt). The timer is unref'd: it never keeps a process alive.
 */
export class OutageLog {
  private readonly state: OutageState;
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    messages: OutageMessages,
    private readonly reportEveryMs: number,
    private readonly clock: Clock,
    settleMs = 0,
  ) {
    this.state = new OutageState(messages, reportEveryMs, clock, settleMs);
  }

  get down(): boolean {
    return this.state.down;
  }

  failed(cause: string, kind: FailureKind = {}): void {
    this.write(this.state.failed(cause, kind));
    if (this.state.down && !this.timer) {
      this.timer = setInterval(() => {
        this.write(this.state.tick());
        if (!this.state.down) this.stop();
      }, this.reportEveryMs);
      this.timer.unref();
    }
  }

  ok(): void {
    if (!this.state.down) return;
    this.write(this.state.ok());
    if (!this.state.down) return this.stop();
    // Settling: say "back" when it has settled even if nothing else happens by then.
    const at = this.state.settlesAt();
    if (at !== undefined && !this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        this.write(this.state.tick());
        if (!this.state.down) this.stop();
      }, Math.max(0, at - this.clock.now()));
      this.settleTimer.unref();
    }
  }

  /** No more lines: the connection or directory is being closed. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
  }

  private write(lines: OutageLine[]): void {
    for (const line of lines) this.logger[line.level](line.fields, line.msg);
  }
}
