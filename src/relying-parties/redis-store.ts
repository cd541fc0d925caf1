/**
 * Relying parties added with `openfed rp add`, and fetched SP metadata copies, in Redis: every node of
 * a farm sees the same registrations and uses the same metadata copy instead of fetching its own.
 * store.ts holds the interface, the file store used without Redis, and openRelyingPartyStore, which
 * picks this class; so this file does not import store.ts back (that would be an import cycle), and
 * the factory's return type is what checks that the class fits RelyingPartyStore.
 *
 * Keys (under config.keyPrefix), one hash tag so the scripts and transactions below touch one slot:
 *   {rp}:reg         hash id (entityID or realm) → registration JSON
 *   {rp}:md          hash entityID → metadata copy JSON (the document, when and where it was fetched)
 *   {rp}:ver         counter, INCRemented by every write; nodes poll it
 *   {rp}:fetch:<h>   short-lived claim (SET NX PX) of the node fetching one SP's metadata (h = SHA-256 of the entityID)
 */
import { createHash } from 'node:crypto';
import type { RedisConnection } from '../redis/connection.js';
import { luaScript, runLua } from '../redis/scripts.js';

/** KEYS: reg, md, ver. ARGV: id, registration[, metadata copy]. 0 when the id is taken. */
const ADD = luaScript(
  3,
  `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) else redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('INCR', KEYS[3])
return 1
`,
);

/** KEYS: reg, md, ver. ARGV: id. */
const REMOVE = luaScript(
  3,
  `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
`,
);

/** store.ts's StoreSnapshot, spelt out here (see the header). */
interface Snapshot {
  version: number;
  registrations: Map<string, string>;
  metadata: Map<string, string>;
}

export class RedisRelyingPartyStore {
  readonly kind = 'redis';
  readonly #connection: RedisConnection;
  readonly #ownsConnection: boolean;
  readonly #reg: string;
  readonly #md: string;
  readonly #ver: string;
  readonly #fetch: string;

  /**
   * `ownsConnection`: the store was given a connection opened just for it (a one-off command) and
   * closes it with itself; a server's shared connection is closed by the server.
   */
  constructor(connection: RedisConnection, { ownsConnection = false }: { ownsConnection?: boolean } = {}) {
    connection.requireScripts(ADD, REMOVE);
    this.#connection = connection;
    this.#ownsConnection = ownsConnection;
    const base = `${connection.keyPrefix}{rp}:`;
    this.#reg = `${base}reg`;
    this.#md = `${base}md`;
    this.#ver = `${base}ver`;
    this.#fetch = `${base}fetch:`;
  }

  async version(): Promise<number> {
    const value = await this.#connection.run('read relying-party version', (c) => c.get(this.#ver));
    return Number(value ?? 0);
  }

  async snapshot(): Promise<Snapshot> {
    const replies = await this.#connection.run('read relying parties', (c) => c.multi().get(this.#ver).hgetall(this.#reg).hgetall(this.#md).exec());
    if (!replies) throw new Error('relying-party snapshot aborted');
    for (const [error] of replies) if (error) throw error;
    const [version, registrations, metadata] = replies.map(([, value]) => value) as [string | null, Record<string, string>, Record<string, string>];
    return {
      version: Number(version ?? 0),
      registrations: new Map(Object.entries(registrations)),
      metadata: new Map(Object.entries(metadata)),
    };
  }

  async addRegistration(id: string, encoded: string, metadata?: string): Promise<boolean> {
    const added = await this.#connection.run('add relying party', (c) =>
      runLua(c, ADD, this.#reg, this.#md, this.#ver, id, encoded, ...(metadata !== undefined ? [metadata] : [])),
    );
    return added === 1;
  }

  async removeRegistration(id: string): Promise<boolean> {
    const removed = await this.#connection.run('remove relying party', (c) => runLua(c, REMOVE, this.#reg, this.#md, this.#ver, id));
    return removed === 1;
  }

  async putMetadata(entityId: string, encoded: string): Promise<void> {
    await this.#connection.run('store SP metadata', async (c) => {
      const replies = await c.multi().hset(this.#md, entityId, encoded).incr(this.#ver).exec();
      for (const [error] of replies ?? []) if (error) throw error;
    });
  }

  async claimFetch(entityId: string, ttlMs: number): Promise<boolean> {
    const key = this.#fetch + createHash('sha256').update(entityId).digest('base64url');
    const claimed = await this.#connection.run('claim SP metadata fetch', (c) => c.set(key, '1', 'PX', Math.ceil(ttlMs), 'NX'));
    return claimed === 'OK';
  }

  async close(): Promise<void> {
    if (this.#ownsConnection) await this.#connection.close();
  }
}
