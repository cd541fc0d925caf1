/**
 * The key ring a node signs with, kept in step with the shared key set: created on first start (by
 * one node, whichever wins), rolled over on a timer (AD FS AutoCertificateRollover), and re-read by
 * every node when its version moves, so a rollover or an `openfed keys` change reaches every node
 * without restart. Keys are parsed into KeyObjects once per version, never per signature; a damaged
 * new version is logged and ignored, and the node keeps signing with the last good ring.
 */
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { openRedis, type RedisConnection } from '../redis/connection.js';
import { decryptPrivateKey, encryptPrivateKey } from './encryption.js';
import { fixedKeyRing, type KeyRing } from './key-ring.js';
import {
  decideRollover,
  firstKeySet,
  parseKeySet,
  promoteNext,
  pruneKeys,
  storedEntry,
  addNext,
  type ProtectPrivateKey,
  type RolloverAction,
  type RolloverPolicy,
  type StoredKey,
  type StoredKeySet,
} from './key-set.js';
import { fromPem, generateSelfSigned, KeyLoadError, loadSigningKey, type SigningKey } from './signing-key.js';
import { RedisKeySetStore } from './redis-store.js';
import { FileKeySetStore, type KeySetStore } from './store.js';

const HOUR_MS = 3_600_000;
/** Compare-and-set retries: each loss means another node changed the set, which is rare. */
const MAX_ATTEMPTS = 5;

/** A ring that can be stopped (timers; the store, with its Redis connection when it opened its own). */
export interface OpenKeyRing extends KeyRing {
  close(): Promise<void>;
}

export interface ManagedKeyRingOptions {
  store: KeySetStore;
  policy: RolloverPolicy;
  /** Encrypts private keys before they are stored; required for Redis. */
  encryptionSecret: string | undefined;
  /** Host name for the subject of generated certificates. */
  subjectHost: string;
  clock: Clock;
  logger: Logger;
  /** How often the version is polled; 0 = never (tests call refresh()). */
  refreshSeconds: number;
  /** How often the rollover check runs; 0 = never (tests call check()). Default hourly. */
  checkIntervalMs?: number;
}

interface Ring {
  version: number;
  primary: SigningKey;
  next: SigningKey | undefined;
  previous: SigningKey[];
}

export class ManagedKeyRing implements OpenKeyRing {
  readonly #o: ManagedKeyRingOptions;
  readonly #logger: Logger;
  #ring!: Ring;
  /** Parsed keys by thumbprint and stored private-key form: unchanged keys are not parsed again. */
  #parsed = new Map<string, SigningKey>();
  /** A version that failed to load: reported once, not at every poll. */
  #badVersion: number | undefined;
  #timers: NodeJS.Timeout[] = [];
  #busy: Promise<void> = Promise.resolve();

  private constructor(options: ManagedKeyRingOptions) {
    this.#o = options;
    this.#logger = options.logger.child({ component: 'keys' });
  }

  /**
   * Loads the set, creating the first primary if there is none (atomically: of several nodes starting
   * at once one creates it, the others read it), runs the rollover check once and starts the timers.
   */
  static async open(options: ManagedKeyRingOptions): Promise<ManagedKeyRing> {
    const ring = new ManagedKeyRing(options);
    try {
      await ring.#ensureSet();
      const loaded = await ring.#load();
      if (!loaded) throw new KeyLoadError(`the token-signing key set in ${options.store.location} could not be read`);
      await ring.check();
    } catch (err) {
      await options.store.close().catch(() => undefined);
      // Unreachable Redis or an unwritable data directory: one line at start-up, like a bad key.
      if (err instanceof StoreUnavailableError || typeof (err as NodeJS.ErrnoException).code === 'string') {
        throw new KeyLoadError(`the token-signing key set in ${options.store.location} cannot be used: ${(err as Error).message}`);
      }
      throw err;
    }
    if (options.refreshSeconds > 0) ring.#every(options.refreshSeconds * 1000, () => ring.refresh());
    const checkEvery = options.checkIntervalMs ?? HOUR_MS;
    if (checkEvery > 0) ring.#every(checkEvery, () => ring.check());
    return ring;
  }

  get primary(): SigningKey {
    return this.#ring.primary;
  }
  get next(): SigningKey | undefined {
    return this.#ring.next;
  }
  get previous(): readonly SigningKey[] {
    return this.#ring.previous;
  }
  /** The version of the set this ring was built from. */
  get version(): number {
    return this.#ring.version;
  }

  /** Re-reads the set when its version moved. Never throws: a node keeps signing whatever happens. */
  refresh(): Promise<void> {
    return this.#serial(async () => {
      let version: number | undefined;
      try {
        version = await this.#o.store.version();
      } catch (err) {
        this.#logger.warn({ reason: (err as Error).message }, 'cannot check the token-signing key set; signing with the keys loaded before');
        return;
      }
      if (version === undefined || version === this.#ring.version || version === this.#badVersion) return;
      await this.#load();
    });
  }

  /** The rollover check (and dropping expired certificates), then a refresh. Never throws. */
  check(): Promise<void> {
    return this.#serial(async () => {
      try {
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          const stored = await this.#o.store.read();
          if (!stored) return;
          const set = parseKeySet(stored.json);
          const now = this.#o.clock.now();
          const action = decideRollover(set, now, this.#o.policy);
          if (!action) break;
          const changed = await this.#apply(set, action, now);
          if (await this.#o.store.replace(stored.version, changed)) {
            this.#logger.warn({ action: action.kind, version: changed.version, ...describe(action, changed) }, `token-signing key rollover: ${action.kind}`);
          }
          // Lost or won, read again: the next step (or another node's change) is decided on fresh data.
        }
      } catch (err) {
        this.#logger.error({ reason: (err as Error).message }, 'token-signing key rollover check failed; will retry');
      }
      await this.#loadIfMoved();
    });
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    await this.#busy;
    await this.#o.store.close();
  }

  // -----------------------------------------------------------------------------------------------

  #every(ms: number, run: () => Promise<void>): void {
    const timer = setInterval(() => void run(), ms);
    timer.unref();
    this.#timers.push(timer);
  }

  /** One refresh or check at a time: a slow Redis must not stack them up. */
  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#busy.then(task, task);
    this.#busy = run.catch(() => undefined);
    return run;
  }

  async #loadIfMoved(): Promise<void> {
    try {
      const version = await this.#o.store.version();
      if (version !== undefined && version !== this.#ring.version && version !== this.#badVersion) await this.#load();
    } catch {
      // refresh() reports an unreachable store
    }
  }

  async #ensureSet(): Promise<void> {
    const store = this.#o.store;
    if (await store.read()) return;
    const now = this.#o.clock.now();
    const legacy = store instanceof FileKeySetStore ? store.legacyKey() : undefined;
    let first: StoredKey;
    if (legacy) {
      const key = fromPem(legacy.keyPem, legacy.certPem, 'generated');
      first = storedEntry(key, 'primary', 'generated', new Date(key.certificate.validFrom).getTime(), this.#protect);
    } else {
      first = storedEntry(await this.#generate(now), 'primary', 'generated', now, this.#protect);
    }
    if (await store.create(firstKeySet(first))) {
      this.#logger.warn(
        { thumbprint: first.thumbprint, notAfter: new Date(first.notAfter).toISOString(), store: store.location },
        legacy ? 'token-signing key set started from the existing certificate' : 'created a self-signed token-signing certificate (valid 1 year)',
      );
    }
  }

  /** Reads and parses the stored set into the ring. false (and logged) when it cannot be used. */
  async #load(): Promise<boolean> {
    let version: number | undefined;
    try {
      const stored = await this.#o.store.read();
      if (!stored) throw new KeyLoadError('the key set has disappeared from the store');
      version = stored.version;
      const set = parseKeySet(stored.json);
      const parsed = new Map<string, SigningKey>();
      const keyOf = (entry: StoredKey): SigningKey => {
        const cacheKey = `${entry.thumbprint}|${JSON.stringify(entry.privateKey)}`;
        const key = this.#parsed.get(cacheKey) ?? this.#parse(entry);
        parsed.set(cacheKey, key);
        return key;
      };
      const primary = set.keys.find((k) => k.role === 'primary')!;
      const next = set.keys.find((k) => k.role === 'next');
      const ring: Ring = {
        version: set.version,
        primary: keyOf(primary),
        next: next && keyOf(next),
        previous: set.keys.filter((k) => k.role === 'previous').map(keyOf),
      };
      const first = this.#ring === undefined;
      const changedPrimary = !first && this.#ring.primary.thumbprint !== ring.primary.thumbprint;
      this.#ring = ring;
      this.#parsed = parsed;
      this.#badVersion = undefined;
      if (!first) {
        this.#logger.info(
          { version: ring.version, primary: ring.primary.thumbprint, next: ring.next?.thumbprint, previous: ring.previous.map((k) => k.thumbprint) },
          changedPrimary ? 'token-signing key set changed: new primary' : 'token-signing key set changed',
        );
      }
      return true;
    } catch (err) {
      if (this.#ring === undefined) throw err;
      if (version !== undefined) this.#badVersion = version;
      this.#logger.error(
        { version, reason: (err as Error).message, signingWith: this.#ring.primary.thumbprint },
        'cannot use the changed token-signing key set; still signing with the last good keys',
      );
      return false;
    }
  }

  #parse(entry: StoredKey): SigningKey {
    const keyPem = 'pem' in entry.privateKey ? entry.privateKey.pem : this.#decrypt(entry.privateKey.encrypted, entry.thumbprint);
    const key = fromPem(keyPem, certificatePem(entry.certificate), entry.origin === 'generated' ? 'generated' : 'imported');
    if (key.thumbprint !== entry.thumbprint) throw new KeyLoadError(`the stored certificate ${entry.thumbprint} does not match its thumbprint`);
    return key;
  }

  #decrypt(blob: string, thumbprint: string): string {
    const secret = this.#o.encryptionSecret;
    if (!secret) throw new KeyLoadError(`the stored private key of certificate ${thumbprint} is encrypted: set keys.encryptionSecret (OPENFED_KEY_ENCRYPTION_SECRET)`);
    return decryptPrivateKey(blob, secret, thumbprint);
  }

  readonly #protect: ProtectPrivateKey = (pem, thumbprint) => protectWith(this.#o.encryptionSecret)(pem, thumbprint);

  #generate(now: number): Promise<SigningKey> {
    return generateSelfSigned(`OpenFed Token Signing - ${this.#o.subjectHost}`, new Date(now)).then(({ keyPem, certPem }) =>
      fromPem(keyPem, certPem, 'generated'),
    );
  }

  async #apply(set: StoredKeySet, action: RolloverAction, now: number): Promise<StoredKeySet> {
    switch (action.kind) {
      case 'prune':
        return pruneKeys(set, action.thumbprints);
      case 'promote':
        return promoteNext(set, now, action.thumbprint);
      case 'generate':
        return addNext(set, storedEntry(await this.#generate(now), 'next', 'generated', now, this.#protect), now);
    }
  }
}

function describe(action: RolloverAction, set: StoredKeySet): Record<string, unknown> {
  if (action.kind === 'prune') return { removed: action.thumbprints };
  const next = set.keys.find((k) => k.role === (action.kind === 'promote' ? 'primary' : 'next'));
  return { thumbprint: next?.thumbprint, notAfter: next && new Date(next.notAfter).toISOString() };
}

export function certificatePem(base64: string): string {
  return `-----BEGIN CERTIFICATE-----\n${base64.replace(/.{64}/g, '$&\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** Clear PEM without a secret (files only), encrypted with one. */
export function protectWith(secret: string | undefined): ProtectPrivateKey {
  return (pem, thumbprint) => (secret ? { encrypted: encryptPrivateKey(pem, secret, thumbprint) } : { pem });
}

// ---------------------------------------------------------------------------------------- factory

/**
 * Redis when sessions.redis is configured, else <dataDir>/keys. `redis`: the process's shared
 * connection (a server's), which the store leaves open; without it a one-off command gets a
 * connection of its own, closed with the store.
 */
export function openKeySetStore(config: Config, logger: Logger, redis?: RedisConnection): KeySetStore {
  if (!config.sessions.redis) return new FileKeySetStore(join(config.dataDir, 'keys'));
  if (!config.keys.encryptionSecret) {
    throw new KeyLoadError(
      'configuration key keys.encryptionSecret: required when sessions.redis is set and keys.signing is not ' +
        '(the token-signing keys are shared through Redis, encrypted with it); set OPENFED_KEY_ENCRYPTION_SECRET, the same on every node',
    );
  }
  if (redis) return new RedisKeySetStore(redis);
  return new RedisKeySetStore(openRedis(config.sessions.redis, logger), { ownsConnection: true });
}

export function rolloverPolicy(config: Config): RolloverPolicy {
  const { autoRollover, generationThresholdDays, promotionThresholdDays } = config.keys;
  return { autoRollover, generationThresholdDays, promotionThresholdDays };
}

/**
 * The ring for a server: fixed when keys.signing is configured (exactly as configured, with
 * keys.next published), else the managed, shared key set.
 */
export interface KeyRingWiring extends Pick<ManagedKeyRingOptions, 'checkIntervalMs'> {
  /** The process's Redis connection, shared with the other stores; without it the ring opens (and closes) its own. */
  redis?: RedisConnection;
  /** Wraps the key-set store as it is opened (the server counts its Redis failures: metrics.ts). */
  watch?: (store: KeySetStore) => KeySetStore;
}

export async function openKeyRing(config: Config, logger: Logger, clock: Clock, options: KeyRingWiring = {}): Promise<OpenKeyRing> {
  const host = new URL(config.server.baseUrl).hostname;
  if (config.keys.signing) {
    const primary = await loadSigningKey(config.keys.signing, config.dataDir, host, logger);
    const next = config.keys.next && (await loadSigningKey(config.keys.next, config.dataDir, host, logger, 'keys.next'));
    return { ...fixedKeyRing(primary, next), close: async () => {} };
  }
  const { redis, watch = (store) => store, ...timing } = options;
  return ManagedKeyRing.open({
    store: watch(openKeySetStore(config, logger, redis)),
    policy: rolloverPolicy(config),
    encryptionSecret: config.keys.encryptionSecret,
    subjectHost: host,
    clock,
    logger,
    refreshSeconds: config.keys.refreshSeconds,
    ...timing,
  });
}
