/**
 * The relying-party registry: configuration plus imported SP metadata, merged into one read-only
 * view per SP. It is the ONE place that decides where a token may be sent — protocol code asks
 * `resolveAcs` and never trusts a URL from a request on its own.
 *
 * Start-up is strict: a certificate or metadata file that cannot be read stops the process, naming
 * the configuration key. Metadata URLs are the exception: when an SP's web server is down at start,
 * that SP is registered from configuration alone (a warning is logged) and picked up at the next
 * refresh, so one SP cannot keep the federation server — and every other SP — offline.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { SamlRelyingPartyConfig } from './schema.js';
import {
  decodeMetadata,
  fetchSpMetadata,
  isFetchableMetadataUrl,
  MAX_METADATA_BYTES,
  parseSpMetadata,
  type SpMetadata,
} from './sp-metadata.js';

export interface AcsEndpoint {
  url: string;
  binding: 'post' | 'redirect';
  index?: number;
  isDefault: boolean;
}

export interface SloEndpoint {
  url: string;
  binding: 'redirect' | 'post';
  responseUrl?: string;
}

export interface SamlRelyingParty
  extends Omit<
    SamlRelyingPartyConfig,
    'assertionConsumerServices' | 'singleLogoutServices' | 'signingCertificates' | 'encryptionCertificate' | 'metadata'
  > {
  displayName: string;
  acs: AcsEndpoint[];
  slo: SloEndpoint[];
  signingCertificates: X509Certificate[];
  encryptionCertificate?: X509Certificate;
}

/** A configuration problem found while loading relying parties; the message names the key. */
export class RelyingPartyConfigError extends Error {
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
interface Configured {
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
  rp: SamlRelyingParty;
  fingerprint: string;
  timer?: NodeJS.Timeout;
  inflight?: Promise<void> | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class RelyingPartyRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners: Array<() => void> = [];
  readonly #closing = new AbortController();
  #version = 0;

  private constructor(
    private readonly logger: Logger,
    private readonly fetchImpl: typeof fetch,
    private readonly clock: Clock,
  ) {}

  static async create(
    config: Config,
    logger: Logger,
    options: { fetch?: typeof fetch; clock?: Clock } = {},
  ): Promise<RelyingPartyRegistry> {
    const registry = new RelyingPartyRegistry(
      logger.child({ module: 'relying-parties' }),
      options.fetch ?? globalThis.fetch,
      options.clock ?? systemClock,
    );
    const configured = config.relyingParties.map((rp, i) => loadConfigured(rp, `relyingParties[${i}]`, registry.logger, registry.clock));
    for (const c of configured) {
      const metadata = c.config.metadata?.file !== undefined ? registry.#readFile(c) : undefined;
      registry.#entries.set(c.config.entityId, makeEntry(c, metadata));
    }
    // URL imports run side by side: start-up waits for the slowest SP, at most the fetch timeout.
    await Promise.all([...registry.#entries.values()].filter((e) => e.configured.config.metadata?.url).map((e) => registry.#refresh(e, 'initial')));
    return registry;
  }

  /** Exact match on entityID: no case folding, no trailing-slash leniency. */
  get(entityId: string): SamlRelyingParty | undefined {
    return this.#entries.get(entityId)?.rp;
  }

  all(): SamlRelyingParty[] {
    return [...this.#entries.values()].map((e) => e.rp);
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

  /** Bumped whenever any SP's endpoints or certificates change, so caches built from the registry can rebuild. */
  get version(): number {
    return this.#version;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Fetch every metadata URL now instead of waiting for its timer (admin command, tests). */
  async refreshMetadata(): Promise<void> {
    await Promise.all([...this.#entries.values()].filter((e) => e.configured.config.metadata?.url).map((e) => this.#refresh(e, 'refresh')));
  }

  /** Stops refresh timers and aborts fetches in flight. */
  close(): void {
    this.#closing.abort();
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
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
    clearTimeout(entry.timer);
    try {
      const xml = await fetchSpMetadata(url, this.fetchImpl, this.#closing.signal);
      this.#install(entry, parseSpMetadata(xml, metadataOptions(entry.configured, this.clock)));
      this.logger.debug({ entityId: config.entityId, url }, 'SP metadata imported');
    } catch (error) {
      if (this.#closing.signal.aborted) return;
      const reason = (error as Error).message;
      const expiry = entry.metadata?.validUntil;
      if (expiry && expiry.getTime() <= this.clock.now()) {
        // The last good copy has itself expired: serving it would trust certificates and endpoints
        // its publisher no longer vouches for. Configuration alone is what is left.
        this.logger.error({ entityId: config.entityId, url, reason }, 'SP metadata refresh failed and the last good copy expired; using configuration only');
        this.#install(entry, undefined);
      } else if (phase === 'initial') {
        this.logger.warn({ entityId: config.entityId, url, reason }, 'SP metadata could not be imported at start; using configuration only until a refresh succeeds');
      } else {
        this.logger.warn({ entityId: config.entityId, url, reason }, 'SP metadata refresh failed; keeping the last good copy');
      }
    }
    if (this.#closing.signal.aborted) return;
    // setTimeout fires at once for delays past 2^31-1 ms (~24.8 days), which would turn a long refresh
    // interval into a fetch loop.
    const delay = Math.min((config.metadata?.refreshMinutes ?? 60) * 60_000, MAX_TIMER_MS);
    entry.timer = setTimeout(() => void this.#refresh(entry, 'refresh'), delay);
    // A pending refresh must not keep a CLI command or a test process alive.
    entry.timer.unref();
  }

  #install(entry: Entry, metadata: SpMetadata | undefined): void {
    const next = makeEntry(entry.configured, metadata);
    entry.metadata = metadata;
    if (next.fingerprint === entry.fingerprint) return;
    entry.rp = next.rp;
    entry.fingerprint = next.fingerprint;
    this.#version++;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: error }, 'relying-party change listener failed');
      }
    }
  }
}

function metadataOptions(c: Configured, clock: Clock) {
  return {
    entityId: c.config.entityId,
    now: clock.now(),
    ...(c.metadataSigner ? { signingCertificate: c.metadataSigner } : {}),
  };
}

function loadConfigured(config: SamlRelyingPartyConfig, key: string, logger: Logger, clock: Clock): Configured {
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
  const rp = merge(c, metadata);
  return { configured: c, ...(metadata ? { metadata } : {}), rp, fingerprint: fingerprint(rp) };
}

/**
 * Configuration wins: a non-empty configured ACS or SLO list replaces the metadata's, a configured
 * encryption certificate replaces the metadata's, and signing certificates are the union (so an SP
 * can announce its next key in metadata while configuration still pins the current one).
 */
function merge(c: Configured, metadata: SpMetadata | undefined): SamlRelyingParty {
  const {
    assertionConsumerServices,
    singleLogoutServices,
    signingCertificates: _signing,
    encryptionCertificate: _encryption,
    metadata: _metadata,
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
  return Object.freeze({
    ...rest,
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
  return JSON.stringify([rp.acs, rp.slo, rp.signingCertificates.map((c) => c.fingerprint256), rp.encryptionCertificate?.fingerprint256]);
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
