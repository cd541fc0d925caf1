/**
 * The relying-party registry: configuration plus imported SP metadata, merged into one read-only
 * view per SP. It is the ONE place that decides where a token may be sent — protocol code asks
 * `resolveAcs` and never trusts a URL from a request on its own.
 *
 * Start-up is strict: a certificate or metadata file that cannot be read stops the process, naming
 * the configuration key. Metadata URLs are the exception: when an SP's web server is down at start,
 * that SP is registered from configuration alone (a warning is logged) and picked up at the next
 * refresh, so one SP cannot keep the federation server — and every other SP — offline.
 *
 * With a store (src/relying-parties/store.ts: Redis for a farm, else a file in the data directory) the
 * registry also serves the relying parties added with `openfed rp add`, and shares fetched metadata:
 * a node uses a copy another node (or `openfed rp refresh`) fetched recently instead of fetching its
 * own, and polls the store's version so an added, removed or refreshed RP is used without restart.
 * Stored copies pass through exactly the checks a fetched document does (signature pinning, entityID,
 * validUntil); a copy or registration that fails them is skipped with an error log, never fatal.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { SamlRelyingPartyConfig, WsfedRelyingPartyConfig } from './schema.js';
import { decodeMetadataCopy, decodeRegistration, encodeMetadataCopy, type MetadataCopy, type RelyingPartyStore } from './store.js';
import {
  decodeMetadata,
  fetchSpMetadata,
  isFetchableMetadataUrl,
  MAX_METADATA_BYTES,
  parseSpMetadata,
  type AcsEndpoint,
  type SloEndpoint,
  type SpMetadata,
} from './sp-metadata.js';
import { InternalError } from '../errors.js';

export type { AcsEndpoint, SloEndpoint } from './sp-metadata.js';

export interface SamlRelyingParty
  extends Omit<
    SamlRelyingPartyConfig,
    'assertionConsumerServices' | 'singleLogoutServices' | 'signingCertificates' | 'encryptionCertificate' | 'metadata' | 'requireSignedRequests'
  > {
  displayName: string;
  acs: AcsEndpoint[];
  slo: SloEndpoint[];
  signingCertificates: X509Certificate[];
  /** Known, whatever encryptClaims says: whether assertions are encrypted is encryptClaims && encryptionCertificate. */
  encryptionCertificate?: X509Certificate;
  requireSignedRequests: boolean;
  /** Who decided requireSignedRequests: the configuration, the SP metadata's AuthnRequestsSigned, or neither (false). */
  requireSignedRequestsFrom: 'config' | 'metadata' | 'default';
}

/** A configuration problem found while loading relying parties; the message names the key. */
export class RelyingPartyConfigError extends InternalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelyingPartyConfigError';
  }
}

const BINDING_URNS: ReadonlyMap<string, AcsEndpoint['binding']> = new Map([
  ['post', 'post'],
  ['redirect', 'redirect'],
  ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'post'],
  ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', 'redirect'],
]);

/** What configuration says about one SP, certificates already parsed. Fixed for the process lifetime. */
export interface Configured {
  key: string; // `relyingParties[i]`, for messages
  config: SamlRelyingPartyConfig;
  signingCertificates: X509Certificate[];
  encryptionCertificate?: X509Certificate;
  metadataSigner?: X509Certificate;
}

interface Entry {
  configured: Configured;
  /** Last good metadata; undefined when there is none (config-only). */
  metadata?: SpMetadata;
  /** When and where that metadata was fetched (metadata URL, or a stored copy). */
  copy?: Omit<MetadataCopy, 'xml'>;
  rp: SamlRelyingParty;
  fingerprint: string;
  timer?: NodeJS.Timeout;
  inflight?: Promise<void> | undefined;
  /** Set for relying parties from the store: the registration as stored, to notice a change. */
  stored?: { encoded: string; addedAt: string; addedBy: string };
}

interface StoredWsfed {
  encoded: string;
  config: WsfedRelyingPartyConfig;
  addedAt: string;
  addedBy: string;
}

/** What `openfed rp list` shows about one SAML relying party. */
export interface RelyingPartyStatus {
  rp: SamlRelyingParty;
  origin: 'config' | 'added';
  metadata?: { url?: string; file?: string; fetchedAt?: number; source?: string; validUntil?: Date };
  added?: { at: string; by: string };
}

export interface WsfedRelyingPartyStatus {
  config: WsfedRelyingPartyConfig;
  origin: 'config' | 'added';
  added?: { at: string; by: string };
}

export interface RegistryOptions {
  fetch?: typeof fetch;
  clock?: Clock;
  /** Relying parties added with `openfed rp add`, and shared metadata copies. The registry closes it. */
  store?: RelyingPartyStore;
  /** How often the store's version is checked. Default: config.relyingPartyRegistry.pollSeconds. */
  pollMs?: number;
  /** Never fetch metadata on its own and never poll (CLI listings): configuration, files and stored copies only. */
  offline?: boolean;
}

export interface RefreshResult {
  entityId: string;
  ok: boolean;
  detail: string;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long one node may take to fetch an SP's metadata before another one may try. */
const FETCH_CLAIM_MS = 30_000;

export class RelyingPartyRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #storedWsfed = new Map<string, StoredWsfed>();
  readonly #listeners: Array<() => void> = [];
  readonly #closing = new AbortController();
  /** Identifiers the configuration owns (SAML entityIDs, WS-Fed realms, Microsoft 365): never taken from the store. */
  readonly #configuredIds = new Set<string>();
  #configuredWsfed: WsfedRelyingPartyConfig[] = [];
  #version = 0;
  #storeVersion: number | undefined;
  #syncing: Promise<void> | undefined;
  #poll: NodeJS.Timeout | undefined;
  #storeDown = false;

  private constructor(
    private readonly logger: Logger,
    private readonly fetchImpl: typeof fetch,
    private readonly clock: Clock,
    private readonly store: RelyingPartyStore | undefined,
    private readonly offline: boolean,
  ) {}

  static async create(config: Config, logger: Logger, options: RegistryOptions = {}): Promise<RelyingPartyRegistry> {
    const registry = new RelyingPartyRegistry(
      logger.child({ module: 'relying-parties' }),
      options.fetch ?? globalThis.fetch,
      options.clock ?? systemClock,
      options.store,
      options.offline ?? false,
    );
    try {
      await registry.#load(config, options.pollMs ?? config.relyingPartyRegistry.pollSeconds * 1000);
    } catch (error) {
      await registry.close();
      throw error;
    }
    return registry;
  }

  async #load(config: Config, pollMs: number): Promise<void> {
    const configured = config.relyingParties.map((rp, i) => loadConfigured(rp, `relyingParties[${i}]`, this.logger, this.clock));
    for (const c of configured) {
      const file = c.config.metadata?.file;
      const entry = makeEntry(c, file !== undefined ? this.#readFile(c) : undefined);
      if (file !== undefined) entry.copy = { fetchedAt: statSync(file).mtimeMs, source: file };
      this.#noteUnverifiable(entry.rp);
      this.#entries.set(c.config.entityId, entry);
      this.#configuredIds.add(c.config.entityId);
    }
    this.#configuredWsfed = config.wsfedRelyingParties;
    for (const rp of config.wsfedRelyingParties) this.#configuredIds.add(rp.realm);
    if (config.microsoft365.enabled) this.#configuredIds.add(config.microsoft365.realm);

    if (this.store) {
      try {
        await this.#sync();
      } catch (error) {
        // An admin command must say the store is unreachable; a server starts on its configuration and retries.
        if (this.offline) throw error;
        this.#noteStoreDown(error);
      }
    }
    if (this.offline) return;
    // URL imports run side by side: start-up waits for the slowest SP, at most the fetch timeout.
    await Promise.all([...this.#entries.values()].filter((e) => e.configured.config.metadata?.url).map((e) => this.#refresh(e, 'initial')));
    if (this.store) {
      this.#poll = setInterval(() => void this.#pollOnce(), pollMs);
      this.#poll.unref();
    }
  }

  /** Exact match on entityID: no case folding, no trailing-slash leniency. */
  get(entityId: string): SamlRelyingParty | undefined {
    return this.#entries.get(entityId)?.rp;
  }

  all(): SamlRelyingParty[] {
    return [...this.#entries.values()].map((e) => e.rp);
  }

  /** WS-Federation relying parties: configured, then added with `openfed rp add --wsfed`. */
  wsfed(): WsfedRelyingPartyConfig[] {
    return [...this.#configuredWsfed, ...[...this.#storedWsfed.values()].map((w) => w.config)];
  }

  /** Every SAML relying party with where it comes from and how fresh its metadata is. */
  status(): RelyingPartyStatus[] {
    return [...this.#entries.values()].map((e) => {
      const md = e.configured.config.metadata;
      return {
        rp: e.rp,
        origin: e.stored ? 'added' : 'config',
        ...(md
          ? {
              metadata: {
                ...(md.url !== undefined ? { url: md.url } : {}),
                ...(md.file !== undefined ? { file: md.file } : {}),
                ...(e.copy ? { fetchedAt: e.copy.fetchedAt, source: e.copy.source } : {}),
                ...(e.metadata?.validUntil ? { validUntil: e.metadata.validUntil } : {}),
              },
            }
          : {}),
        ...(e.stored ? { added: { at: e.stored.addedAt, by: e.stored.addedBy } } : {}),
      };
    });
  }

  wsfedStatus(): WsfedRelyingPartyStatus[] {
    return [
      ...this.#configuredWsfed.map((config) => ({ config, origin: 'config' as const })),
      ...[...this.#storedWsfed.values()].map((w) => ({ config: w.config, origin: 'added' as const, added: { at: w.addedAt, by: w.addedBy } })),
    ];
  }

  /** Whether an identifier is taken, by configuration or by the store, in either protocol. */
  has(id: string): boolean {
    return this.#configuredIds.has(id) || this.#entries.has(id) || this.#storedWsfed.has(id);
  }

  /** Whether the configuration file (rather than `openfed rp add`) owns this identifier. */
  isConfigured(id: string): boolean {
    return this.#configuredIds.has(id);
  }

  /**
   * The ACS a response for this request goes to, or undefined to refuse. By index, by URL (which
   * must be one registered for THIS rp: compared exactly, after lower-casing scheme and host only),
   * or the default (isDefault, else the first POST endpoint). SAML forbids index together with URL
   * or binding; such a request is refused rather than guessed at.
   *
   * Endpoints come from the registry's current copy of `rp`, looked up by entityID — never from the
   * object passed in, which may predate a metadata refresh (or not come from the registry at all).
   */
  resolveAcs(rp: SamlRelyingParty, request: { url?: string; index?: number; binding?: string }): AcsEndpoint | undefined {
    const current = this.get(rp.entityId);
    if (!current) return undefined;
    let binding: AcsEndpoint['binding'] | undefined;
    if (request.binding !== undefined) {
      binding = BINDING_URNS.get(request.binding);
      if (!binding) return undefined;
    }
    const candidates = binding ? current.acs.filter((a) => a.binding === binding) : current.acs;

    if (request.index !== undefined) {
      if (request.url !== undefined || binding !== undefined) return undefined;
      return current.acs.find((a) => a.index === request.index);
    }
    if (request.url !== undefined) {
      const wanted = normaliseUrl(request.url);
      if (wanted === undefined) return undefined;
      return candidates.find((a) => normaliseUrl(a.url) === wanted);
    }
    return candidates.find((a) => a.isDefault) ?? (binding ? candidates[0] : candidates.find((a) => a.binding === 'post'));
  }

  /** Bumped whenever any SP's endpoints or certificates change, or an RP is added or removed, so caches built from the registry can rebuild. */
  get version(): number {
    return this.#version;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Fetch every metadata URL now instead of waiting for its timer (tests). */
  async refreshMetadata(): Promise<void> {
    await Promise.all([...this.#entries.values()].filter((e) => e.configured.config.metadata?.url).map((e) => this.#refresh(e, 'refresh')));
  }

  /**
   * `openfed rp refresh`: fetch now — whatever the age of the stored copy — and store what passes the
   * checks, so every node uses it. One result per metadata-URL relying party (or the ones named).
   */
  async refreshNow(ids?: readonly string[]): Promise<RefreshResult[]> {
    const targets = ids ? ids.map((id) => this.#entries.get(id)) : [...this.#entries.values()].filter((e) => e.configured.config.metadata?.url);
    return Promise.all(
      targets.map(async (entry, i) => {
        const entityId = entry?.configured.config.entityId ?? ids?.[i] ?? '';
        const url = entry?.configured.config.metadata?.url;
        if (!entry) return { entityId, ok: false, detail: 'no such SAML relying party' };
        if (url === undefined) return { entityId, ok: false, detail: 'has no metadata URL (imported from a file or configured by hand)' };
        try {
          const fetchedAt = this.clock.now();
          const xml = await fetchSpMetadata(url, this.fetchImpl, this.#closing.signal);
          const metadata = parseSpMetadata(xml, metadataOptions(entry.configured, this.clock));
          if (this.store) await this.store.putMetadata(entityId, encodeMetadataCopy({ xml, fetchedAt, source: url }));
          if (this.#install(entry, metadata, { fetchedAt, source: url })) this.#changed();
          return { entityId, ok: true, detail: describeMetadata(metadata) };
        } catch (error) {
          return { entityId, ok: false, detail: (error as Error).message };
        }
      }),
    );
  }

  /** Stops timers and polling, aborts fetches in flight, closes the store. */
  async close(): Promise<void> {
    this.#closing.abort();
    clearInterval(this.#poll);
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
    await this.store?.close().catch(() => undefined);
  }

  #readFile(c: Configured): SpMetadata {
    const path = c.config.metadata?.file ?? '';
    const key = `${c.key}.metadata.file`;
    if (!existsSync(path)) throw new RelyingPartyConfigError(`configuration key ${key}: file ${path} does not exist`);
    const bytes = readFileSync(path);
    if (bytes.length > MAX_METADATA_BYTES) throw new RelyingPartyConfigError(`configuration key ${key}: larger than ${MAX_METADATA_BYTES} bytes`);
    try {
      return parseSpMetadata(decodeMetadata(bytes), metadataOptions(c, this.clock));
    } catch (error) {
      throw new RelyingPartyConfigError(`configuration key ${key}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** One fetch per SP at a time: an older answer landing after a newer one must not win. */
  #refresh(entry: Entry, phase: 'initial' | 'refresh'): Promise<void> {
    entry.inflight ??= this.#fetchAndInstall(entry, phase).finally(() => {
      entry.inflight = undefined;
    });
    return entry.inflight;
  }

  async #fetchAndInstall(entry: Entry, phase: 'initial' | 'refresh'): Promise<void> {
    const { config } = entry.configured;
    const url = config.metadata?.url ?? '';
    const refreshMs = Math.min((config.metadata?.refreshMinutes ?? 60) * 60_000, MAX_TIMER_MS);
    clearTimeout(entry.timer);
    if (this.store && !(await this.#sharedCopyWillDo(entry, refreshMs))) return;
    try {
      const fetchedAt = this.clock.now();
      const xml = await fetchSpMetadata(url, this.fetchImpl, this.#closing.signal);
      const metadata = parseSpMetadata(xml, metadataOptions(entry.configured, this.clock));
      if (this.#install(entry, metadata, { fetchedAt, source: url })) this.#changed();
      this.logger.debug({ entityId: config.entityId, url }, 'SP metadata imported');
      await this.store?.putMetadata(config.entityId, encodeMetadataCopy({ xml, fetchedAt, source: url })).catch((error: unknown) => {
        this.logger.warn({ entityId: config.entityId, reason: (error as Error).message }, 'fetched SP metadata could not be shared with the other nodes');
      });
    } catch (error) {
      if (this.#closing.signal.aborted) return;
      const reason = (error as Error).message;
      const expiry = entry.metadata?.validUntil;
      if (expiry && expiry.getTime() <= this.clock.now()) {
        // The last good copy has itself expired: serving it would trust certificates and endpoints
        // its publisher no longer vouches for. Configuration alone is what is left.
        this.logger.error({ entityId: config.entityId, url, reason }, 'SP metadata refresh failed and the last good copy expired; using configuration only');
        if (this.#install(entry, undefined, undefined)) this.#changed();
      } else if (phase === 'initial') {
        this.logger.warn({ entityId: config.entityId, url, reason }, 'SP metadata could not be imported at start; using configuration only until a refresh succeeds');
      } else {
        this.logger.warn({ entityId: config.entityId, url, reason }, 'SP metadata refresh failed; keeping the last good copy');
      }
    }
    this.#schedule(entry, refreshMs);
  }

  /**
   * With a store, a node fetches only when the shared copy is due and no other node is fetching it
   * right now; otherwise it schedules the next look and returns false. A store that cannot be reached
   * does not stop the node from fetching for itself.
   */
  async #sharedCopyWillDo(entry: Entry, refreshMs: number): Promise<boolean> {
    const store = this.store!;
    try {
      await this.#sync();
      const age = entry.copy ? this.clock.now() - entry.copy.fetchedAt : Infinity;
      if (age < refreshMs) {
        this.#schedule(entry, refreshMs - age);
        return false;
      }
      if (!(await store.claimFetch(entry.configured.config.entityId, FETCH_CLAIM_MS))) {
        // Another node is fetching: its copy arrives through the poll; look again once its claim lapses.
        this.#schedule(entry, Math.min(refreshMs, FETCH_CLAIM_MS));
        return false;
      }
    } catch (error) {
      if (this.#closing.signal.aborted) return false;
      this.#noteStoreDown(error);
    }
    return true;
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (this.#closing.signal.aborted || this.offline) return;
    clearTimeout(entry.timer);
    // setTimeout fires at once for delays past 2^31-1 ms (~24.8 days), which would turn a long refresh
    // interval into a fetch loop.
    entry.timer = setTimeout(() => void this.#refresh(entry, 'refresh'), Math.max(0, Math.min(delayMs, MAX_TIMER_MS)));
    // A pending refresh must not keep a CLI command or a test process alive.
    entry.timer.unref();
  }

  /** Returns whether anything downstream needs rebuilding; the caller then calls #changed once. */
  #install(entry: Entry, metadata: SpMetadata | undefined, copy: Omit<MetadataCopy, 'xml'> | undefined): boolean {
    const next = makeEntry(entry.configured, metadata);
    entry.metadata = metadata;
    if (copy) entry.copy = copy;
    else delete entry.copy;
    if (next.fingerprint === entry.fingerprint) return false;
    entry.rp = next.rp;
    entry.fingerprint = next.fingerprint;
    this.#noteUnverifiable(entry.rp);
    return true;
  }

  /** Logged when the state starts (load, or a change): a refresh that changes nothing stays quiet. */
  #noteUnverifiable(rp: SamlRelyingParty): void {
    const problem = unverifiableSignedRequests(rp);
    if (problem) {
      this.logger.error(
        { entityId: rp.entityId, requireSignedRequestsFrom: rp.requireSignedRequestsFrom },
        `relying party ${problem} until a signing certificate is configured or in its metadata (or requireSignedRequests: false is configured)`,
      );
    }
  }

  #changed(): void {
    this.#version++;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, 'relying-party change listener failed');
      }
    }
  }

  async #pollOnce(): Promise<void> {
    try {
      await this.#sync();
      if (this.#storeDown) this.logger.info('relying-party store reachable again');
      this.#storeDown = false;
    } catch (error) {
      if (!this.#closing.signal.aborted) this.#noteStoreDown(error);
    }
  }

  #noteStoreDown(error: unknown): void {
    if (this.#storeDown) return;
    this.#storeDown = true;
    const cause = (error as { cause?: unknown }).cause;
    const reason = [(error as Error).message, cause instanceof Error ? cause.message : undefined].filter(Boolean).join(': ');
    this.logger.warn({ reason }, 'relying-party store unreachable: serving the relying parties loaded so far');
  }

  /** Reads the store when its version moved. One at a time: two overlapping reads could apply an older snapshot last. */
  #sync(): Promise<void> {
    this.#syncing ??= this.#applyStore().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #applyStore(): Promise<void> {
    const store = this.store!;
    if ((await store.version()) === this.#storeVersion) return;
    const snapshot = await store.snapshot();
    if (this.#closing.signal.aborted) return;
    let changed = false;

    const present = new Set<string>();
    const added: Entry[] = [];
    for (const [id, encoded] of snapshot.registrations) {
      if (this.#configuredIds.has(id)) {
        this.logger.error({ id }, 'a relying party added with openfed rp add has the identifier of a configured one; the configured one is used');
        continue;
      }
      const existing = this.#entries.get(id)?.stored?.encoded ?? this.#storedWsfed.get(id)?.encoded;
      if (existing === encoded) {
        present.add(id);
        continue;
      }
      try {
        const registration = decodeRegistration(id, encoded);
        if (registration.kind === 'wsfed') {
          this.#dropEntry(id);
          this.#storedWsfed.set(id, { encoded, config: registration.config, addedAt: registration.addedAt, addedBy: registration.addedBy });
        } else {
          const configured = loadConfigured(registration.config, `relying party ${JSON.stringify(id)} (added with openfed rp add)`, this.logger, this.clock);
          this.#dropEntry(id);
          this.#storedWsfed.delete(id);
          const entry: Entry = { ...makeEntry(configured, undefined), stored: { encoded, addedAt: registration.addedAt, addedBy: registration.addedBy } };
          // With metadata the verdict waits for it (a stored copy installed below, or a later fetch).
          if (!configured.config.metadata) this.#noteUnverifiable(entry.rp);
          this.#entries.set(id, entry);
          added.push(entry);
        }
        present.add(id);
        changed = true;
      } catch (error) {
        // Whatever stays in place (an older copy of this RP, if any) keeps serving; the broken entry is not used.
        if (this.#entries.get(id)?.stored || this.#storedWsfed.has(id)) present.add(id);
        this.logger.error({ id, reason: (error as Error).message }, 'a stored relying party is unreadable and was skipped');
      }
    }
    for (const [id, entry] of this.#entries) {
      if (entry.stored && !present.has(id)) {
        this.#dropEntry(id);
        changed = true;
      }
    }
    for (const id of this.#storedWsfed.keys()) {
      if (!present.has(id)) {
        this.#storedWsfed.delete(id);
        changed = true;
      }
    }

    for (const [entityId, encoded] of snapshot.metadata) {
      const entry = this.#entries.get(entityId);
      const md = entry?.configured.config.metadata;
      // A configured metadata file is read where this node runs; only URL imports and added RPs share copies.
      if (!entry || !md || (md.url === undefined && !entry.stored)) continue;
      try {
        const copy = decodeMetadataCopy(encoded);
        if (entry.copy && copy.fetchedAt <= entry.copy.fetchedAt) continue;
        const metadata = parseSpMetadata(copy.xml, metadataOptions(entry.configured, this.clock));
        changed = this.#install(entry, metadata, { fetchedAt: copy.fetchedAt, source: copy.source }) || changed;
      } catch (error) {
        this.logger.error({ entityId, reason: (error as Error).message }, 'a stored SP metadata copy was refused; keeping the last good copy');
      }
    }

    this.#storeVersion = snapshot.version;
    for (const entry of added) {
      if (!entry.configured.config.metadata?.url) continue;
      const refreshMs = Math.min(entry.configured.config.metadata.refreshMinutes * 60_000, MAX_TIMER_MS);
      this.#schedule(entry, entry.copy ? entry.copy.fetchedAt + refreshMs - this.clock.now() : 0);
    }
    if (changed) this.#changed();
  }

  #dropEntry(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry?.stored) return;
    clearTimeout(entry.timer);
    this.#entries.delete(id);
  }
}

function describeMetadata(m: SpMetadata): string {
  const parts = [`${m.acs.length} ACS`, `${m.slo.length} SLO`, `${m.signingCertificates.length} signing certificate(s)`];
  if (m.validUntil) parts.push(`valid until ${m.validUntil.toISOString()}`);
  return parts.join(', ');
}

function metadataOptions(c: Configured, clock: Clock) {
  return {
    entityId: c.config.entityId,
    now: clock.now(),
    ...(c.metadataSigner ? { signingCertificate: c.metadataSigner } : {}),
  };
}

/** Exported for `openfed rp add`: an added relying party is checked exactly as a configured one. */
export function loadConfigured(config: SamlRelyingPartyConfig, key: string, logger: Logger, clock: Clock): Configured {
  const url = config.metadata?.url;
  if (url !== undefined && !isFetchableMetadataUrl(url)) {
    throw new RelyingPartyConfigError(`configuration key ${key}.metadata.url: expected an https:// URL (http:// only to localhost)`);
  }
  const indexes = new Set<number>();
  config.assertionConsumerServices.forEach((acs, j) => {
    if (acs.index === undefined) return;
    if (indexes.has(acs.index)) {
      throw new RelyingPartyConfigError(`configuration key ${key}.assertionConsumerServices[${j}].index: ${acs.index} is used twice`);
    }
    indexes.add(acs.index);
  });
  const cert = (value: string, field: string) => loadCertificate(value, `${key}.${field}`, logger, clock);
  const signingCertificate = config.metadata?.signingCertificate;
  return {
    key,
    config,
    signingCertificates: config.signingCertificates.map((c, j) => cert(c, `signingCertificates[${j}]`)),
    ...(config.encryptionCertificate !== undefined ? { encryptionCertificate: cert(config.encryptionCertificate, 'encryptionCertificate') } : {}),
    ...(signingCertificate !== undefined ? { metadataSigner: cert(signingCertificate, 'metadata.signingCertificate') } : {}),
  };
}

/** Inline PEM, or the path of a PEM (or DER) file. Parsed once, here. */
function loadCertificate(value: string, key: string, logger: Logger, clock: Clock): X509Certificate {
  const inline = value.includes('-----BEGIN');
  if (!inline && !existsSync(value)) throw new RelyingPartyConfigError(`configuration key ${key}: file ${value} does not exist`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(inline ? value : readFileSync(value));
  } catch (error) {
    throw new RelyingPartyConfigError(`configuration key ${key}: not a readable certificate`, { cause: error });
  }
  // SAML trusts pinned keys, not certificate validity (AD FS likewise); an expired one is worth a look, not a refusal.
  if (Date.parse(certificate.validTo) < clock.now()) logger.warn({ key, validTo: certificate.validTo }, 'relying-party certificate has expired');
  return certificate;
}

function makeEntry(c: Configured, metadata: SpMetadata | undefined): Entry {
  const rp = resolveRelyingParty(c, metadata);
  return { configured: c, ...(metadata ? { metadata } : {}), rp, fingerprint: fingerprint(rp) };
}

/**
 * Configuration wins: a non-empty configured ACS or SLO list replaces the metadata's, a configured
 * encryption certificate replaces the metadata's, an explicit requireSignedRequests replaces the
 * metadata's AuthnRequestsSigned, and signing certificates are the union (so an SP can announce its
 * next key in metadata while configuration still pins the current one). Exported for `openfed rp add`.
 */
export function resolveRelyingParty(c: Configured, metadata: SpMetadata | undefined): SamlRelyingParty {
  const {
    assertionConsumerServices,
    singleLogoutServices,
    signingCertificates: _signing,
    encryptionCertificate: _encryption,
    metadata: _metadata,
    requireSignedRequests: configuredRequirement,
    ...rest
  } = c.config;
  const acs: AcsEndpoint[] =
    assertionConsumerServices.length > 0
      ? assertionConsumerServices.map((a) => ({ url: a.url, binding: a.binding, ...(a.index !== undefined ? { index: a.index } : {}), isDefault: a.isDefault }))
      : (metadata?.acs ?? []);
  const slo: SloEndpoint[] =
    singleLogoutServices.length > 0
      ? singleLogoutServices.map((s) => ({ url: s.url, binding: s.binding, ...(s.responseUrl !== undefined ? { responseUrl: s.responseUrl } : {}) }))
      : (metadata?.slo ?? []);
  const encryptionCertificate = c.encryptionCertificate ?? metadata?.encryptionCertificates[0];
  // AuthnRequestsSigned="true" with no signing certificate anywhere still requires signatures: fail
  // closed. The SP said it signs, so an unsigned request bearing its entityID is not its own, and
  // accepting it would let anyone start sign-ons in its name. Refusing to register the SP instead
  // would make one SP's metadata slip fatal at start (metadata files are read strictly) or drop an
  // SP that works today on its next refresh; this way only its AuthnRequests are refused, an error
  // is logged (#noteUnverifiable) and the administrator adds signingCertificates or sets
  // requireSignedRequests: false.
  const requireSignedRequestsFrom: SamlRelyingParty['requireSignedRequestsFrom'] =
    configuredRequirement !== undefined ? 'config' : metadata?.authnRequestsSigned ? 'metadata' : 'default';
  const requireSignedRequests = configuredRequirement ?? metadata?.authnRequestsSigned ?? false;
  return Object.freeze({
    ...rest,
    requireSignedRequests,
    requireSignedRequestsFrom,
    displayName: c.config.name ?? c.config.entityId,
    acs: Object.freeze(acs.map((a) => Object.freeze(a))) as AcsEndpoint[],
    slo: Object.freeze(slo.map((s) => Object.freeze(s))) as SloEndpoint[],
    signingCertificates: Object.freeze(unionOf(c.signingCertificates, metadata?.signingCertificates ?? [])) as X509Certificate[],
    ...(encryptionCertificate ? { encryptionCertificate } : {}),
  });
}

function unionOf(a: X509Certificate[], b: X509Certificate[]): X509Certificate[] {
  const byFingerprint = new Map<string, X509Certificate>();
  for (const cert of [...a, ...b]) if (!byFingerprint.has(cert.fingerprint256)) byFingerprint.set(cert.fingerprint256, cert);
  return [...byFingerprint.values()];
}

/** What a refresh can change; equal fingerprints mean nothing downstream needs rebuilding. */
function fingerprint(rp: SamlRelyingParty): string {
  return JSON.stringify([
    rp.acs,
    rp.slo,
    rp.signingCertificates.map((c) => c.fingerprint256),
    rp.encryptionCertificate?.fingerprint256,
    // Metadata can turn AuthnRequestsSigned on or off: the served copy of rp must follow.
    rp.requireSignedRequests,
  ]);
}

/**
 * Why no AuthnRequest from this SP can be accepted, or undefined: it must sign, and no certificate is
 * known to verify a signature with.
 */
export function unverifiableSignedRequests(rp: SamlRelyingParty): string | undefined {
  if (!rp.requireSignedRequests || rp.signingCertificates.length > 0) return undefined;
  const why = rp.requireSignedRequestsFrom === 'metadata' ? 'its metadata says AuthnRequestsSigned="true"' : 'requireSignedRequests is true';
  return `must sign its AuthnRequests (${why}) but no signing certificate is known: every AuthnRequest from it is refused`;
}

/**
 * Lower-cases scheme and host, nothing else: the path, query, port and percent-encoding must match
 * as registered. A URL with credentials or without an authority never matches.
 */
function normaliseUrl(value: string): string | undefined {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#@]*)([/?#].*)?$/s.exec(value);
  if (!match) return undefined;
  return `${match[1]!.toLowerCase()}://${match[2]!.toLowerCase()}${match[3] ?? ''}`;
}
