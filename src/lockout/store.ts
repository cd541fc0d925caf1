/**
 * What the lockout guard needs from a store. Implementations (memory, Redis) live in
 * sessions/lockout-store.ts, the only code that talks to Redis.
 */
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
