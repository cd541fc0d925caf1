/**
 * MFA state in Redis, on the process's one connection (redis/connection.ts opens it; this store never
 * closes one it was handed), shared by every node of a farm.
 *
 * Keys (under config.keyPrefix), one per command or script, so no hash tags are needed on a Cluster:
 *   mfa:user:<user>      hash v (version), doc (the enrolment as JSON); no expiry
 *   mfa:pending:<user>   the pending enrolment as JSON, expiring
 *   mfa:wrong:<user>     the wrong-code count, expiring at the end of the window its first code began
 * The enrolment is written compare-and-set on its version, in one Lua script, so two nodes accepting
 * the same recovery code at once cannot both succeed.
 */
import type { RedisConnection } from '../redis/connection.js';
import { luaScript, runLua } from '../redis/scripts.js';
import { NO_WRONG_CODES, parseEnrolment, parsePending, type MfaEnrolment, type MfaStore, type PendingEnrolment, type VersionedEnrolment, type WrongCodeCount } from './types.js';

/** KEYS[1] the user hash. ARGV: expected version, document. 1 when written. */
const COMPARE_AND_SET = luaScript(
  1,
  `
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', version + 1, 'doc', ARGV[2])
return 1
`,
);

/** KEYS[1] the counter. ARGV: window ms. The first count starts the window. Returns {count, pttl}. */
const ADD_WRONG_CODE = luaScript(
  1,
  `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
`,
);

export class RedisMfaStore implements MfaStore {
  readonly kind = 'redis';
  private readonly userPrefix: string;
  private readonly pendingPrefix: string;
  private readonly wrongPrefix: string;
  private readonly ownsConnection: boolean;

  /**
   * `ownsConnection`: the connection was opened just for this store (a one-off command) and closes
   * with it; a server's shared connection is closed by the server.
   */
  constructor(
    private readonly connection: RedisConnection,
    { ownsConnection = false }: { ownsConnection?: boolean } = {},
  ) {
    connection.requireScripts(COMPARE_AND_SET, ADD_WRONG_CODE);
    this.userPrefix = `${connection.keyPrefix}mfa:user:`;
    this.pendingPrefix = `${connection.keyPrefix}mfa:pending:`;
    this.wrongPrefix = `${connection.keyPrefix}mfa:wrong:`;
    this.ownsConnection = ownsConnection;
  }

  async get(user: string): Promise<VersionedEnrolment | undefined> {
    const [version, doc] = await this.connection.run('read second factor', (c) => c.hmget(this.userPrefix + user, 'v', 'doc'));
    if (version === null || version === undefined || doc === null || doc === undefined) return undefined;
    return { enrolment: parseEnrolment(user, doc), version: Number(version) };
  }

  async compareAndSet(user: string, expectedVersion: number, enrolment: MfaEnrolment): Promise<boolean> {
    const written = await this.connection.run('write second factor', (c) =>
      runLua(c, COMPARE_AND_SET, this.userPrefix + user, expectedVersion, JSON.stringify(enrolment)),
    );
    return written === 1;
  }

  async delete(user: string): Promise<boolean> {
    return (await this.connection.run('reset second factor', (c) => c.del(this.userPrefix + user))) > 0;
  }

  async getPending(user: string): Promise<PendingEnrolment | undefined> {
    const json = await this.connection.run('read pending enrolment', (c) => c.get(this.pendingPrefix + user));
    return json === null ? undefined : parsePending(user, json);
  }

  async putPending(user: string, pending: PendingEnrolment, ttlMs: number): Promise<void> {
    await this.connection.run('write pending enrolment', (c) =>
      c.set(this.pendingPrefix + user, JSON.stringify(pending), 'PX', Math.max(1, Math.ceil(ttlMs))),
    );
  }

  async deletePending(user: string): Promise<void> {
    await this.connection.run('delete pending enrolment', (c) => c.del(this.pendingPrefix + user));
  }

  async wrongCodes(user: string): Promise<WrongCodeCount> {
    const key = this.wrongPrefix + user;
    const [count, ttl] = await this.connection.run('read wrong codes', (c) => Promise.all([c.get(key), c.pttl(key)]));
    const n = Number(count);
    return count !== null && n > 0 && ttl > 0 ? { count: n, ttlMs: ttl } : NO_WRONG_CODES;
  }

  async addWrongCode(user: string, windowMs: number): Promise<WrongCodeCount> {
    const reply = await this.connection.run('count wrong code', (c) => runLua(c, ADD_WRONG_CODE, this.wrongPrefix + user, Math.max(1, Math.ceil(windowMs))));
    const [count, ttl] = reply as [number, number];
    return { count, ttlMs: Math.max(0, ttl) };
  }

  async clearWrongCodes(user: string): Promise<void> {
    await this.connection.run('clear wrong codes', (c) => c.del(this.wrongPrefix + user));
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}
