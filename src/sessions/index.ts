/**
 * Picks the session backend from configuration: Redis when configured (standalone, Sentinel or
 * Cluster; required for more than one node), otherwise memory.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LockoutStore } from '../lockout/store.js';
import { MemoryLockoutStore, RedisLockoutStore } from './lockout-store.js';
import { MemoryPendingStore, MemoryReplayCache, MemorySessionStore } from './memory.js';
import { RedisConnection, RedisPendingStore, RedisReplayCache, RedisSessionStore } from './redis.js';
import type { PendingStore, ReplayCache, SessionStore } from './types.js';

export { StoreUnavailableError } from './types.js';
export type { AuthMethod, PendingRequest, PendingStore, ReplayCache, SessionRecord, SessionStore } from './types.js';

export interface Stores {
  sessions: SessionStore;
  pending: PendingStore;
  replay: ReplayCache;
  /** Extranet-lockout state and the per-address sign-in throttle (lockout/). */
  lockout: LockoutStore;
  /** Releases the backend (the Redis connection); idempotent. */
  close(): Promise<void>;
}

export function createStores(config: Config, logger: Logger, clock: Clock = systemClock): Stores {
  const redis = config.sessions.redis;
  if (redis) {
    // One connection for all stores: they fail and recover together, as the user sees them. The
    // session store checks at construction that its key layout suits a Redis Cluster.
    const connection = new RedisConnection(redis, logger);
    return {
      sessions: new RedisSessionStore(connection, logger, clock),
      pending: new RedisPendingStore(connection),
      replay: new RedisReplayCache(connection),
      lockout: new RedisLockoutStore(connection, config.lockout.perAddress),
      close: () => connection.close(),
    };
  }

  logger.warn(
    { component: 'sessions' },
    'Sessions are kept in memory: they are not shared between nodes and are lost on restart. ' +
      'Configure sessions.redis for more than one node.',
  );
  const sessions = new MemorySessionStore({ clock, logger });
  return {
    sessions,
    pending: new MemoryPendingStore({ clock, logger }),
    replay: new MemoryReplayCache({ clock, logger }),
    lockout: new MemoryLockoutStore(config.lockout.perAddress, clock),
    close: () => sessions.close(),
  };
}

/** When a session created at `now` ends, from sessions.lifetimeMinutes. */
export function sessionExpiresAt(sessionsConfig: Pick<Config['sessions'], 'lifetimeMinutes'>, now: number): number {
  return now + sessionsConfig.lifetimeMinutes * 60_000;
}
