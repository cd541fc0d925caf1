/**
 * The second factor's store, opened like the other features' stores: Redis when sessions.redis is
 * set (every node sees every enrolment), else one file per user under `<dataDir>/mfa` (one node).
 */
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { openRedis, type RedisConnection } from '../redis/connection.js';
import { FileMfaStore } from './file-store.js';
import { RedisMfaStore } from './redis-store.js';
import type { MfaStore } from './types.js';

/**
 * `redis`: the process's shared connection (server.ts); without one, a command given a config with
 * sessions.redis opens its own, which the store closes with itself.
 */
export function openMfaStore(config: Pick<Config, 'dataDir' | 'sessions'>, logger: Logger, redis?: RedisConnection, clock: Clock = systemClock): MfaStore {
  if (redis) return new RedisMfaStore(redis);
  if (config.sessions.redis) return new RedisMfaStore(openRedis(config.sessions.redis, logger), { ownsConnection: true });
  return new FileMfaStore(join(config.dataDir, 'mfa'), clock);
}


/**
 * The secret second-factor secrets are sealed with: keys.encryptionSecret, which every node of a
 * farm shares already. Without it there is no second factor: a secret kept beside the data it
 * protects would protect nothing, and each node would make its own.
 */
export function mfaEncryptionSecret(config: Pick<Config, 'keys'>): string {
  const secret = config.keys.encryptionSecret;
  if (secret === undefined) {
    throw new ConfigError('the second factor (MFA) needs keys.encryptionSecret (prefer OPENFED_KEY_ENCRYPTION_SECRET): its secrets are encrypted with it');
  }
  return secret;
}
