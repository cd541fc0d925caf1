/**
 * The session stores (sessions, pending requests, replay cache) on the process's Redis connection
 * when there is one (standalone, Sentinel or Cluster; required for more than one node), otherwise in
 * memory. Other features keep their own stores beside them (lockout/, relying-parties/, keys/); only
 * redis/ opens connections.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { RedisConnection } from '../redis/connection.js';
import { MemoryPendingStore, MemoryReplayCache, MemorySessionStore } from './memory.js';
import { RedisPendingStore, RedisReplayCache, RedisSessionStore } from './redis-store.js';
import type { PendingStore, ReplayCache, SessionStore } from './types.js';

export type { AuthMethod, PendingRequest, PendingStore, ReplayCache, SessionRecord, SessionStore } from './types.js';

export interface SessionStores {
  sessions: SessionStore;
  pending: PendingStore;
  replay: ReplayCache;
  /** Stops the memory stores' sweeping; idempotent. A Redis connection is closed by whoever opened it. */
  close(): Promise<void>;
}

/** `redis`: the process's connection (redis/connection.ts: openRedis), undefined for memory. */
export function createSessionStores(redis: RedisConnection | undefined, logger: Logger, clock: Clock = systemClock): SessionStores {
  if (redis) {
    // The session store checks at construction that its key layout suits a Redis Cluster.
    const sessions = new RedisSessionStore(redis, logger, clock);
    return {
      sessions,
      pending: new RedisPendingStore(redis),
      replay: new RedisReplayCache(redis),
      close: () => sessions.close(),
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
    close: () => sessions.close(),
  };
}

/** When a session created at `now` ends, from sessions.lifetimeMinutes. */
export function sessionExpiresAt(sessionsConfig: Pick<Config['sessions'], 'lifetimeMinutes'>, now: number): number {
  return now + sessionsConfig.lifetimeMinutes * 60_000;
}
