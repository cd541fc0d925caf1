/**
 * SAML 2.0 IdP metadata, shaped like AD FS's IDPSSODescriptor (federation reference §2.7): signing
 * KeyDescriptors, SLO and SSO at /adfs/ls/ for Redirect and POST, the NameID formats we issue, and
 * the attributes relying parties are configured to receive. Signed at the root with the primary
 * token-signing key, Signature first, as AD FS publishes it.
 *
 * Pure: the same inputs (and, with validForHours, clock reading) give the same bytes.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';
import { escapeXml } from '../xml/escape.js';
import { NS } from '../xml/namespaces.js';
import { signElement } from '../xml/sign.js';
import { ATTRNAME_FORMAT, NAME_ID_FORMAT } from '../protocols/saml2/constants.js';

const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

export interface OfferedAttribute {
  name: string;
  nameFormat?: keyof typeof ATTRNAME_FORMAT;
  friendlyName?: string;
}

/** `SigningKey` from keys/ fits both shapes. */
export interface IdpMetadataKeys {
  /** Signs the metadata and is published first. */
  primary: { privateKey: KeyObject; certificateBase64: string };
  /** Published too during a rollover, so relying parties trust it before it starts signing. */
  next?: { certificateBase64: string };
}

export interface IdpMetadataInput {
  /** The Federation Service identifier (`federationIdentifier(config)`). */
  entityId: string;
  /** `config.server.baseUrl`; endpoints are `<baseUrl>/adfs/ls/`. */
  baseUrl: string;
  keys: IdpMetadataKeys;
  attributes: readonly OfferedAttribute[];
  clock: Clock;
  /**
   * When set, validUntil = now + this. Off by default, like AD FS: consumers poll the URL, and a
   * document served from a cache must not expire under them.
   */
  validForHours?: number;
}

export const IDP_SSO_PATH = '/adfs/ls/';

/** Hundreds of offered attributes stay far below this; it only lifts the signer's message-sized default. */
const MAX_METADATA_BYTES = 1_048_576;

export function buildIdpMetadata(input: IdpMetadataInput): string {
  const endpoint = escapeXml(`${input.baseUrl.replace(/\/+$/, '')}${IDP_SSO_PATH}`);
  const certificates = [input.keys.primary.certificateBase64, ...(input.keys.next ? [input.keys.next.certificateBase64] : [])];
  const now = input.clock.now();
  const validUntil = input.validForHours !== undefined ? new Date(now + input.validForHours * 3_600_000).toISOString() : undefined;
  const offered = uniqueByName(input.attributes);
  const id = documentId([input.entityId, input.baseUrl, certificates, offered, validUntil ?? null]);

  const keyDescriptors = certificates.map(
    (cert) =>
      `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${escapeXml(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
  );
  const services = (element: string) =>
    [BINDING.redirect, BINDING.post].map((binding) => `<md:${element} Binding="${binding}" Location="${endpoint}"/>`);
  const nameIdFormats = Object.values(NAME_ID_FORMAT).map((uri) => `<md:NameIDFormat>${uri}</md:NameIDFormat>`);
  const attributes = offered.map(
    (a) =>
      `<saml:Attribute Name="${escapeXml(a.name)}" NameFormat="${ATTRNAME_FORMAT[a.nameFormat ?? 'uri']}"` +
      (a.friendlyName !== undefined ? ` FriendlyName="${escapeXml(a.friendlyName)}"` : '') +
      '/>',
  );

  // Element order is the schema's (RoleDescriptor, SSODescriptor, IDPSSODescriptor sequences); strict
  // consumers validate it.
  const xml =
    `<md:EntityDescriptor xmlns:md="${NS.md}" xmlns:ds="${NS.ds}" xmlns:saml="${NS.saml}" ID="${id}" entityID="${escapeXml(input.entityId)}"` +
    (validUntil ? ` validUntil="${validUntil}"` : '') +
    '>' +
    `<md:IDPSSODescriptor protocolSupportEnumeration="${SAML2_PROTOCOL}" WantAuthnRequestsSigned="false">` +
    keyDescriptors.join('') +
    services('SingleLogoutService').join('') +
    nameIdFormats.join('') +
    services('SingleSignOnService').join('') +
    attributes.join('') +
    '</md:IDPSSODescriptor>' +
    '</md:EntityDescriptor>';

  return signElement(xml, { key: input.keys.primary, algorithm: 'rsa-sha256', referenceId: id, maxBytes: MAX_METADATA_BYTES });
}

/**
 * An xs:ID derived from the content rather than random: RSA PKCS#1 v1.5 signatures are deterministic
 * too, so every node of a farm serves the same bytes under the same ETag, and a changed document gets
 * a new ID.
 */
function documentId(content: unknown[]): string {
  return `_${createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32)}`;
}

/** Two relying parties releasing the same attribute must not list it twice; the first description wins. */
function uniqueByName(attributes: readonly OfferedAttribute[]): OfferedAttribute[] {
  const byName = new Map<string, OfferedAttribute>();
  for (const a of attributes) if (!byName.has(a.name)) byName.set(a.name, a);
  return [...byName.values()];
}
