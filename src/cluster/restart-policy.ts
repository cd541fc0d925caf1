/**
 * When a worker dies: restart it after a growing delay, and give up when deaths come so fast that
 * restarting is only spinning (a crash at start-up, a poisoned dependency). Pure, on an injected clock.
 */
import type { Clock } from '../clock.js';

export interface RestartPolicyOptions {
  /** More deaths than this within windowMs stop the farm. */
  maxDeaths: number;
  windowMs: number;
  /** Delay before the first restart; doubles with each further death in the window. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export type RestartDecision = { restart: true; delayMs: number; recentDeaths: number } | { restart: false; recentDeaths: number };

/** One death every few minutes is restarted at once, forever; a crash loop stops within a minute. */
export function defaultRestartPolicy(workers: number): RestartPolicyOptions {
  // Scaled by the farm size: a bad request killing workers one by one on a 32-core box is not a loop.
  return { maxDeaths: Math.max(5, 2 * workers), windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 5_000 };
}

export class RestartPolicy {
  private deaths: number[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly options: RestartPolicyOptions,
  ) {}

  /** A worker died without being asked to. */
  onDeath(): RestartDecision {
    const now = this.clock.now();
    this.deaths = this.deaths.filter((at) => now - at < this.options.windowMs);
    this.deaths.push(now);
    const recentDeaths = this.deaths.length;
    if (recentDeaths > this.options.maxDeaths) return { restart: false, recentDeaths };
    const delayMs = Math.min(this.options.baseDelayMs * 2 ** (recentDeaths - 1), this.options.maxDelayMs);
    return { restart: true, delayMs, recentDeaths };
  }
}
