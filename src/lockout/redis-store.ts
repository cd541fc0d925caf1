/**
 * Extranet-lockout state (per user) and the per-address sign-in throttle in Redis, on the process's
 * one connection (redis/connection.ts opens it; this store never closes it): state survives restarts
 * and is shared by every node of a farm. One node without Redis uses memory-store.ts.
 *
 * Redis keys (under config.keyPrefix):
 *   lockout:user:<user>    hash v (version), u (unknown bad count), f (familiar bad count),
 *                          t (last bad, epoch ms), ips (JSON [{ip, lastSuccessAt}]); expires
 *                          familiarLocationDays (at least the observation window) after its last change
 *   lockout:alias:<name>   typed login name -> user key, expiring
 *   lockout:addr:<ip>      rate-limiter-flexible's counter for one address
 * Writes are compare-and-set on the version, in one Lua script, so the policy stays in TypeScript
 * (policy.ts) and two nodes updating one user cannot lose a count. Every command and script here
 * touches one key, so the layout needs no hash tags to work on Redis Cluster.
 */
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RedisConnection } from '../redis/connection.js';
import { luaScript, runLua } from '../redis/scripts.js';
import type { FamiliarIp, LockoutState } from './policy.js';
import { ALLOWED, consumeAttempt, type AddressLimit, type LockoutStore, type ThrottleResult, type VersionedState } from './store.js';

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
    connection.requireScripts(COMPARE_AND_SET);
    this.userPrefix = `${connection.keyPrefix}lockout:user:`;
    this.aliasPrefix = `${connection.keyPrefix}lockout:alias:`;
    // Made with the store, at start: the limiter defines its Lua command on the shared client as it is
    // constructed, and defined during sign-ins it would break an open auto-pipeline (redis/scripts.ts).
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
    return this.connection.run('throttle sign-in address', () => consumeAttempt(limiter, ip));
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
