/**
 * Single-node stores for development and one-server installs. Expiry follows the injected clock,
 * so tests move time instead of sleeping.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Principal } from '../directory/types.js';
import { isWellFormedId, newId, replayKeyDigest } from './ids.js';
import type { PendingRequest, PendingStore, ReplayCache, SessionRecord, SessionStore } from './types.js';

export interface MemoryStoreOptions {
  clock?: Clock;
  /**
   * Hard cap on live entries. Pending requests are created before anyone signs in, so without a
   * cap a crawler could grow the heap until the process dies; past the cap the oldest entry goes.
   */
  maxEntries?: number;
  logger?: Logger;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const SWEEP_INTERVAL_MS = 60_000;

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * A Map whose entries vanish at their expiry and whose size is bounded. Expired entries are dropped
 * when read and by a sweep at most once a minute (driven by writes, so no timer keeps the process
 * alive); at the cap the oldest entry is evicted, which is O(1) because a Map iterates in insertion order.
 */
class ExpiringMap<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private nextSweepAt = 0;
  private warnedFull = false;

  constructor(
    private readonly what: string,
    private readonly clock: Clock,
    private readonly maxEntries: number,
    private readonly logger: Logger | undefined,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.makeRoom();
    this.entries.set(key, { value, expiresAt });
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  /** Live entries only; expired ones met on the way are dropped. */
  *live(): Generator<[string, V]> {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
      else yield [key, entry.value];
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  private makeRoom(): void {
    const now = this.clock.now();
    if (now >= this.nextSweepAt) {
      for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
      this.nextSweepAt = now + SWEEP_INTERVAL_MS;
    }
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
      if (!this.warnedFull) {
        this.warnedFull = true;
        this.logger?.warn(
          { maxEntries: this.maxEntries },
          `In-memory ${this.what} store is full; evicting the oldest entries (logged once)`,
        );
      }
    }
  }
}

function assertNotExpired(expiresAt: number, now: number): void {
  if (!Number.isFinite(expiresAt) || expiresAt <= now) {
    // Almost always seconds-vs-milliseconds or a lifetime of 0: a bug worth failing loudly on.
    throw new RangeError(`expiresAt must be a future epoch-ms time (got ${expiresAt}, now ${now})`);
  }
}

/** Deep copy, so callers can never mutate what the store holds (Buffers included, as in Redis). */
function copyPrincipal(p: Principal): Principal {
  const copy: Principal = {
    ...p,
    objectGuid: Buffer.from(p.objectGuid),
    groups: p.groups.map((g) => ({ ...g })),
    attributes: Object.fromEntries(Object.entries(p.attributes).map(([k, v]) => [k, [...v]])),
  };
  if (p.consistencyGuid) copy.consistencyGuid = Buffer.from(p.consistencyGuid);
  return copy;
}

function copyRecord(r: SessionRecord): SessionRecord {
  return { ...r, principal: copyPrincipal(r.principal), relyingParties: [...r.relyingParties] };
}

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  private readonly clock: Clock;
  private readonly sessions: ExpiringMap<SessionRecord>;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.sessions = new ExpiringMap(
      'session',
      this.clock,
      options.maxEntries ?? DEFAULT_MAX_ENTRIES,
      options.logger,
    );
  }

  async create(record: SessionRecord): Promise<string> {
    assertNotExpired(record.expiresAt, this.clock.now());
    const id = newId();
    this.sessions.set(id, copyRecord(record), record.expiresAt);
    return id;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (!isWellFormedId(id)) return undefined;
    const record = this.sessions.get(id);
    return record && copyRecord(record);
  }

  async addRelyingParty(id: string, rp: string): Promise<void> {
    if (!isWellFormedId(id)) return;
    const record = this.sessions.get(id);
    if (record && !record.relyingParties.includes(rp)) record.relyingParties.push(rp);
  }

  async destroy(id: string): Promise<void> {
    if (isWellFormedId(id)) this.sessions.delete(id);
  }

  async destroyForUser(userPrincipalName: string): Promise<number> {
    const upn = userPrincipalName.toLowerCase();
    let count = 0;
    for (const [id, record] of this.sessions.live()) {
      if (record.principal.userPrincipalName.toLowerCase() === upn) {
        this.sessions.delete(id);
        count++;
      }
    }
    return count;
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `in memory, ${this.sessions.size} sessions (not shared between nodes)` };
  }

  async close(): Promise<void> {
    this.sessions.clear();
  }
}

export class MemoryPendingStore implements PendingStore {
  private readonly clock: Clock;
  /** Held as JSON text: the same copy-on-read semantics and JSON-only values as the Redis store. */
  private readonly pending: ExpiringMap<string>;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.pending = new ExpiringMap(
      'pending-request',
      this.clock,
      options.maxEntries ?? DEFAULT_MAX_ENTRIES,
      options.logger,
    );
  }

  async put(value: PendingRequest, ttlMs: number): Promise<string> {
    const now = this.clock.now();
    assertNotExpired(now + ttlMs, now);
    const id = newId();
    this.pending.set(id, JSON.stringify(value), now + ttlMs);
    return id;
  }

  async take(id: string): Promise<PendingRequest | undefined> {
    if (!isWellFormedId(id)) return undefined;
    const json = this.pending.get(id);
    if (json === undefined) return undefined;
    this.pending.delete(id);
    return JSON.parse(json) as PendingRequest;
  }
}

export class MemoryReplayCache implements ReplayCache {
  private readonly clock: Clock;
  private readonly seen: ExpiringMap<true>;

  constructor(options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.seen = new ExpiringMap('replay-cache', this.clock, options.maxEntries ?? DEFAULT_MAX_ENTRIES, options.logger);
  }

  async firstUse(key: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now();
    assertNotExpired(now + ttlMs, now);
    const digest = replayKeyDigest(key);
    if (this.seen.get(digest)) return false;
    this.seen.set(digest, true, now + ttlMs);
    return true;
  }
}
