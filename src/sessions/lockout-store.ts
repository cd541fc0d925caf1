/**
 * Extranet-lockout state (per user) and the per-address sign-in throttle, in memory for one node
 * or in Redis for a farm (state then survives restarts and is shared by every node).
 *
 * Redis keys (under config.keyPrefix):
 *   lockout:user:<user>    hash v (version), u (unknown bad count), f (familiar bad count),
 *                          t (last bad, epoch ms), ips (JSON [{ip, lastSuccessAt}]); expires
 *                          familiarLocationDays (at least the observation window) after its last change
 *   lockout:alias:<name>   typed login name -> user key, expiring
 *   lockout:addr:<ip>      rate-limiter-flexible's counter for one address
 * Writes are compare-and-set on the version, in one Lua script, so the policy stays in TypeScript
 * (lockout/policy.ts) and two nodes updating one user cannot lose a count. Every command and script
 * here touches one key, so the layout needs no hash tags to work on Redis Cluster.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { systemClock, type Clock } from '../clock.js';
import type { FamiliarIp, LockoutState } from '../lockout/policy.js';
import type { LockoutStore, ThrottleResult, VersionedState } from '../lockout/store.js';
import { luaScript, runLua, type RedisConnection } from './redis.js';

export interface AddressLimit {
  /** Sign-in attempts allowed per address per window; 0 turns the throttle off. */
  attempts: number;
  windowSeconds: number;
}

async function consume(limiter: RateLimiterAbstract, ip: string): Promise<ThrottleResult> {
  try {
    await limiter.consume(ip);
    return { allowed: true, retryAfterSeconds: 0 };
  } catch (rejection) {
    // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, with an Error when the store fails.
    if (rejection instanceof RateLimiterRes) {
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
    }
    throw rejection;
  }
}

const ALLOWED: ThrottleResult = { allowed: true, retryAfterSeconds: 0 };

// ---------------------------------------------------------------------------------------------

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
    return this.limiter ? consume(this.limiter, ip) : Promise.resolve(ALLOWED);
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

// ---------------------------------------------------------------------------------------------

/** KEYS[1] user hash. ARGV: expected version, TTL ms, u, f, t, ips JSON. Returns 1 when written. */
const COMPARE_AND_SET = luaScript(
  1,
  `
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', version + 1, 'u', ARGV[3], 'f', ARGV[4], 't', ARGV[5], 'ips', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
);

export class RedisLockoutStore implements LockoutStore {
  readonly kind = 'redis';
  private readonly userPrefix: string;
  private readonly aliasPrefix: string;
  /** Undefined when the per-address limit is off. */
  private readonly limiter: RateLimiterRedis | undefined;

  constructor(
    private readonly connection: RedisConnection,
    limit: AddressLimit,
  ) {
    this.userPrefix = `${connection.keyPrefix}lockout:user:`;
    this.aliasPrefix = `${connection.keyPrefix}lockout:alias:`;
    // Made with the store: the limiter defines its Lua command on the client as it is constructed.
    this.limiter =
      limit.attempts > 0
        ? connection.prepare(
            (client) =>
              new RateLimiterRedis({ storeClient: client, keyPrefix: `${connection.keyPrefix}lockout:addr`, points: limit.attempts, duration: limit.windowSeconds }),
          )
        : undefined;
  }

  async get(user: string): Promise<VersionedState | undefined> {
    const hash = await this.connection.run('read lockout state', (c) => c.hgetall(this.userPrefix + user));
    return decodeState(hash);
  }

  async compareAndSet(user: string, expectedVersion: number, state: LockoutState, ttlMs: number): Promise<boolean> {
    const written = await this.connection.run('write lockout state', (c) =>
      runLua(c, COMPARE_AND_SET, this.userPrefix + user,
        expectedVersion,
        Math.max(1, Math.ceil(ttlMs)),
        state.unknownBadCount,
        state.familiarBadCount,
        state.lastBadAt,
        JSON.stringify(state.familiarIps),
      ),
    );
    return written === 1;
  }

  async delete(user: string): Promise<boolean> {
    return (await this.connection.run('reset lockout state', (c) => c.del(this.userPrefix + user))) > 0;
  }

  async getAlias(name: string): Promise<string | undefined> {
    return (await this.connection.run('read lockout alias', (c) => c.get(this.aliasPrefix + name))) ?? undefined;
  }

  async setAlias(name: string, user: string, ttlMs: number): Promise<void> {
    await this.connection.run('write lockout alias', (c) => c.set(this.aliasPrefix + name, user, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async consumeAddress(ip: string): Promise<ThrottleResult> {
    const limiter = this.limiter;
    if (!limiter) return ALLOWED;
    // Through run(): the connection's failure policy (fail fast, 503) applies to the limiter too.
    return this.connection.run('throttle sign-in address', () => consume(limiter, ip));
  }
}

function decodeState(hash: Record<string, string>): VersionedState | undefined {
  const version = Number(hash.v);
  if (!Number.isInteger(version) || version <= 0) return undefined;
  const count = (v: string | undefined) => {
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
  };
  let familiarIps: FamiliarIp[] = [];
  try {
    const parsed: unknown = JSON.parse(hash.ips ?? '[]');
    if (Array.isArray(parsed)) {
      familiarIps = parsed.filter(
        (f): f is FamiliarIp => typeof f === 'object' && f !== null && typeof f.ip === 'string' && typeof f.lastSuccessAt === 'number',
      );
    }
  } catch {
    // a damaged list only costs the user their familiar addresses
  }
  return {
    version,
    state: { unknownBadCount: count(hash.u), familiarBadCount: count(hash.f), lastBadAt: count(hash.t), familiarIps },
  };
}
