/**
 * Building the SAML Responses we send: a signed assertion for a successful sign-in, a status-only
 * Response for a refusal, and LogoutRequest/LogoutResponse for single logout. Pure: every value is
 * escaped, time comes from the caller, and signing goes through xml/sign (xml-crypto).
 */
import { randomBytes } from 'node:crypto';
import type { SamlSubStatus, SamlTopStatus } from '../../errors.js';
import { escapeXml as x } from '../../xml/escape.js';
import type { SigningKeyMaterial } from '../../xml/sign.js';
import type { SignatureAlgorithm } from '../../xml/verify.js';
import { CM_BEARER, STATUS_PREFIX, STATUS_SUCCESS } from './constants.js';

/** xs:ID values: a letter first, 128 random bits. */
export function newSamlId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

const instant = (ms: number) => new Date(ms).toISOString();

const P = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"';
const A = 'xmlns="urn:oasis:names:tc:SAML:2.0:assertion"';

export interface SamlAttribute {
  name: string;
  nameFormat: string;
  friendlyName?: string;
  values: string[];
}

export interface AssertionInput {
  issuer: string;
  now: number;
  inResponseTo?: string;
  /** The ACS URL the Response is POSTed to: Destination and Recipient. */
  destination: string;
  audience: string;
  nameId: { format: string; value: string };
  authnInstant: number;
  sessionIndex: string;
  authnContextClassRef: string;
  attributes: SamlAttribute[];
  /** Conditions NotOnOrAfter − IssueInstant. */
  lifetimeMs: number;
  /** Conditions NotBefore = IssueInstant − skew, for SPs whose clock runs early. */
  skewMs: number;
  /** Bearer confirmation: the Response must be delivered within this (AD FS: 5 minutes). */
  deliveryMs: number;
}

export interface BuiltResponse {
  xml: string;
  responseId: string;
  assertionId: string;
}

/** A SAML 2.0 Assertion on its own: inside a Response here, inside a WS-Trust RSTR for WS-Federation. */
export function buildAssertion(input: AssertionInput): { xml: string; assertionId: string } {
  const assertionId = newSamlId();
  const inResponseTo = input.inResponseTo === undefined ? '' : ` InResponseTo="${x(input.inResponseTo)}"`;
  const attributes = input.attributes.filter((a) => a.values.length > 0);
  const attributeStatement = attributes.length
    ? `<AttributeStatement>${attributes
        .map(
          (a) =>
            `<Attribute Name="${x(a.name)}" NameFormat="${x(a.nameFormat)}"${a.friendlyName ? ` FriendlyName="${x(a.friendlyName)}"` : ''}>` +
            a.values.map((v) => `<AttributeValue>${x(v)}</AttributeValue>`).join('') +
            '</Attribute>',
        )
        .join('')}</AttributeStatement>`
    : '';
  const xml =
    `<Assertion ${A} ID="${assertionId}" IssueInstant="${instant(input.now)}" Version="2.0">` +
    `<Issuer>${x(input.issuer)}</Issuer>` +
    `<Subject><NameID Format="${x(input.nameId.format)}">${x(input.nameId.value)}</NameID>` +
    `<SubjectConfirmation Method="${CM_BEARER}"><SubjectConfirmationData${inResponseTo} NotOnOrAfter="${instant(input.now + input.deliveryMs)}" Recipient="${x(input.destination)}"/></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${instant(input.now - input.skewMs)}" NotOnOrAfter="${instant(input.now + input.lifetimeMs)}">` +
    `<AudienceRestriction><Audience>${x(input.audience)}</Audience></AudienceRestriction></Conditions>` +
    attributeStatement +
    `<AuthnStatement AuthnInstant="${instant(input.authnInstant)}" SessionIndex="${x(input.sessionIndex)}">` +
    `<AuthnContext><AuthnContextClassRef>${x(input.authnContextClassRef)}</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    '</Assertion>';
  return { xml, assertionId };
}

export function buildSuccessResponse(input: AssertionInput): BuiltResponse {
  const responseId = newSamlId();
  const { xml: assertion, assertionId } = buildAssertion(input);
  const inResponseTo = input.inResponseTo === undefined ? '' : ` InResponseTo="${x(input.inResponseTo)}"`;
  const xml =
    `<samlp:Response ${P} ID="${responseId}" Version="2.0" IssueInstant="${instant(input.now)}" Destination="${x(input.destination)}"` +
    ` Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified"${inResponseTo}>` +
    `<Issuer ${A}>${x(input.issuer)}</Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS_SUCCESS}"/></samlp:Status>` +
    assertion +
    '</samlp:Response>';
  return { xml, responseId, assertionId };
}

export interface SignPolicy {
  signAssertion: boolean;
  signResponse: boolean;
  key: SigningKeyMaterial;
  algorithm: SignatureAlgorithm;
}

function statusXml(top: SamlTopStatus | 'Success', sub?: SamlSubStatus, message?: string): string {
  const inner = sub ? `<samlp:StatusCode Value="${STATUS_PREFIX}${sub}"/>` : '';
  const code = top === 'Success' ? STATUS_SUCCESS : `${STATUS_PREFIX}${top}`;
  return (
    `<samlp:Status>${inner ? `<samlp:StatusCode Value="${code}">${inner}</samlp:StatusCode>` : `<samlp:StatusCode Value="${code}"/>`}` +
    (message ? `<samlp:StatusMessage>${x(message)}</samlp:StatusMessage>` : '') +
    '</samlp:Status>'
  );
}

export interface ErrorResponseInput {
  issuer: string;
  now: number;
  inResponseTo?: string;
  destination: string;
  status: { top: SamlTopStatus; sub?: SamlSubStatus };
  /** A short, safe explanation for the SP's logs (never internal detail). */
  message?: string;
}

/** A Response with a non-success status and no assertion: how a refusal reaches a trusted SP. */
export function buildErrorResponse(input: ErrorResponseInput): { xml: string; responseId: string } {
  const responseId = newSamlId();
  const inResponseTo = input.inResponseTo === undefined ? '' : ` InResponseTo="${x(input.inResponseTo)}"`;
  const xml =
    `<samlp:Response ${P} ID="${responseId}" Version="2.0" IssueInstant="${instant(input.now)}" Destination="${x(input.destination)}"${inResponseTo}>` +
    `<Issuer ${A}>${x(input.issuer)}</Issuer>` +
    statusXml(input.status.top, input.status.sub, input.message) +
    '</samlp:Response>';
  return { xml, responseId };
}

export interface LogoutRequestInput {
  issuer: string;
  now: number;
  destination: string;
  nameId: { format: string; value: string };
  sessionIndex: string;
}

export function buildLogoutRequest(input: LogoutRequestInput): { xml: string; id: string } {
  const id = newSamlId();
  const xml =
    `<samlp:LogoutRequest ${P} ID="${id}" Version="2.0" IssueInstant="${instant(input.now)}" Destination="${x(input.destination)}">` +
    `<Issuer ${A}>${x(input.issuer)}</Issuer>` +
    `<NameID ${A} Format="${x(input.nameId.format)}">${x(input.nameId.value)}</NameID>` +
    `<samlp:SessionIndex>${x(input.sessionIndex)}</samlp:SessionIndex>` +
    '</samlp:LogoutRequest>';
  return { xml, id };
}

export interface LogoutResponseInput {
  issuer: string;
  now: number;
  destination: string;
  inResponseTo: string;
  /** partial: some other SP did not confirm; unknown-principal: the request named another session. */
  outcome: 'success' | 'partial' | 'unknown-principal';
}

export function buildLogoutResponse(input: LogoutResponseInput): { xml: string; id: string } {
  const id = newSamlId();
  // PartialLogout: our session did end, but some other SP may still hold one (core §3.2.2.2).
  const status =
    input.outcome === 'success'
      ? statusXml('Success')
      : input.outcome === 'partial'
        ? statusXml('Success', 'PartialLogout')
        : statusXml('Requester', 'UnknownPrincipal');
  const xml =
    `<samlp:LogoutResponse ${P} ID="${id}" Version="2.0" IssueInstant="${instant(input.now)}" Destination="${x(input.destination)}" InResponseTo="${x(input.inResponseTo)}">` +
    `<Issuer ${A}>${x(input.issuer)}</Issuer>` +
    status +
    '</samlp:LogoutResponse>';
  return { xml, id };
}
