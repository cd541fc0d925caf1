/**
 * Signed federation metadata (WS-Federation roles and the SAML IdP role), built once and served as precomputed bytes. A request never signs or
 * serialises anything; it compares a key-set string and the registry version, and rebuilds only when
 * one of them moved (key rollover, SP metadata refresh changing the offered attributes).
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { RelyingPartyRegistry } from '../relying-parties/registry.js';
import { buildIdpMetadata, type IdpMetadataKeys, type OfferedAttribute, type WsTrustEndpoints } from './idp-metadata.js';

export interface MetadataDocument {
  body: Buffer;
  /** Strong ETag (quoted) of body. */
  etag: string;
  contentType: 'application/samlmetadata+xml';
}

export interface MetadataCacheOptions {
  /** The Federation Service identifier (`federationIdentifier(config)`). */
  entityId: string;
  /** `config.server.baseUrl`. */
  baseUrl: string;
  /**
   * The current token-signing keys; read on every `get()`, so a rollover shows without wiring. Return
   * `next` (the secondary certificate) during a rollover: it is published in every role, after the primary.
   */
  keys: () => IdpMetadataKeys;
  registry: Pick<RelyingPartyRegistry, 'version' | 'all'>;
  clock: Clock;
  /** Pass only once WS-Trust is served: adds fed:SecurityTokenServiceEndpoint to the STS role. */
  wsTrust?: WsTrustEndpoints;
  /** ServiceDisplayName of the WS-Federation roles. */
  serviceDisplayName?: string;
}

interface Built {
  keySet: string;
  registryVersion: number;
  document: MetadataDocument;
}

export class MetadataCache {
  #built: Built;

  /** Builds straight away, so a signing problem shows at start-up rather than on the first request. */
  constructor(private readonly options: MetadataCacheOptions) {
    this.#built = this.#build(options.keys());
  }

  get(): MetadataDocument {
    const keys = this.options.keys();
    if (keySetOf(keys) !== this.#built.keySet || this.options.registry.version !== this.#built.registryVersion) {
      this.#built = this.#build(keys);
    }
    return this.#built.document;
  }

  #build(keys: IdpMetadataKeys): Built {
    // Read before building: a registry change during the build then triggers one more rebuild, never a stale cache.
    const registryVersion = this.options.registry.version;
    const xml = buildIdpMetadata({
      entityId: this.options.entityId,
      baseUrl: this.options.baseUrl,
      keys,
      attributes: offeredAttributes(this.options.registry),
      clock: this.options.clock,
      ...(this.options.wsTrust !== undefined ? { wsTrust: this.options.wsTrust } : {}),
      ...(this.options.serviceDisplayName !== undefined ? { serviceDisplayName: this.options.serviceDisplayName } : {}),
    });
    const body = Buffer.from(xml, 'utf8');
    return {
      keySet: keySetOf(keys),
      registryVersion,
      document: {
        body,
        etag: `"${createHash('sha256').update(body).digest('base64url')}"`,
        contentType: 'application/samlmetadata+xml',
      },
    };
  }
}

/** Which certificates are published; the private key follows the primary certificate. */
function keySetOf(keys: IdpMetadataKeys): string {
  return [keys.primary, keys.next, ...(keys.previous ?? [])].map((k) => k?.certificateBase64 ?? '').join('|');
}

function offeredAttributes(registry: Pick<RelyingPartyRegistry, 'all'>): OfferedAttribute[] {
  return registry.all().flatMap((rp) =>
    rp.attributes.map((a) => ({
      name: a.name,
      nameFormat: a.nameFormat,
      ...(a.friendlyName !== undefined ? { friendlyName: a.friendlyName } : {}),
    })),
  );
}
