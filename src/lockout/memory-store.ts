/**
 * Extranet-lockout state and the per-address throttle in this process's memory: one node, and lost
 * on restart. A farm keeps them in Redis (redis-store.ts) so every node counts the same attempts.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { systemClock, type Clock } from '../clock.js';
import type { LockoutState } from './policy.js';
import { ALLOWED, consumeAttempt, type AddressLimit, type LockoutStore, type ThrottleResult, type VersionedState } from './store.js';

interface MemoryEntry<V> {
  value: V;
  expiresAt: number;
}

/** Bound on users/aliases kept in memory; past it the oldest entry goes (a sprayer cannot fill the heap). */
const MAX_MEMORY_ENTRIES = 100_000;

export class MemoryLockoutStore implements LockoutStore {
  readonly kind = 'memory';
  private readonly users = new Map<string, MemoryEntry<VersionedState>>();
  private readonly aliases = new Map<string, MemoryEntry<string>>();
  private readonly limiter: RateLimiterMemory | undefined;
  private nextVersion = 1;

  constructor(limit: AddressLimit, private readonly clock: Clock = systemClock) {
    this.limiter = limit.attempts > 0 ? new RateLimiterMemory({ points: limit.attempts, duration: limit.windowSeconds }) : undefined;
  }

  async get(user: string): Promise<VersionedState | undefined> {
    const entry = live(this.users, user, this.clock.now());
    return entry && { state: structuredClone(entry.state), version: entry.version };
  }

  async compareAndSet(user: string, expectedVersion: number, state: LockoutState, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    const current = live(this.users, user, now);
    if ((current?.version ?? 0) !== expectedVersion) return false;
    put(this.users, user, { state: structuredClone(state), version: this.nextVersion++ }, now + ttlMs);
    return true;
  }

  async delete(user: string): Promise<boolean> {
    const existed = live(this.users, user, this.clock.now()) !== undefined;
    this.users.delete(user);
    return existed;
  }

  async getAlias(name: string): Promise<string | undefined> {
    return live(this.aliases, name, this.clock.now());
  }

  async setAlias(name: string, user: string, ttlMs: number): Promise<void> {
    put(this.aliases, name, user, this.clock.now() + ttlMs);
  }

  consumeAddress(ip: string): Promise<ThrottleResult> {
    return this.limiter ? consumeAttempt(this.limiter, ip) : Promise.resolve(ALLOWED);
  }
}

function live<V>(map: Map<string, MemoryEntry<V>>, key: string, now: number): V | undefined {
  const entry = map.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return entry.value;
}

function put<V>(map: Map<string, MemoryEntry<V>>, key: string, value: V, expiresAt: number): void {
  map.delete(key); // re-insert: a Map iterates in insertion order, so the first key is the oldest
  if (map.size >= MAX_MEMORY_ENTRIES) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, { value, expiresAt });
}
