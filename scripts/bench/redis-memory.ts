/**
 * Redis memory per SSO session: the INFO used_memory delta over N new sessions, and MEMORY USAGE of
 * the keys they added (sess:<id>, plus each session's share of the user's index set).
 */
import { Redis } from 'ioredis';

/** One numeric field of an INFO reply; undefined when this Redis version does not report it. */
export function infoField(info: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
}

/**
 * used_memory less what grows with traffic rather than with stored data: the replication buffer
 * (the backlog fills up to repl-backlog-size with every write, replicas or not) and client buffers.
 */
export function dataMemory(info: string): number {
  const used = infoField(info, 'used_memory');
  if (used === undefined) throw new Error('INFO memory has no used_memory');
  return used - (infoField(info, 'mem_total_replication_buffers') ?? 0) - (infoField(info, 'mem_clients_normal') ?? 0);
}

export interface SessionMemory {
  sessions: number;
  /** INFO used_memory delta (less replication and client buffers, and other new keys such as replay-cache entries) ÷ new sessions */
  infoBytesPerSession: number;
  /** MEMORY USAGE of new keys that are not session state, ÷ new sessions (left out of infoBytesPerSession) */
  otherBytesPerSession: number;
  /** mean MEMORY USAGE of a new sess:<id> key */
  sessionKeyBytes: number;
  /** MEMORY USAGE of the user index sets ÷ their members */
  userIndexBytesPerSession: number;
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Runs `makeSessions` (which signs in N times) and measures what the new sessions take. */
export async function measureSessionMemory(redisUrl: string, keyPrefix: string, makeSessions: () => Promise<void>): Promise<SessionMemory> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const usage = async (key: string) => Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const existing = new Set(await scanKeys(redis, `${keyPrefix}*`));
    const before = dataMemory(await redis.info('memory'));
    await makeSessions();
    const after = dataMemory(await redis.info('memory'));
    const added = (await scanKeys(redis, `${keyPrefix}*`)).filter((k) => !existing.has(k));
    const fresh = added.filter((k) => k.startsWith(`${keyPrefix}sess:`));
    if (fresh.length === 0) throw new Error(`no new ${keyPrefix}sess:* keys in Redis after signing in: the key layout changed?`);
    let sessionBytes = 0;
    for (const key of fresh) sessionBytes += await usage(key);
    // Each token request also leaves a replay-cache entry: that is the request's cost, not the session's.
    let otherBytes = 0;
    for (const key of added) if (!key.startsWith(`${keyPrefix}sess:`) && !key.startsWith(`${keyPrefix}user:`)) otherBytes += await usage(key);
    let indexBytes = 0;
    let indexMembers = 0;
    for (const key of await scanKeys(redis, `${keyPrefix}user:*`)) {
      indexBytes += await usage(key);
      indexMembers += await redis.scard(key);
    }
    return {
      sessions: fresh.length,
      infoBytesPerSession: (after - before - otherBytes) / fresh.length,
      otherBytesPerSession: otherBytes / fresh.length,
      sessionKeyBytes: sessionBytes / fresh.length,
      userIndexBytesPerSession: indexMembers > 0 ? indexBytes / indexMembers : 0,
    };
  } finally {
    redis.disconnect();
  }
}
