/**
 * The managed token-signing key set in Redis, on the process's Redis connection, so every node of a
 * farm signs with the same primary and publishes the same certificates (without Redis: store.ts's
 * FileKeySetStore, one host). One hash holds the document and its version counter; nodes
 * poll the counter (HGET, a few bytes) and read the document only when it moved. Private keys in
 * the document are always encrypted (keys/encryption.ts) before they get here.
 *
 * Key: <keyPrefix>keyset, fields `version` and `doc`. One key, so it needs no hash tag on a cluster.
 */
import type { RedisConnection } from '../redis/connection.js';
import { luaScript, runLua } from '../redis/scripts.js';
import { serializeKeySet, type StoredKeySet } from './key-set.js';
import type { KeySetStore, StoredKeySetText } from './store.js';

/** KEYS[1] the hash. ARGV: version, document. 0 when a set exists already (another node was first). */
const CREATE = luaScript(
  1,
  `
if redis.call('HSETNX', KEYS[1], 'version', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2])
return 1
`,
);

/** KEYS[1] the hash. ARGV: expected version, new version, document. 0 when someone changed it first. */
const REPLACE = luaScript(
  1,
  `
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'doc', ARGV[3])
return 1
`,
);

export class RedisKeySetStore implements KeySetStore {
  readonly kind = 'redis';
  readonly location = 'Redis';
  private readonly key: string;
  private readonly ownsConnection: boolean;

  /**
   * `ownsConnection`: the store was given a connection opened just for it (a one-off command) and
   * closes it with itself; a server's shared connection is closed by the server.
   */
  constructor(
    private readonly connection: RedisConnection,
    { ownsConnection = false }: { ownsConnection?: boolean } = {},
  ) {
    connection.requireScripts(CREATE, REPLACE);
    this.key = `${connection.keyPrefix}keyset`;
    this.ownsConnection = ownsConnection;
  }

  async version(): Promise<number | undefined> {
    const version = await this.connection.run('read key set version', (c) => c.hget(this.key, 'version'));
    return version === null ? undefined : Number(version);
  }

  async read(): Promise<StoredKeySetText | undefined> {
    const [version, json] = await this.connection.run('read key set', (c) => c.hmget(this.key, 'version', 'doc'));
    if (version === null || version === undefined || json === null || json === undefined) return undefined;
    return { version: Number(version), json };
  }

  async create(set: StoredKeySet): Promise<boolean> {
    const created = await this.connection.run('create key set', (c) => runLua(c, CREATE, this.key, set.version, serializeKeySet(set)));
    return created === 1;
  }

  async replace(expectedVersion: number, set: StoredKeySet): Promise<boolean> {
    const replaced = await this.connection.run('update key set', (c) =>
      runLua(c, REPLACE, this.key, String(expectedVersion), set.version, serializeKeySet(set)),
    );
    return replaced === 1;
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}
