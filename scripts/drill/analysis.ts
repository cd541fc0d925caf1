/**
 * What a fault did to the requests around it, from their outcomes alone (pure: unit-tested with
 * made-up timelines in test/drill/analysis.test.ts): how many failed and how, the longest time
 * without a success, how long after the cause was gone the service was whole again, and for a
 * graceful shutdown whether any request was dropped rather than answered or refused.
 */

export type RequestKind = 'token' | 'signin';

/**
 * ok: the token page or a started session. status: any other answer. session-lost: a token request
 * sent to the sign-in form (its SSO session is gone). reset: the connection broke (ECONNRESET, socket
 * hang up); refused: nothing listened (ECONNREFUSED); hang: neither an answer nor an error in time.
 */
export type OutcomeResult = 'ok' | 'status' | 'session-lost' | 'reset' | 'refused' | 'hang';

export interface Outcome {
  kind: RequestKind;
  /** epoch ms */
  sentAt: number;
  endedAt: number;
  result: OutcomeResult;
  status?: number;
  error?: string;
  /** A reset on a kept-alive connection that had served a request before. */
  reusedConnection?: boolean;
}

export interface FaultWindow {
  /** Start of the steady load before the fault. */
  from: number;
  faultAt: number;
  /** When the cause was removed (Redis restarted, the DC back); the fault itself for a one-off blow. */
  restoredAt: number;
  to: number;
}

export interface KindSummary {
  requests: number;
  ok: number;
  /** Failures by how they failed: "503", "reset", "refused", "hang", "session lost", … */
  failed: Record<string, number>;
  /** Longest time in the window without a request of this kind succeeding. */
  longestGapMs: number;
  /**
   * From `restoredAt` to the first success after the window's last failure: 0 when nothing failed,
   * undefined when nothing succeeded after the last failure (not recovered).
   */
  recoveryMs: number | undefined;
}

export function failureLabel(o: Outcome): string {
  switch (o.result) {
    case 'status':
      return o.error ? `${o.status} (${o.error})` : String(o.status);
    case 'session-lost':
      return 'session lost';
    case 'reset':
      return o.reusedConnection ? `${o.error ?? 'reset'} on a reused connection` : (o.error ?? 'reset');
    default:
      return o.result;
  }
}

const within = (o: Outcome, w: FaultWindow) => o.sentAt >= w.from && o.sentAt < w.to;

export function summarise(outcomes: readonly Outcome[], kind: RequestKind, w: FaultWindow): KindSummary {
  const mine = outcomes.filter((o) => o.kind === kind && within(o, w));
  const failed: Record<string, number> = {};
  for (const o of mine) if (o.result !== 'ok') failed[failureLabel(o)] = (failed[failureLabel(o)] ?? 0) + 1;

  const successes = mine.filter((o) => o.result === 'ok').map((o) => o.endedAt).sort((a, b) => a - b);
  let longestGapMs = 0;
  let last = w.from;
  for (const at of [...successes, w.to]) {
    longestGapMs = Math.max(longestGapMs, at - last);
    last = Math.max(last, at);
  }

  const failures = mine.filter((o) => o.result !== 'ok');
  let recoveryMs: number | undefined = 0;
  if (failures.length > 0) {
    const lastFailure = Math.max(...failures.map((o) => o.endedAt));
    const firstAfter = successes.find((at) => at > lastFailure);
    recoveryMs = firstAfter === undefined ? undefined : Math.max(0, firstAfter - w.restoredAt);
  }
  return { requests: mine.length, ok: successes.length, failed, longestGapMs, recoveryMs };
}

export interface DrainSummary {
  /** Requests sent before the signal that were still in flight when it came. */
  inFlight: number;
  inFlightAnswered: number;
  /** First refused connection after the signal: the listener had closed. */
  listenerClosedAfterMs: number | undefined;
  /** Answered after the signal (the listener still open, or kept-alive connections finishing). */
  answeredAfterSignal: number;
  /**
   * Kept-alive connections closed while idle, caught by a request that was just being sent on one
   * (up to RACE_MS before the signal: written by the client, not yet read by the worker, which then
   * cannot tell it from an idle connection). The race every HTTP/1.1 server has when it closes an idle
   * connection; the client may retry such a request (RFC 9112 §9.3.1, RFC 9110 §9.2.2), and browsers
   * and load balancers do.
   */
  idleKeepAliveClosed: number;
  /**
   * Fresh connections reset as the listening socket closed: the kernel had completed their handshake
   * into the accept queue after the last accept(). Node closes the socket without draining that queue;
   * a client sees a reset where a moment later it would see a refusal (both are retried elsewhere).
   */
  resetInAcceptQueue: number;
  /** Anything else that was not an answer or a refused connection: a dropped request. */
  dropped: { label: string; sentAfterSignalMs: number }[];
}

/**
 * How close to the moment a reset counts as the race described above: a request that close to the
 * signal (or to the listener's close) was on its way, not yet received.
 */
export const RACE_MS = 50;

/**
 * A graceful shutdown (SIGTERM to the primary at `signalAt`): every request it accepted is answered,
 * and a request it did not accept is refused, never reset or left hanging. Looks at requests that
 * ended after the signal.
 */
export function summariseDrain(outcomes: readonly Outcome[], signalAt: number): DrainSummary {
  const after = outcomes.filter((o) => o.endedAt >= signalAt);
  const refused = after.filter((o) => o.result === 'refused').map((o) => o.endedAt);
  const closedAt = refused.length > 0 ? Math.min(...refused) : undefined;
  const dropped: DrainSummary['dropped'] = [];
  let idleKeepAliveClosed = 0;
  let resetInAcceptQueue = 0;
  let inFlight = 0;
  let inFlightAnswered = 0;
  for (const o of after) {
    if (o.result === 'reset' && o.reusedConnection && o.sentAt >= signalAt - RACE_MS) {
      idleKeepAliveClosed++;
      continue;
    }
    // The signal reaches the workers a few ms after it is sent: a connection made just before it can
    // still be in the queue when the listener closes.
    if (o.result === 'reset' && !o.reusedConnection && o.sentAt >= signalAt - RACE_MS && closedAt !== undefined && Math.abs(o.endedAt - closedAt) <= RACE_MS) {
      resetInAcceptQueue++;
      continue;
    }
    if (o.sentAt < signalAt) {
      inFlight++;
      if (o.result === 'ok') inFlightAnswered++;
    }
    if (o.result === 'ok' || o.result === 'refused') continue;
    dropped.push({ label: failureLabel(o), sentAfterSignalMs: o.sentAt - signalAt });
  }
  return {
    inFlight,
    inFlightAnswered,
    listenerClosedAfterMs: closedAt === undefined ? undefined : closedAt - signalAt,
    answeredAfterSignal: after.filter((o) => o.result === 'ok' && o.sentAt >= signalAt).length,
    idleKeepAliveClosed,
    resetInAcceptQueue,
    dropped,
  };
}

/** One fault's results, as the drill prints them and writes them with --json. */
export interface FaultResult {
  name: string;
  what: string;
  notes: string[];
  token: KindSummary;
  signin: KindSummary;
  witnesses: { checked: number; lost: number };
  logs: LogVolume;
  drain?: DrainSummary;
  /** Why this fault fails the drill; empty when it passed. */
  problems: string[];
}

export interface LogVolume {
  lines: number;
  /**
   * Info (and debug) lines about one request (they carry its reqId): its access line and events such
   * as "token issued" or "sign-in succeeded": what the traffic writes, healthy or not.
   */
  requestLines: number;
  /**
   * Every other line by pino's level name: what the fault made OpenFed say — an outage's lost / still
   * down / back, a worker's death — and any warning or error about a request, so a flood shows here.
   */
  byLevel: Record<string, number>;
  /** Those lines' messages at warn and above, with how often each was written: what to read first. */
  warnings: Record<string, number>;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** The lines OpenFed wrote (pino JSON; anything else, such as a crash's stack trace, counts as "other"). */
export function logVolume(text: string): LogVolume {
  const byLevel: Record<string, number> = {};
  let lines = 0;
  let requestLines = 0;
  const warnings: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    lines++;
    const level = /^\{"level":(\d+)/.exec(line)?.[1];
    if (level && Number(level) <= 30 && line.includes('"reqId":')) {
      requestLines++;
      continue;
    }
    const name = level ? (LEVELS[Number(level)] ?? `level ${level}`) : 'other';
    byLevel[name] = (byLevel[name] ?? 0) + 1;
    if (!level || Number(level) >= 40) {
      const msg = (/"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line).slice(0, 100);
      warnings[msg] = (warnings[msg] ?? 0) + 1;
    }
  }
  return { lines, requestLines, byLevel, warnings };
}
