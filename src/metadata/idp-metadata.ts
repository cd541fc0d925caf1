/**
 * Federation metadata shaped like AD FS's /FederationMetadata/2007-06/FederationMetadata.xml
 * (federation reference §2.7): one EntityDescriptor, entityID = the Federation Service identifier,
 * signed at the root with the primary token-signing key (Signature first, rsa-sha256, exc-c14n),
 * holding in AD FS's order
 *   1. RoleDescriptor xsi:type="fed:ApplicationServiceType": signing keys, TargetScopes, passive endpoint;
 *   2. RoleDescriptor xsi:type="fed:SecurityTokenServiceType": signing keys, token types, the claim
 *      types offered, the WS-Trust endpoint with its MEX reference (only when WS-Trust is served) and
 *      the passive endpoint /adfs/ls/ — what Entra ID reads for WS-Federation and for token-signing
 *      certificate rollover;
 *   3. IDPSSODescriptor: signing keys, SLO and SSO at /adfs/ls/ for Redirect and POST, the NameID
 *      formats we issue, and the attributes relying parties are configured to receive.
 * AD FS also publishes an SPSSODescriptor (itself as SP toward claims-provider trusts, ACS at /adfs/ls/);
 * OpenFed has no claims-provider trusts, so publishing one would advertise an endpoint that does not exist.
 *
 * Pure: the same inputs (and, with validForHours, clock reading) give the same bytes.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';
import { escapeXml } from '../xml/escape.js';
import { NS, SAML11_ASSERTION_NS } from '../xml/namespaces.js';
import { signElement } from '../xml/sign.js';
import { ATTRNAME_FORMAT, BINDING, NAME_ID_FORMAT } from '../protocols/saml2/constants.js';
import { CLAIM_TYPE } from '../claims/claim-types.js';
import { WS_TRUST_PATHS } from '../protocols/wstrust/constants.js';

const SAML2_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';

/** WS-Federation metadata namespaces, with the prefixes AD FS uses. */
export const WSFED_NS = {
  fed: 'http://docs.oasis-open.org/wsfed/federation/200706',
  auth: 'http://docs.oasis-open.org/wsfed/authorization/200706',
  wsa: 'http://www.w3.org/2005/08/addressing',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  mex: 'http://schemas.xmlsoap.org/ws/2004/09/mex',
} as const;

/** protocolSupportEnumeration values of the WS-* role descriptors. */
export const WSFED_PROTOCOL = {
  federation: 'http://docs.oasis-open.org/wsfed/federation/200706',
  wsTrust13: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  wsTrust2005: 'http://schemas.xmlsoap.org/ws/2005/02/trust',
} as const;

/** fed:TokenTypesOffered, in AD FS's order. */
export const TOKEN_TYPES_OFFERED = ['urn:oasis:names:tc:SAML:2.0:assertion', SAML11_ASSERTION_NS] as const;

export { CLAIM_TYPE };

export interface OfferedClaimType {
  uri: string;
  displayName: string;
  description: string;
}

/**
 * fed:ClaimTypesOffered of the STS role: the claim types OpenFed can issue. AD FS's order and wording
 * for the ones AD FS lists; ImmutableID and psso (issued to Microsoft 365 by rule, not listed by
 * AD FS) at the end.
 */
export const OFFERED_CLAIM_TYPES: readonly OfferedClaimType[] = Object.freeze(
  [
    { uri: CLAIM_TYPE.emailAddress, displayName: 'E-Mail Address', description: 'The e-mail address of the user' },
    { uri: CLAIM_TYPE.givenName, displayName: 'Given Name', description: 'The given name of the user' },
    { uri: CLAIM_TYPE.name, displayName: 'Name', description: 'The unique name of the user' },
    { uri: CLAIM_TYPE.upn, displayName: 'UPN', description: 'The user principal name (UPN) of the user' },
    { uri: CLAIM_TYPE.group, displayName: 'Group', description: 'A group that the user is a member of' },
    { uri: CLAIM_TYPE.adfs1Upn, displayName: 'AD FS 1.x UPN', description: 'The UPN of the user when interoperating with AD FS 1.1 or AD FS 1.0' },
    { uri: CLAIM_TYPE.surname, displayName: 'Surname', description: 'The surname of the user' },
    { uri: CLAIM_TYPE.nameIdentifier, displayName: 'Name ID', description: 'The SAML name identifier of the user' },
    { uri: CLAIM_TYPE.groupSid, displayName: 'Group SID', description: 'The group SID of the user' },
    {
      uri: CLAIM_TYPE.insideCorporateNetwork,
      displayName: 'Inside Corporate Network',
      description: 'Used to indicate if a request originated inside corporate network',
    },
    {
      uri: CLAIM_TYPE.authnMethodsReferences,
      displayName: 'Authentication Methods References',
      description: 'Used to indicate all authentication methods used to authenticate the user',
    },
    {
      uri: CLAIM_TYPE.immutableId,
      displayName: 'ImmutableID',
      description: 'The source anchor of the user in Microsoft Entra ID (base64 of ms-DS-ConsistencyGuid or objectGUID)',
    },
    { uri: CLAIM_TYPE.psso, displayName: 'Persistent SSO', description: 'Used to indicate that the session may be persisted (keep me signed in)' },
  ].map((c) => Object.freeze(c)),
);

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
  /** Former primaries, published after the others until they expire: tokens they signed still validate. */
  previous?: readonly { certificateBase64: string }[];
}

/** Where WS-Trust is served; paths are relative to baseUrl. */
export interface WsTrustEndpoints {
  /** fed:SecurityTokenServiceEndpoint address. Default AD FS's `/adfs/services/trust/2005/usernamemixed`. */
  endpointPath?: string;
  /** WS-MetadataExchange address nested in the endpoint reference. Default AD FS's `/adfs/services/trust/mex`. */
  mexPath?: string;
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
  /**
   * Set only once WS-Trust is actually served: adds fed:SecurityTokenServiceEndpoint (and the WS-Trust
   * protocols) to the STS role. Off by default: advertising an endpoint that does not answer sends rich
   * clients into a dead end.
   */
  wsTrust?: WsTrustEndpoints;
  /** ServiceDisplayName of the WS-Federation roles (AD FS: the Federation Service display name). */
  serviceDisplayName?: string;
}

export const IDP_SSO_PATH = '/adfs/ls/';

/** Hundreds of offered attributes stay far below this; it only lifts the signer's message-sized default. */
const MAX_METADATA_BYTES = 1_048_576;

export function buildIdpMetadata(input: IdpMetadataInput): string {
  const base = input.baseUrl.replace(/\/+$/, '');
  const passive = `${base}${IDP_SSO_PATH}`;
  const endpoint = escapeXml(passive);
  const certificates = [
    input.keys.primary.certificateBase64,
    ...(input.keys.next ? [input.keys.next.certificateBase64] : []),
    ...(input.keys.previous ?? []).map((k) => k.certificateBase64),
  ];
  const now = input.clock.now();
  const validUntil = input.validForHours !== undefined ? new Date(now + input.validForHours * 3_600_000).toISOString() : undefined;
  const offered = uniqueByName(input.attributes);

  const keyDescriptors = certificates
    .map(
      (cert) =>
        `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${escapeXml(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    )
    .join('');
  const services = (element: string) =>
    [BINDING.redirect, BINDING.post].map((binding) => `<md:${element} Binding="${binding}" Location="${endpoint}"/>`);
  const nameIdFormats = Object.values(NAME_ID_FORMAT).map((uri) => `<md:NameIDFormat>${uri}</md:NameIDFormat>`);
  const attributes = offered.map(
    (a) =>
      `<saml:Attribute Name="${escapeXml(a.name)}" NameFormat="${ATTRNAME_FORMAT[a.nameFormat ?? 'uri']}"` +
      (a.friendlyName !== undefined ? ` FriendlyName="${escapeXml(a.friendlyName)}"` : '') +
      '/>',
  );

  const wsTrust =
    input.wsTrust !== undefined
      ? {
          address: `${base}${input.wsTrust.endpointPath ?? WS_TRUST_PATHS.usernameMixed['2005']}`,
          mex: `${base}${input.wsTrust.mexPath ?? WS_TRUST_PATHS.mex}`,
        }
      : undefined;
  // As AD FS: a role speaking WS-Trust lists both WS-Trust versions before WS-Federation.
  const protocols = (wsTrustSpoken: boolean) =>
    [...(wsTrustSpoken ? [WSFED_PROTOCOL.wsTrust13, WSFED_PROTOCOL.wsTrust2005] : []), WSFED_PROTOCOL.federation].join(' ');
  const roleStart = (type: 'ApplicationServiceType' | 'SecurityTokenServiceType', wsTrustSpoken: boolean) =>
    `<md:RoleDescriptor xmlns:xsi="${WSFED_NS.xsi}" xmlns:fed="${WSFED_NS.fed}" xmlns:wsa="${WSFED_NS.wsa}" xsi:type="fed:${type}"` +
    ` protocolSupportEnumeration="${protocols(wsTrustSpoken)}"` +
    (input.serviceDisplayName !== undefined ? ` ServiceDisplayName="${escapeXml(input.serviceDisplayName)}"` : '') +
    '>';
  const endpointReference = (address: string, metadata = '') =>
    `<wsa:EndpointReference><wsa:Address>${escapeXml(address)}</wsa:Address>${metadata}</wsa:EndpointReference>`;
  const passiveRequestor = `<fed:PassiveRequestorEndpoint>${endpointReference(passive)}</fed:PassiveRequestorEndpoint>`;

  // WebServiceDescriptorType's sequence (KeyDescriptor, TokenTypesOffered, ClaimTypesOffered, TargetScopes),
  // then the role's endpoints. The schema makes one WS-Trust endpoint mandatory per role; it is left out
  // where OpenFed serves none, since consumers (WIF, Microsoft.IdentityModel, Entra ID) read the keys
  // and the passive endpoint, and a dead active endpoint is worse than none. The application-service
  // role never has one: AD FS's ApplicationServiceEndpoint is an issuedtokenmixed endpoint (AD FS as a
  // relying party taking tokens from other STSes), which OpenFed does not serve; usernamemixed belongs
  // to the STS role alone. Hence that role speaks WS-Federation only.
  const applicationService =
    roleStart('ApplicationServiceType', false) +
    keyDescriptors +
    `<fed:TargetScopes>${endpointReference(passive)}${endpointReference(input.entityId)}</fed:TargetScopes>` +
    passiveRequestor +
    '</md:RoleDescriptor>';

  const claimTypes = OFFERED_CLAIM_TYPES.map(
    (c) =>
      `<auth:ClaimType xmlns:auth="${WSFED_NS.auth}" Uri="${escapeXml(c.uri)}" Optional="true">` +
      `<auth:DisplayName>${escapeXml(c.displayName)}</auth:DisplayName><auth:Description>${escapeXml(c.description)}</auth:Description>` +
      '</auth:ClaimType>',
  ).join('');
  const securityTokenService =
    roleStart('SecurityTokenServiceType', wsTrust !== undefined) +
    keyDescriptors +
    `<fed:TokenTypesOffered>${TOKEN_TYPES_OFFERED.map((t) => `<fed:TokenType Uri="${t}"/>`).join('')}</fed:TokenTypesOffered>` +
    `<fed:ClaimTypesOffered>${claimTypes}</fed:ClaimTypesOffered>` +
    (wsTrust
      ? `<fed:SecurityTokenServiceEndpoint>${endpointReference(
          wsTrust.address,
          `<wsa:Metadata><mex:Metadata xmlns:mex="${WSFED_NS.mex}"><mex:MetadataSection Dialect="${WSFED_NS.mex}">` +
            `<mex:MetadataReference>${`<wsa:Address>${escapeXml(wsTrust.mex)}</wsa:Address>`}</mex:MetadataReference>` +
            '</mex:MetadataSection></mex:Metadata></wsa:Metadata>',
        )}</fed:SecurityTokenServiceEndpoint>`
      : '') +
    passiveRequestor +
    '</md:RoleDescriptor>';

  const idpSso =
    `<md:IDPSSODescriptor protocolSupportEnumeration="${SAML2_PROTOCOL}" WantAuthnRequestsSigned="false">` +
    keyDescriptors +
    services('SingleLogoutService').join('') +
    nameIdFormats.join('') +
    services('SingleSignOnService').join('') +
    attributes.join('') +
    '</md:IDPSSODescriptor>';

  // Role descriptors in AD FS's order (application service, STS, [SP], IdP); within each, the schema's
  // element order, which strict consumers validate.
  const content = applicationService + securityTokenService + idpSso;
  const id = documentId([input.entityId, validUntil ?? null, content]);
  const xml =
    `<md:EntityDescriptor xmlns:md="${NS.md}" xmlns:ds="${NS.ds}" xmlns:saml="${NS.saml}" ID="${id}" entityID="${escapeXml(input.entityId)}"` +
    (validUntil ? ` validUntil="${validUntil}"` : '') +
    '>' +
    content +
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
