/**
 * What the lockout guard needs from a store: extranet-lockout state per user and the per-address
 * sign-in throttle. Implementations beside it: memory-store.ts (one node) and redis-store.ts (a farm,
 * on the process's Redis connection).
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { LockoutState } from './policy.js';

export interface VersionedState {
  state: LockoutState;
  /** Changes on every write; 0 means "no record". */
  version: number;
}

export interface ThrottleResult {
  allowed: boolean;
  /** When not allowed: seconds until the address may try again. */
  retryAfterSeconds: number;
}

export interface LockoutStore {
  readonly kind: 'memory' | 'redis';
  /** The user's state, or undefined when there is none (never seen, reset, or expired). */
  get(user: string): Promise<VersionedState | undefined>;
  /**
   * Writes `state` only if the stored version is still `expectedVersion` (0 = no record), and keeps
   * it for ttlMs. false when someone else wrote first: read again and retry.
   */
  compareAndSet(user: string, expectedVersion: number, state: LockoutState, ttlMs: number): Promise<boolean>;
  /** Forgets the user's state (admin reset); true when there was one. */
  delete(user: string): Promise<boolean>;
  /** typed login name (lowercased) -> the user key it resolved to, cached so names are resolved once. */
  getAlias(name: string): Promise<string | undefined>;
  setAlias(name: string, user: string, ttlMs: number): Promise<void>;
  /** Counts one sign-in attempt from `ip` against the per-address limit. */
  consumeAddress(ip: string): Promise<ThrottleResult>;
}

/** lockout.perAddress: how the throttle of either store is sized. */
export interface AddressLimit {
  /** Sign-in attempts allowed per address per window; 0 turns the throttle off. */
  attempts: number;
  windowSeconds: number;
}

export const ALLOWED: ThrottleResult = { allowed: true, retryAfterSeconds: 0 };

/** One attempt against a rate-limiter-flexible limiter, whichever store keeps its counters. */
export async function consumeAttempt(limiter: RateLimiterAbstract, ip: string): Promise<ThrottleResult> {
  try {
    await limiter.consume(ip);
    return ALLOWED;
  } catch (rejection) {
    // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, with an Error when the store fails.
    if (rejection instanceof RateLimiterRes) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
    }
    throw rejection;
  }
}
