/**
 * Sessions, pending requests and the replay cache in Redis, shared by every node of a farm, over the
 * process's one connection (redis/connection.ts opens it; these stores never close it).
 *
 * Keys (all under config.keyPrefix). <tag> is the user's slot tag (ids.ts: userSlotTag), which is
 * also the first characters of each of that user's session ids:
 *   sess:{<tag>}<rest of id>  the SessionRecord as compact JSON, expiring (PX) with the session
 *   user:{<tag>}<upn>         set of that user's session ids, for admin revoke; may briefly hold ids
 *                             of sessions already gone (destroyed or expired): readers tolerate that
 *                             and every create() prunes them; the set expires with the last session
 *   pend:<id>                 a PendingRequest as JSON, expiring with its TTL
 *   replay:<h>                a seen message id (SHA-256 of issuer + id), expiring with the window;
 *                             its slot depends on the message only (see RedisReplayCache.firstUse)
 *
 * Redis Cluster runs a script only when all its keys share one hash slot. The {<tag>} hash tag puts
 * a user's sessions and their index in one slot (so create and revoke stay atomic scripts) while
 * different users spread over all slots; every other operation touches one key. checkSlotLayout()
 * proves this at start.
 *
 * When Redis is unreachable every operation fails with StoreUnavailableError (the page answers 503):
 * see RedisConnection.run.
 */
import calculateSlot from 'cluster-key-slot';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import type { GroupRef, Principal } from '../directory/types.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkKeyPrefix, type RedisConnection } from '../redis/connection.js';
import { luaScript, runLua } from '../redis/scripts.js';
import { isWellFormedId, newId, newSessionId, replayKeyDigest, SLOT_TAG_LENGTH, userSlotTag } from './ids.js';
import type { AuthMethod, PendingRequest, PendingStore, ReplayCache, SessionRecord, SessionStore } from './types.js';

// ---------------------------------------------------------------------------------------------
// Stored form of a SessionRecord. Every byte is paid once per live session (target: at most 1 KB of
// Redis memory each, key included), so: one flat object with one-letter keys; GUIDs as unpadded
// base64url; optional fields absent rather than null, and `persistent` only when true; group SIDs of
// the domain most groups belong to as bare RIDs after one shared domain SID; group DNs under the
// user's own domain as their head (a one-element array) without the repeated DC= suffix. Still one
// string read by one GET. `v` lets the format evolve: a record of another version reads as signed out.

const FORMAT_VERSION = 2;

const storedGroup = z.union([
  z.tuple([z.string(), z.union([z.string(), z.number().int().nonnegative()])]),
  // name, sid (or RID), dn (or [head of a dn under the user's domain])
  z.tuple([z.string(), z.union([z.string(), z.number().int().nonnegative()]), z.union([z.string(), z.tuple([z.string()])])]),
]);

const AUTH_METHODS = { p: 'password', w: 'windows', c: 'certificate' } as const satisfies Record<string, AuthMethod>;
const AUTH_METHOD_CODES: Record<AuthMethod, keyof typeof AUTH_METHODS> = { password: 'p', windows: 'w', certificate: 'c' };

const storedRecord = z.object({
  v: z.literal(FORMAT_VERSION),
  d: z.string(), // dn
  g: z.string(), // objectGuid
  c: z.string().optional(), // consistencyGuid
  u: z.string(), // userPrincipalName
  s: z.string(), // sAMAccountName
  n: z.string(), // netbiosDomain
  m: z.string().optional(), // mail
  dp: z.string().optional(), // displayName
  gn: z.string().optional(),
  sn: z.string().optional(),
  ds: z.string().optional(), // the domain SID that numeric group SIDs are relative to
  gr: z.array(storedGroup),
  at: z.record(z.string(), z.array(z.string())).optional(), // absent when empty
  ai: z.number(),
  am: z.enum(['p', 'w', 'c']),
  ip: z.string(),
  ps: z.literal(1).optional(),
  mf: z.number().optional(), // mfaInstant
  x: z.number(), // expiresAt
  /** Must stay the LAST member: ADD_RELYING_PARTY appends to it in place. */
  rp: z.array(z.string()),
});

type StoredRecord = z.infer<typeof storedRecord>;
type StoredGroup = z.infer<typeof storedGroup>;

const DOMAIN_RID = /^(S-1-5-21-\d+-\d+-\d+)-(0|[1-9]\d{0,9})$/;

/** The domain SID shared by most groups, when at least two share one (otherwise it saves nothing). */
function commonDomainSid(groups: readonly GroupRef[]): string | undefined {
  const counts = new Map<string, number>();
  for (const g of groups) {
    const domain = DOMAIN_RID.exec(g.sid)?.[1];
    if (domain !== undefined) counts.set(domain, (counts.get(domain) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestCount = 1;
  for (const [domain, count] of counts) {
    if (count > bestCount) [best, bestCount] = [domain, count];
  }
  return best;
}

/** ",DC=contoso,DC=com" of the user's DN: what group DNs in the same domain end with. */
function domainSuffix(userDn: string): string | undefined {
  const at = userDn.toUpperCase().indexOf(',DC=');
  return at < 0 ? undefined : userDn.slice(at);
}

function encodeGroup(g: GroupRef, domainSid: string | undefined, suffix: string | undefined): StoredGroup {
  const rid = domainSid !== undefined && g.sid.startsWith(`${domainSid}-`) ? DOMAIN_RID.exec(g.sid)?.[2] : undefined;
  const sid = rid !== undefined ? Number(rid) : g.sid;
  if (g.dn === undefined) return [g.name, sid];
  const underDomain = suffix !== undefined && g.dn.length > suffix.length && g.dn.endsWith(suffix);
  return [g.name, sid, underDomain ? [g.dn.slice(0, -suffix.length)] : g.dn];
}

export function encodeRecord(r: SessionRecord): string {
  const p = r.principal;
  const domainSid = commonDomainSid(p.groups);
  const suffix = domainSuffix(p.dn);
  const stored: StoredRecord = {
    v: FORMAT_VERSION,
    d: p.dn,
    g: p.objectGuid.toString('base64url'),
    ...(p.consistencyGuid && { c: p.consistencyGuid.toString('base64url') }),
    u: p.userPrincipalName,
    s: p.sAMAccountName,
    n: p.netbiosDomain,
    ...(p.mail !== undefined && { m: p.mail }),
    ...(p.displayName !== undefined && { dp: p.displayName }),
    ...(p.givenName !== undefined && { gn: p.givenName }),
    ...(p.sn !== undefined && { sn: p.sn }),
    ...(domainSid !== undefined && { ds: domainSid }),
    gr: p.groups.map((g) => encodeGroup(g, domainSid, suffix)),
    ...(Object.keys(p.attributes).length > 0 && { at: p.attributes }),
    ai: r.authnInstant,
    am: AUTH_METHOD_CODES[r.authnMethod],
    ip: r.clientIp,
    ...(r.persistent && { ps: 1 as const }),
    ...(r.mfaInstant !== undefined && { mf: r.mfaInstant }),
    x: r.expiresAt,
    rp: r.relyingParties,
  };
  return JSON.stringify(stored);
}

/** undefined when the text is not a record this version wrote (corrupt, or from another release). */
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
  const suffix = domainSuffix(s.d);
  const groups: GroupRef[] = [];
  for (const [name, storedSid, storedDn] of s.gr) {
    if (typeof storedSid === 'number' && s.ds === undefined) return undefined;
    if (Array.isArray(storedDn) && suffix === undefined) return undefined;
    const group: GroupRef = { name, sid: typeof storedSid === 'number' ? `${s.ds}-${storedSid}` : storedSid };
    if (storedDn !== undefined) group.dn = Array.isArray(storedDn) ? storedDn[0] + suffix : storedDn;
    groups.push(group);
  }
  const principal: Principal = {
    dn: s.d,
    objectGuid: Buffer.from(s.g, 'base64url'),
    userPrincipalName: s.u,
    sAMAccountName: s.s,
    netbiosDomain: s.n,
    groups,
    attributes: s.at ?? {},
  };
  if (s.c !== undefined) principal.consistencyGuid = Buffer.from(s.c, 'base64url');
  if (s.m !== undefined) principal.mail = s.m;
  if (s.dp !== undefined) principal.displayName = s.dp;
  if (s.gn !== undefined) principal.givenName = s.gn;
  if (s.sn !== undefined) principal.sn = s.sn;
  return {
    principal,
    authnInstant: s.ai,
    authnMethod: AUTH_METHODS[s.am],
    clientIp: s.ip,
    persistent: s.ps === 1,
    ...(s.mf !== undefined ? { mfaInstant: s.mf } : {}),
    relyingParties: s.rp,
    expiresAt: s.x,
  };
}

// ---------------------------------------------------------------------------------------------
// Key layout and Lua scripts. Each script runs atomically, which is what keeps the session keys and
// the user index in step. Scripts build session keys from ids they read (not from KEYS), which a
// Cluster allows because those keys carry the same hash tag, hence the same slot, as KEYS.

/** Lua: the session key of an id, as RedisSessionStore.sessionKey builds it. ARGV holds the prefix. */
const LUA_SESSION_KEY = (prefixArg: string) =>
  `${prefixArg} .. '{' .. string.sub(id, 1, ${SLOT_TAG_LENGTH}) .. '}' .. string.sub(id, ${SLOT_TAG_LENGTH + 1})`;

/**
 * KEYS[1] session key, KEYS[2] user index. ARGV: record JSON, TTL ms, session id, session key prefix.
 * Returns 0 (nothing written) if the id is taken. Prunes a random sample of the index rather than
 * all of it: a script blocks its Redis (shard), and a busy shared account can have thousands of
 * sessions; repeated sampling still clears dead ids over time.
 */
const CREATE = luaScript(
  2,
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[2], 32)) do
  if redis.call('EXISTS', ${LUA_SESSION_KEY('ARGV[4]')}) == 0 then redis.call('SREM', KEYS[2], id) end
end
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`,
);

/**
 * KEYS[1] session key. ARGV: the relying party, and the same JSON-encoded (by JS, so escaping
 * matches JSON.stringify). Rewrites the text rather than re-encoding with cjson, which would turn
 * empty arrays into {} and round long numbers; the codec guarantees the text ends with the rp list.
 */
const ADD_RELYING_PARTY = luaScript(
  1,
  `
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
`,
);

/** KEYS[1] user index. ARGV[1] session key prefix. Returns how many live sessions were ended. */
const DESTROY_FOR_USER = luaScript(
  1,
  `
local ended = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ${LUA_SESSION_KEY('ARGV[1]')})
end
redis.call('DEL', KEYS[1])
return ended
`,
);

/** The session and user-index keys of one user, as the stores and scripts build them. */
export function sessionKeys(keyPrefix: string): {
  sessionPrefix: string;
  session(id: string): string;
  user(userPrincipalName: string): string;
} {
  const sessionPrefix = `${keyPrefix}sess:`;
  return {
    sessionPrefix,
    session: (id) => `${sessionPrefix}{${id.slice(0, SLOT_TAG_LENGTH)}}${id.slice(SLOT_TAG_LENGTH)}`,
    user: (upn) => `${keyPrefix}user:{${userSlotTag(upn)}}${upn.toLowerCase()}`,
  };
}

/**
 * Proves, for the configured prefix, what Redis Cluster needs: the keys each script touches share
 * one slot, and different users do not all share one (which would put every session on one node).
 * Throws when the layout would break; run at start.
 */
export function checkSlotLayout(keyPrefix: string): void {
  checkKeyPrefix(keyPrefix);
  const keys = sessionKeys(keyPrefix);
  const slots = new Set<number>();
  for (const upn of ['alice@contoso.com', 'Bob@Contoso.com', 'carol@fabrikam.com', 'dave@contoso.com']) {
    const ids = [newSessionId(upn), newSessionId(upn.toUpperCase())];
    const slot = calculateSlot(keys.user(upn));
    for (const key of [keys.user(upn.toUpperCase()), ...ids.map(keys.session)]) {
      if (calculateSlot(key) !== slot) {
        throw new RangeError(`session keys of one user would span Redis Cluster slots with keyPrefix ${JSON.stringify(keyPrefix)}`);
      }
    }
    slots.add(slot);
  }
  if (slots.size < 2) {
    throw new RangeError(`every user's sessions would share one Redis Cluster slot with keyPrefix ${JSON.stringify(keyPrefix)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Stores

/** 240 random bits collide never in practice; a bounded retry keeps that "never" from looping. */
const MAX_ID_ATTEMPTS = 3;

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  private readonly keys: ReturnType<typeof sessionKeys>;

  constructor(
    private readonly connection: RedisConnection,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    checkSlotLayout(connection.keyPrefix);
    connection.requireScripts(CREATE, ADD_RELYING_PARTY, DESTROY_FOR_USER);
    this.keys = sessionKeys(connection.keyPrefix);
  }

  async create(record: SessionRecord): Promise<string> {
    const ttlMs = Math.ceil(record.expiresAt - this.clock.now());
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
      // Almost always seconds-vs-milliseconds or a lifetime of 0: a bug worth failing loudly on.
      throw new RangeError(`expiresAt must be a future epoch-ms time (got ${record.expiresAt})`);
    }
    const json = encodeRecord(record);
    const upn = record.principal.userPrincipalName;
    const userKey = this.keys.user(upn);
    for (let attempt = 0; attempt < MAX_ID_ATTEMPTS; attempt++) {
      const id = newSessionId(upn);
      const created = await this.connection.run('create session', (c) =>
        runLua(c, CREATE, this.keys.session(id), userKey, json, ttlMs, id, this.keys.sessionPrefix),
      );
      if (created === 1) return id;
    }
    throw new StoreUnavailableError('Session store (Redis) unavailable: could not allocate a session id');
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (!isWellFormedId(id)) return undefined;
    const json = await this.connection.run('read session', (c) => c.get(this.keys.session(id)));
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
      runLua(c, ADD_RELYING_PARTY, this.keys.session(id), rp, JSON.stringify(rp)),
    );
  }

  async destroy(id: string): Promise<void> {
    if (!isWellFormedId(id)) return;
    // The id stays in the user index until the next create() prunes it; see the header comment.
    await this.connection.run('destroy session', (c) => c.del(this.keys.session(id)));
  }

  async destroyForUser(userPrincipalName: string): Promise<number> {
    const ended = await this.connection.run('destroy sessions of user', (c) =>
      runLua(c, DESTROY_FOR_USER, this.keys.user(userPrincipalName), this.keys.sessionPrefix),
    );
    return Number(ended);
  }

  /** The connection's health, which is every Redis-backed store's: /readyz reads it here. */
  health(): Promise<{ ok: boolean; detail: string }> {
    return this.connection.health();
  }

  /** Nothing of its own to release: the connection is closed by whoever opened it. */
  async close(): Promise<void> {}
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
    // The key's Cluster slot follows from the key alone (issuer + request ID), never from the
    // requesting session: a replay from another browser, another session or none must meet the
    // same key. So while a master is down, the requests whose replay key lands on its slots (about
    // 1 in N masters, whoever the user) fail fast with 503; the SP's next attempt carries a new ID,
    // hence most likely another slot.
    const stored = await this.connection.run('check replay', (c) =>
      c.set(this.prefix + replayKeyDigest(key), '1', 'PX', Math.ceil(ttlMs), 'NX'),
    );
    return stored === 'OK';
  }
}
