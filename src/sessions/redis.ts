/**
 * Sessions and pending requests in Redis, shared by every node of a farm. The only module that
 * imports ioredis.
 *
 * Keys (all under config.keyPrefix):
 *   sess:<id>    the SessionRecord as compact JSON, expiring (PX) with the session
 *   user:<upn>   set of that user's session ids, for admin revoke; may briefly hold ids of
 *                sessions already gone (destroyed or expired): readers tolerate that and every
 *                create() prunes them, and the set itself expires with the user's last session
 *   pend:<id>    a PendingRequest as JSON, expiring with its TTL
 *   replay:<h>   a seen message id (SHA-256 of issuer + id), expiring with the replay window
 *
 * When Redis is unreachable every operation fails fast with StoreUnavailableError (the page
 * answers 503) while the client keeps reconnecting in the background, so the node heals by itself.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import type { Principal } from '../directory/types.js';
import type { RedisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { isWellFormedId, newId, replayKeyDigest } from './ids.js';
import {
  StoreUnavailableError,
  type PendingRequest,
  type PendingStore,
  type ReplayCache,
  type SessionRecord,
  type SessionStore,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Connection

/** Reconnect backoff: 100 ms doubling to this cap, forever. Small, so recovery is quick. */
const MAX_RECONNECT_DELAY_MS = 2000;

type ConnectionState = 'starting' | 'up' | 'down';

/**
 * One ioredis client shared by the session and pending stores, with the failure policy in one
 * place: no offline queue (a request must not wait for a Redis that may never come back), a
 * command timeout, endless capped reconnects, and connection loss/recovery logged once each.
 */
export class RedisConnection {
  readonly keyPrefix: string;
  private readonly client: Redis;
  private readonly logger: Logger;
  private readonly connectTimeoutMs: number;
  private readonly secret: string | undefined;
  private state: ConnectionState = 'starting';
  private downSince = 0;
  private readyWaiter: Promise<void> | undefined;
  private closed: Promise<void> | undefined;

  constructor(config: RedisConfig, logger: Logger) {
    const url = new URL(config.url);
    // Log where we connect, never the URL itself: it may carry a password.
    this.logger = logger.child({ component: 'sessions', redis: `${url.hostname}:${url.port || 6379}` });
    this.secret = url.password ? decodeURIComponent(url.password) : undefined;
    this.keyPrefix = config.keyPrefix;
    this.connectTimeoutMs = config.connectTimeoutMs;

    const options: RedisOptions = {
      enableOfflineQueue: false,
      // Commands in flight when the socket drops are retried once after reconnecting, then failed;
      // the command timeout bounds the wait either way.
      maxRetriesPerRequest: 1,
      connectTimeout: config.connectTimeoutMs,
      commandTimeout: config.commandTimeoutMs,
      retryStrategy: (attempt) =>
        Math.min(100 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
      // After a failover the old primary answers READONLY: reconnect to find the new one.
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
      // Connect at boot, so a wrong URL or password shows in the log before the first sign-in.
      lazyConnect: false,
    };
    this.client = new Redis(config.url, options);

    // Without an 'error' listener ioredis reports every failed reconnect on stderr.
    this.client.on('error', (err: Error) => this.markDown(err));
    this.client.on('close', () => this.markDown());
    this.client.on('ready', () => this.markUp());
  }

  /**
   * Runs commands, turning every failure (not connected, timeout, error reply) into
   * StoreUnavailableError. `operation` names what failed, for the logs.
   */
  async run<T>(operation: string, command: (client: Redis) => Promise<T>): Promise<T> {
    try {
      await this.whenReady();
      return await command(this.client);
    } catch (err) {
      throw new StoreUnavailableError(`Session store (Redis) unavailable: ${operation} failed`, {
        cause: err,
      });
    }
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    const started = performance.now();
    try {
      await this.run('ping', (c) => c.ping());
      return { ok: true, detail: `redis ok (${Math.round(performance.now() - started)} ms)` };
    } catch (err) {
      return { ok: false, detail: `redis unavailable: ${this.describe(rootCause(err))}` };
    }
  }

  /** Idempotent; both stores may call it. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.client.status === 'ready') {
        await this.client.quit().catch(() => undefined);
      }
      this.client.disconnect(); // also stops a pending reconnect
    })();
    return this.closed;
  }

  /**
   * Resolves when commands can be sent. While a connection attempt is under way (notably at boot)
   * it waits for that attempt, bounded by the connect timeout; between attempts Redis is known to
   * be down and the caller fails at once instead of queueing.
   */
  private whenReady(): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return Promise.resolve();
    if (this.closed || (status !== 'connecting' && status !== 'connect')) {
      return Promise.reject(new Error(`not connected (${status})`));
    }
    // One waiter for all callers: a listener per request would pile up under load.
    this.readyWaiter ??= new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        this.readyWaiter = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => settle();
      const onClose = () => settle(new Error('connection attempt failed'));
      const timer = setTimeout(() => settle(new Error('connection attempt timed out')), this.connectTimeoutMs);
      timer.unref();
      this.client.on('ready', onReady);
      this.client.on('close', onClose);
    });
    return this.readyWaiter;
  }

  private markDown(err?: Error): void {
    if (this.closed) return;
    if (this.state === 'down') {
      if (err) this.logger.debug({ reason: this.describe(err) }, 'Redis still unreachable');
      return;
    }
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.downSince = Date.now();
    this.logger.warn(
      { reason: err ? this.describe(err) : 'connection closed' },
      wasUp
        ? 'Lost the connection to Redis: sign-ins fail with 503 until it is back; reconnecting'
        : 'Cannot connect to Redis: sign-ins fail with 503 until it is reachable; retrying',
    );
  }

  private markUp(): void {
    if (this.state === 'down') {
      this.logger.info({ downMs: Date.now() - this.downSince }, 'Connection to Redis restored');
    } else if (this.state === 'starting') {
      this.logger.info('Connected to Redis');
    }
    this.state = 'up';
  }

  /** Error code and message, with the password scrubbed in case a message ever echoes it. */
  private describe(err: unknown): string {
    const e = err as { code?: unknown; message?: unknown };
    let text = [e.code, e.message].filter((part) => typeof part === 'string').join(' ');
    if (this.secret) text = text.split(this.secret).join('***');
    return text || 'unknown error';
  }
}

function rootCause(err: unknown): unknown {
  return err instanceof StoreUnavailableError && err.cause !== undefined ? err.cause : err;
}

// ---------------------------------------------------------------------------------------------
// Stored form of a SessionRecord: short keys (every byte is paid once per session), Buffers as
// base64, optional fields absent rather than null, and a version so the format can evolve.

const storedGroup = z.union([
  z.tuple([z.string(), z.string()]),
  z.tuple([z.string(), z.string(), z.string()]), // name, sid, dn
]);

const storedRecord = z.object({
  v: z.literal(1),
  p: z.object({
    dn: z.string(),
    g: z.string(), // objectGuid, base64
    cg: z.string().optional(), // consistencyGuid, base64
    upn: z.string(),
    sam: z.string(),
    nb: z.string(),
    mail: z.string().optional(),
    dis: z.string().optional(),
    gn: z.string().optional(),
    sn: z.string().optional(),
    gr: z.array(storedGroup),
    at: z.record(z.string(), z.array(z.string())).optional(), // absent when empty
  }),
  ai: z.number(),
  am: z.enum(['password', 'windows', 'certificate']),
  ip: z.string(),
  ps: z.boolean(),
  exp: z.number(),
  /** Must stay the LAST member: ADD_RELYING_PARTY appends to it in place. */
  rp: z.array(z.string()),
});

type StoredRecord = z.infer<typeof storedRecord>;

export function encodeRecord(r: SessionRecord): string {
  const p = r.principal;
  const stored: StoredRecord = {
    v: 1,
    p: {
      dn: p.dn,
      g: p.objectGuid.toString('base64'),
      ...(p.consistencyGuid && { cg: p.consistencyGuid.toString('base64') }),
      upn: p.userPrincipalName,
      sam: p.sAMAccountName,
      nb: p.netbiosDomain,
      ...(p.mail !== undefined && { mail: p.mail }),
      ...(p.displayName !== undefined && { dis: p.displayName }),
      ...(p.givenName !== undefined && { gn: p.givenName }),
      ...(p.sn !== undefined && { sn: p.sn }),
      gr: p.groups.map((g) => (g.dn === undefined ? [g.name, g.sid] : [g.name, g.sid, g.dn])),
      ...(Object.keys(p.attributes).length > 0 && { at: p.attributes }),
    },
    ai: r.authnInstant,
    am: r.authnMethod,
    ip: r.clientIp,
    ps: r.persistent,
    exp: r.expiresAt,
    rp: r.relyingParties,
  };
  return JSON.stringify(stored);
}

/** undefined when the text is not a record this version wrote (corrupt, or from a newer release). */
export function decodeRecord(json: string): SessionRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  const result = storedRecord.safeParse(parsed);
  if (!result.success) return undefined;
  const s = result.data;
  const principal: Principal = {
    dn: s.p.dn,
    objectGuid: Buffer.from(s.p.g, 'base64'),
    userPrincipalName: s.p.upn,
    sAMAccountName: s.p.sam,
    netbiosDomain: s.p.nb,
    groups: s.p.gr.map(([name, sid, dn]) => (dn === undefined ? { name, sid } : { name, sid, dn })),
    attributes: s.p.at ?? {},
  };
  if (s.p.cg !== undefined) principal.consistencyGuid = Buffer.from(s.p.cg, 'base64');
  if (s.p.mail !== undefined) principal.mail = s.p.mail;
  if (s.p.dis !== undefined) principal.displayName = s.p.dis;
  if (s.p.gn !== undefined) principal.givenName = s.p.gn;
  if (s.p.sn !== undefined) principal.sn = s.p.sn;
  return {
    principal,
    authnInstant: s.ai,
    authnMethod: s.am,
    clientIp: s.ip,
    persistent: s.ps,
    relyingParties: s.rp,
    expiresAt: s.exp,
  };
}

// ---------------------------------------------------------------------------------------------
// Lua scripts: each runs atomically, which is what keeps the session key and the user index in
// step. They build session keys from a prefix passed in ARGV, which is fine on a single Redis
// (not Redis Cluster, which OpenFed does not support).

/**
 * KEYS[1] session key, KEYS[2] user index. ARGV: record JSON, TTL ms, session id, session key prefix.
 * Returns 0 (nothing written) if the id is taken. Prunes a random sample of the index rather than
 * all of it: a script blocks the whole Redis, and a busy shared account can have thousands of
 * sessions; repeated sampling still clears dead ids over time.
 */
const CREATE = `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[2], 32)) do
  if redis.call('EXISTS', ARGV[4] .. id) == 0 then redis.call('SREM', KEYS[2], id) end
end
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

/**
 * KEYS[1] session key. ARGV: the relying party, and the same JSON-encoded (by JS, so escaping
 * matches JSON.stringify). Rewrites the text rather than re-encoding with cjson, which would turn
 * empty arrays into {} and round long numbers; the codec guarantees the text ends with the rp list.
 */
const ADD_RELYING_PARTY = `
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
for _, rp in ipairs(cjson.decode(stored).rp) do
  if rp == ARGV[1] then return 0 end
end
if string.sub(stored, -2) ~= ']}' then return redis.error_reply('session record not in the expected format') end
local head = string.sub(stored, 1, -3)
local separator = (string.sub(head, -1) == '[') and '' or ','
redis.call('SET', KEYS[1], head .. separator .. ARGV[2] .. ']}', 'KEEPTTL')
return 1
`;

/** KEYS[1] user index. ARGV[1] session key prefix. Returns how many live sessions were ended. */
const DESTROY_FOR_USER = `
local ended = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return ended
`;

// ---------------------------------------------------------------------------------------------
// Stores

/** 128 random bits collide never in practice; a bounded retry keeps that "never" from looping. */
const MAX_ID_ATTEMPTS = 3;

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  private readonly sessionPrefix: string;

  constructor(
    private readonly connection: RedisConnection,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.sessionPrefix = `${connection.keyPrefix}sess:`;
  }

  async create(record: SessionRecord): Promise<string> {
    const ttlMs = Math.ceil(record.expiresAt - this.clock.now());
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
      // Almost always seconds-vs-milliseconds or a lifetime of 0: a bug worth failing loudly on.
      throw new RangeError(`expiresAt must be a future epoch-ms time (got ${record.expiresAt})`);
    }
    const json = encodeRecord(record);
    const userKey = this.userKey(record.principal.userPrincipalName);
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      const id = newId();
      const created = await this.connection.run('create session', (c) =>
        c.eval(CREATE, 2, this.sessionPrefix + id, userKey, json, ttlMs, id, this.sessionPrefix),
      );
      if (created === 1) return id;
    }
    throw new StoreUnavailableError('Session store (Redis) unavailable: could not allocate a session id');
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (!isWellFormedId(id)) return undefined;
    const json = await this.connection.run('read session', (c) => c.get(this.sessionPrefix + id));
    if (json === null) return undefined;
    const record = decodeRecord(json);
    if (!record) {
      // Treated as signed out: the user signs in again instead of seeing an error page.
      this.logger.warn({ component: 'sessions' }, 'Ignoring a session record in an unknown format');
    }
    return record;
  }

  async addRelyingParty(id: string, rp: string): Promise<void> {
    if (!isWellFormedId(id)) return;
    await this.connection.run('add relying party', (c) =>
      c.eval(ADD_RELYING_PARTY, 1, this.sessionPrefix + id, rp, JSON.stringify(rp)),
    );
  }

  async destroy(id: string): Promise<void> {
    if (!isWellFormedId(id)) return;
    // The id stays in the user index until the next create() prunes it; see the header comment.
    await this.connection.run('destroy session', (c) => c.del(this.sessionPrefix + id));
  }

  async destroyForUser(userPrincipalName: string): Promise<number> {
    const ended = await this.connection.run('destroy sessions of user', (c) =>
      c.eval(DESTROY_FOR_USER, 1, this.userKey(userPrincipalName), this.sessionPrefix),
    );
    return Number(ended);
  }

  health(): Promise<{ ok: boolean; detail: string }> {
    return this.connection.health();
  }

  /** Closes the connection shared with the pending store. */
  close(): Promise<void> {
    return this.connection.close();
  }

  private userKey(userPrincipalName: string): string {
    return `${this.connection.keyPrefix}user:${userPrincipalName.toLowerCase()}`;
  }
}

export class RedisPendingStore implements PendingStore {
  private readonly prefix: string;

  constructor(private readonly connection: RedisConnection) {
    this.prefix = `${connection.keyPrefix}pend:`;
  }

  async put(value: PendingRequest, ttlMs: number): Promise<string> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be positive (got ${ttlMs})`);
    const json = JSON.stringify(value);
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      const id = newId();
      const stored = await this.connection.run('store pending request', (c) =>
        c.set(this.prefix + id, json, 'PX', Math.ceil(ttlMs), 'NX'),
      );
      if (stored === 'OK') return id;
    }
    throw new StoreUnavailableError('Session store (Redis) unavailable: could not allocate a request id');
  }

  async take(id: string): Promise<PendingRequest | undefined> {
    if (!isWellFormedId(id)) return undefined;
    // GETDEL (Redis >= 6.2, as ioredis 6 requires): two tabs racing for one request cannot both win.
    const json = await this.connection.run('take pending request', (c) => c.getdel(this.prefix + id));
    return json === null ? undefined : (JSON.parse(json) as PendingRequest);
  }
}

export class RedisReplayCache implements ReplayCache {
  private readonly prefix: string;

  constructor(private readonly connection: RedisConnection) {
    this.prefix = `${connection.keyPrefix}replay:`;
  }

  async firstUse(key: string, ttlMs: number): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be positive (got ${ttlMs})`);
    // SET NX is atomic: of two nodes receiving the same request at once, exactly one wins.
    const stored = await this.connection.run('check replay', (c) =>
      c.set(this.prefix + replayKeyDigest(key), '1', 'PX', Math.ceil(ttlMs), 'NX'),
    );
    return stored === 'OK';
  }
}
