/**
 * Building the SAML Responses we send: a signed assertion for a successful sign-in, a status-only
 * Response for a refusal, and LogoutRequest/LogoutResponse for single logout. Pure: every value is
 * escaped and time comes from the caller.
 *
 * Assertions and success Responses are written in Exclusive XML Canonicalization form (attributes in
 * canonical order, c14n escaping, no empty-element tags), so xml/canonical-sign signs them without
 * re-parsing (sealResponse). The other messages go through xml/sign (xml-crypto).
 */
import { randomFillSync } from 'node:crypto';
import type { SamlSubStatus, SamlTopStatus } from '../../errors.js';
import type { CanonicalElement } from '../../xml/canonical-sign.js';
import { c14nAttribute as a, c14nText as t, escapeXml as x } from '../../xml/escape.js';
import type { SigningKeyMaterial } from '../../xml/sign.js';
import type { SignatureAlgorithm } from '../../xml/verify.js';
import { CM_BEARER, STATUS_PREFIX, STATUS_SUCCESS } from './constants.js';

// Random bytes drawn 4 KB at a time: one CSPRNG call per 256 ids instead of one per id, which cost
// more than building the whole assertion (as crypto.randomUUID caches its entropy too).
const idPool = Buffer.alloc(4096);
let idPoolOffset = idPool.length;

/** xs:ID values: a letter first, 128 random bits. */
export function newSamlId(): string {
  if (idPoolOffset === idPool.length) {
    randomFillSync(idPool);
    idPoolOffset = 0;
  }
  const id = `_${idPool.toString('hex', idPoolOffset, idPoolOffset + 16)}`;
  idPoolOffset += 16;
  return id;
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
  /** xs:ID generator; default newSamlId. Tests inject a deterministic one to compare signing paths. */
  newId?: () => string;
}

export interface BuiltResponse {
  /** The unsigned Response, in exclusive canonical form. */
  xml: string;
  responseId: string;
  assertionId: string;
  /**
   * xml in the pieces sealing needs: xml === head + status + assertion.xml + RESPONSE_END. The Response's
   * Signature goes right after head (its start tag and Issuer); the assertion may be signed or replaced.
   */
  head: string;
  status: string;
  assertion: CanonicalElement;
}

export const RESPONSE_END = '</samlp:Response>';

/**
 * A SAML 2.0 Assertion on its own, in canonical form: inside a Response here, inside a WS-Trust RSTR
 * for WS-Federation. Its Signature goes right after Issuer.
 */
export function buildAssertion(input: AssertionInput): CanonicalElement {
  const id = (input.newId ?? newSamlId)();
  const inResponseTo = input.inResponseTo === undefined ? '' : ` InResponseTo="${a(input.inResponseTo)}"`;
  let attributeStatement = '';
  for (const attr of input.attributes) {
    if (attr.values.length === 0) continue;
    const friendlyName = attr.friendlyName ? ` FriendlyName="${a(attr.friendlyName)}"` : '';
    attributeStatement += `<Attribute${friendlyName} Name="${a(attr.name)}" NameFormat="${a(attr.nameFormat)}">`;
    for (const value of attr.values) attributeStatement += `<AttributeValue>${t(value)}</AttributeValue>`;
    attributeStatement += '</Attribute>';
  }
  const head = `<Assertion ${A} ID="${id}" IssueInstant="${instant(input.now)}" Version="2.0"><Issuer>${t(input.issuer)}</Issuer>`;
  const xml =
    head +
    `<Subject><NameID Format="${a(input.nameId.format)}">${t(input.nameId.value)}</NameID>` +
    `<SubjectConfirmation Method="${CM_BEARER}"><SubjectConfirmationData${inResponseTo} NotOnOrAfter="${instant(input.now + input.deliveryMs)}" Recipient="${a(input.destination)}"></SubjectConfirmationData></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${instant(input.now - input.skewMs)}" NotOnOrAfter="${instant(input.now + input.lifetimeMs)}">` +
    `<AudienceRestriction><Audience>${t(input.audience)}</Audience></AudienceRestriction></Conditions>` +
    (attributeStatement ? `<AttributeStatement>${attributeStatement}</AttributeStatement>` : '') +
    `<AuthnStatement AuthnInstant="${instant(input.authnInstant)}" SessionIndex="${a(input.sessionIndex)}">` +
    `<AuthnContext><AuthnContextClassRef>${t(input.authnContextClassRef)}</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    '</Assertion>';
  return { xml, id, signatureAt: head.length };
}

export function buildSuccessResponse(input: AssertionInput): BuiltResponse {
  const responseId = (input.newId ?? newSamlId)();
  const assertion = buildAssertion(input);
  const inResponseTo = input.inResponseTo === undefined ? '' : ` InResponseTo="${a(input.inResponseTo)}"`;
  const head =
    `<samlp:Response ${P} Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified" Destination="${a(input.destination)}"` +
    ` ID="${responseId}"${inResponseTo} IssueInstant="${instant(input.now)}" Version="2.0">` +
    `<Issuer ${A}>${t(input.issuer)}</Issuer>`;
  const status = `<samlp:Status><samlp:StatusCode Value="${STATUS_SUCCESS}"></samlp:StatusCode></samlp:Status>`;
  return { xml: head + status + assertion.xml + RESPONSE_END, responseId, assertionId: assertion.id, head, status, assertion };
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
