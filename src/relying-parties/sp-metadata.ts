/**
 * SAML 2.0 service-provider metadata: reading an md:EntityDescriptor (alone or inside an
 * md:EntitiesDescriptor) into the endpoints and certificates the registry merges with configuration,
 * and fetching it over HTTPS with the limits a remote document deserves.
 *
 * Everything XML goes through src/xml: no DTDs, one root, namespace-exact queries. When the
 * administrator pinned a metadata signing certificate, only the document that `verifySignedRoot`
 * hands back (re-parsed from the signed bytes) is ever read.
 */
import { X509Certificate } from 'node:crypto';
import { XmlError } from '../xml/errors.js';
import { NS } from '../xml/namespaces.js';
import { parseXml } from '../xml/parse.js';
import { attribute, childElements, textOf, type Element } from '../xml/query.js';
import { verifySignedRoot } from '../xml/verify.js';
import { InternalError } from '../errors.js';

/** Largest metadata document read, from a file or the network. Federation aggregates are bigger; a single SP's is not. */
export const MAX_METADATA_BYTES = 1_048_576;
export const METADATA_FETCH_TIMEOUT_MS = 10_000;

const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';

/** The only bindings we can answer on. Artifact, PAOS and SOAP endpoints are skipped, not refused. */
const BINDINGS: ReadonlyMap<string, 'post' | 'redirect'> = new Map([
  ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'post'],
  ['urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', 'redirect'],
]);

/** Endpoints as metadata and configuration give them; registry.ts re-exports these for protocol code. */
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

export interface SpMetadata {
  entityId: string;
  acs: AcsEndpoint[];
  slo: SloEndpoint[];
  signingCertificates: X509Certificate[];
  encryptionCertificates: X509Certificate[];
  /**
   * SPSSODescriptor AuthnRequestsSigned (SAML metadata §2.4.4): the SP says it signs its requests, so
   * an unsigned one claiming to be from it is not its own. Absent means false.
   */
  authnRequestsSigned: boolean;
  /** The earliest validUntil between the root and the SPSSODescriptor, when any is given. */
  validUntil?: Date;
}

export class SpMetadataError extends InternalError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpMetadataError';
  }
}

export interface ParseSpMetadataOptions {
  /** The configured entityId: metadata describing anyone else is refused. */
  entityId: string;
  /** When set, the document must be signed at its root by exactly this certificate. */
  signingCertificate?: X509Certificate;
  /** Epoch ms, for validUntil. */
  now: number;
}

export function parseSpMetadata(xml: string, options: ParseSpMetadataOptions): SpMetadata {
  try {
    return read(xml, options);
  } catch (error) {
    if (error instanceof XmlError) throw new SpMetadataError(`metadata refused: ${error.message}`, { cause: error });
    throw error;
  }
}

function read(xml: string, options: ParseSpMetadataOptions): SpMetadata {
  const root = readRoot(xml, options.signingCertificate);
  const validity = new Validity();

  const entity = findEntity(root, options.entityId, validity);
  const sso = childElements(entity, NS.md, 'SPSSODescriptor').find((el) =>
    (attribute(el, 'protocolSupportEnumeration') ?? '').split(/\s+/).includes(SAML2_PROTOCOL),
  );
  if (!sso) throw new SpMetadataError('metadata has no SPSSODescriptor for the SAML 2.0 protocol');
  validity.note(sso);
  validity.check(options.now);

  const keys = readKeyDescriptors(sso);
  return {
    entityId: options.entityId,
    acs: readAcs(sso),
    slo: readSlo(sso),
    signingCertificates: keys.signing,
    encryptionCertificates: keys.encryption,
    authnRequestsSigned: parseBoolean(attribute(sso, 'AuthnRequestsSigned'), 'SPSSODescriptor AuthnRequestsSigned'),
    ...(validity.earliest ? { validUntil: validity.earliest } : {}),
  };
}

function readRoot(xml: string, signingCertificate: X509Certificate | undefined): Element {
  try {
    if (signingCertificate) {
      return verifySignedRoot(xml, { certificates: [signingCertificate], maxBytes: MAX_METADATA_BYTES }).root;
    }
    const root = parseXml(xml, { maxBytes: MAX_METADATA_BYTES }).documentElement;
    if (!root) throw new SpMetadataError('metadata has no root element');
    return root;
  } catch (error) {
    if (error instanceof SpMetadataError || !(error instanceof XmlError)) throw error;
    const what = signingCertificate ? 'metadata signature not accepted' : 'metadata is not acceptable XML';
    throw new SpMetadataError(`${what}: ${error.message}`, { cause: error });
  }
}

/**
 * The EntityDescriptor for `entityId`: the root itself, or one inside (possibly nested)
 * EntitiesDescriptors. Every ancestor's validUntil counts, since an expired aggregate expires its members.
 */
function findEntity(root: Element, entityId: string, validity: Validity): Element {
  if (isMd(root, 'EntityDescriptor')) {
    const found = attribute(root, 'entityID');
    if (found !== entityId) {
      throw new SpMetadataError(`metadata entityID ${quote(found)} is not the configured entityId ${quote(entityId)}`);
    }
    validity.note(root);
    return root;
  }
  if (isMd(root, 'EntitiesDescriptor')) {
    const path = searchEntities(root, entityId);
    if (!path) throw new SpMetadataError(`metadata holds no EntityDescriptor for the configured entityId ${quote(entityId)}`);
    for (const el of path) validity.note(el);
    return path[path.length - 1] as Element;
  }
  throw new SpMetadataError(`metadata root is ${quote(root.localName ?? undefined)} in ${quote(root.namespaceURI ?? '')}, not md:EntityDescriptor`);
}

function searchEntities(group: Element, entityId: string): Element[] | undefined {
  const direct = childElements(group, NS.md, 'EntityDescriptor').filter((el) => attribute(el, 'entityID') === entityId);
  if (direct.length > 1) throw new SpMetadataError(`metadata describes ${quote(entityId)} more than once`);
  if (direct[0]) return [group, direct[0]];
  for (const nested of childElements(group, NS.md, 'EntitiesDescriptor')) {
    const path = searchEntities(nested, entityId);
    if (path) return [group, ...path];
  }
  return undefined;
}

function readAcs(sso: Element): AcsEndpoint[] {
  const acs: AcsEndpoint[] = [];
  const seen = new Set<number>();
  for (const el of childElements(sso, NS.md, 'AssertionConsumerService')) {
    const binding = BINDINGS.get(attribute(el, 'Binding') ?? '');
    if (!binding) continue;
    const index = parseIndex(attribute(el, 'index'));
    // Two endpoints under one index would make AssertionConsumerServiceIndex ambiguous.
    if (index !== undefined) {
      if (seen.has(index)) throw new SpMetadataError(`metadata repeats AssertionConsumerService index ${index}`);
      seen.add(index);
    }
    acs.push({
      url: endpointUrl(attribute(el, 'Location'), 'AssertionConsumerService Location'),
      binding,
      ...(index !== undefined ? { index } : {}),
      isDefault: parseBoolean(attribute(el, 'isDefault'), 'AssertionConsumerService isDefault'),
    });
  }
  return acs;
}

function readSlo(sso: Element): SloEndpoint[] {
  const slo: SloEndpoint[] = [];
  for (const el of childElements(sso, NS.md, 'SingleLogoutService')) {
    const binding = BINDINGS.get(attribute(el, 'Binding') ?? '');
    if (!binding) continue;
    const responseLocation = attribute(el, 'ResponseLocation');
    slo.push({
      url: endpointUrl(attribute(el, 'Location'), 'SingleLogoutService Location'),
      binding,
      ...(responseLocation !== undefined
        ? { responseUrl: endpointUrl(responseLocation, 'SingleLogoutService ResponseLocation') }
        : {}),
    });
  }
  return slo;
}

/** KeyDescriptor without `use` serves both purposes (SAML metadata §2.4.1.1). */
function readKeyDescriptors(sso: Element): { signing: X509Certificate[]; encryption: X509Certificate[] } {
  const signing: X509Certificate[] = [];
  const encryption: X509Certificate[] = [];
  for (const descriptor of childElements(sso, NS.md, 'KeyDescriptor')) {
    const use = attribute(descriptor, 'use');
    if (use !== undefined && use !== 'signing' && use !== 'encryption') {
      throw new SpMetadataError(`metadata KeyDescriptor has an unknown use ${quote(use)}`);
    }
    const certificates = childElements(descriptor, NS.ds, 'KeyInfo')
      .flatMap((keyInfo) => childElements(keyInfo, NS.ds, 'X509Data'))
      .flatMap((data) => childElements(data, NS.ds, 'X509Certificate'))
      .map((el) => parseCertificate(textOf(el)));
    if (use !== 'encryption') signing.push(...certificates);
    if (use !== 'signing') encryption.push(...certificates);
  }
  return { signing, encryption };
}

function parseCertificate(base64: string): X509Certificate {
  const compact = base64.replace(/\s+/g, '');
  // Buffer.from(…, 'base64') skips junk silently; a certificate that is not clean base64 is refused.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new SpMetadataError('metadata X509Certificate is not base64');
  try {
    return new X509Certificate(Buffer.from(compact, 'base64'));
  } catch (error) {
    throw new SpMetadataError('metadata X509Certificate is not a readable certificate', { cause: error });
  }
}

/**
 * Endpoints are where tokens go, so they must be absolute http(s) URLs without credentials. They are
 * kept as written (xs:anyURI whitespace aside), because ACS matching compares strings exactly.
 */
function endpointUrl(value: string | undefined, what: string): string {
  const url = value?.trim();
  if (!url) throw new SpMetadataError(`metadata ${what} is missing`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SpMetadataError(`metadata ${what} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new SpMetadataError(`metadata ${what} is not http(s)`);
  if (parsed.username || parsed.password) throw new SpMetadataError(`metadata ${what} carries credentials`);
  return url;
}

function parseIndex(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,5}$/.test(value.trim())) throw new SpMetadataError(`metadata AssertionConsumerService index ${quote(value)} is not an unsigned short`);
  const index = Number(value.trim());
  if (index > 65_535) throw new SpMetadataError(`metadata AssertionConsumerService index ${index} is not an unsigned short`);
  return index;
}

function parseBoolean(value: string | undefined, what: string): boolean {
  switch (value?.trim()) {
    case undefined:
    case 'false':
    case '0':
      return false;
    case 'true':
    case '1':
      return true;
    default:
      throw new SpMetadataError(`metadata ${what} ${quote(value ?? '')} is not a boolean`);
  }
}

/** Collects validUntil attributes; the earliest one wins. An unreadable one is refused rather than ignored. */
class Validity {
  earliest: Date | undefined;

  note(el: Element): void {
    const value = attribute(el, 'validUntil');
    if (value === undefined) return;
    // xs:dateTime; Date.parse also takes looser forms, so insist on the shape first.
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value.trim()) ? Date.parse(value.trim()) : NaN;
    if (Number.isNaN(ms)) throw new SpMetadataError(`metadata validUntil ${quote(value)} is not an xs:dateTime with a time zone`);
    if (!this.earliest || ms < this.earliest.getTime()) this.earliest = new Date(ms);
  }

  check(now: number): void {
    if (this.earliest && this.earliest.getTime() <= now) {
      throw new SpMetadataError(`metadata expired at ${this.earliest.toISOString()} (validUntil)`);
    }
  }
}

function isMd(el: Element, localName: string): boolean {
  return el.namespaceURI === NS.md && el.localName === localName;
}

/** Values from a remote document end up in log lines: bounded and visibly quoted. */
function quote(value: string | undefined): string {
  if (value === undefined) return '(none)';
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

// --------------------------------------------------------------------------- fetching

/**
 * Metadata is fetched over HTTPS only: it carries the certificates we trust and the URLs we send
 * tokens to. Plain http is allowed to the loopback interface, for tests and a local sidecar.
 */
export function isFetchableMetadataUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/**
 * GET a metadata document: 10 s for the whole exchange, at most 1 MiB, no redirects (a redirect
 * could leave HTTPS or the host the administrator named), UTF-8 only.
 */
export async function fetchSpMetadata(url: string, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<string> {
  if (!isFetchableMetadataUrl(url)) throw new SpMetadataError('metadata URL must be https:// (http:// only to localhost)');
  const timeout = AbortSignal.timeout(METADATA_FETCH_TIMEOUT_MS);
  const response = await fetchImpl(url, {
    redirect: 'error',
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    headers: { accept: 'application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8' },
  });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new SpMetadataError(`metadata URL answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > MAX_METADATA_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw new SpMetadataError(`metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  }
  return decodeMetadata(await readCapped(response, MAX_METADATA_BYTES));
}

/** UTF-8 only, refused rather than patched with U+FFFD when invalid; a leading BOM is dropped. */
export function decodeMetadata(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new SpMetadataError('metadata is not UTF-8', { cause: error });
  }
}

/** Reads a body, giving up as soon as it passes `cap`: a Content-Length header is only a promise. */
async function readCapped(response: Response, cap: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      throw new SpMetadataError(`metadata is larger than ${cap} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The entityID of a document whose root is one md:EntityDescriptor, for `openfed rp add` without
 * --entity-id; undefined for an aggregate (the admin must then say which entity is meant).
 */
export function soleEntityId(xml: string): string | undefined {
  let root: Element | null;
  try {
    root = parseXml(xml, { maxBytes: MAX_METADATA_BYTES }).documentElement;
  } catch (error) {
    if (error instanceof XmlError) throw new SpMetadataError(`metadata is not acceptable XML: ${error.message}`, { cause: error });
    throw error;
  }
  return root && isMd(root, 'EntityDescriptor') ? attribute(root, 'entityID') : undefined;
}
