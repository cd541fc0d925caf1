/**
 * Reading the SAML protocol messages a service provider sends us: AuthnRequest, LogoutRequest and
 * LogoutResponse. Pure: DOM in, typed value out. Callers hand in the root of a document that was
 * either verified (only signed bytes) or is unsigned by the RP's own registration.
 */
import { SamlError } from '../../errors.js';
import { NS } from '../../xml/namespaces.js';
import { attribute, isElement, optionalChild, requiredChild, textOf, type Element } from '../../xml/query.js';

export type SamlMessageKind = 'AuthnRequest' | 'LogoutRequest' | 'LogoutResponse';

interface MessageBase {
  id: string;
  issuer: string;
  issueInstant: number;
  destination?: string;
}

export interface AuthnRequest extends MessageBase {
  kind: 'AuthnRequest';
  acsUrl?: string;
  acsIndex?: number;
  protocolBinding?: string;
  forceAuthn: boolean;
  isPassive: boolean;
  nameIdPolicy?: { format?: string; allowCreate?: boolean };
  requestedAuthnContext?: { comparison: 'exact' | 'minimum' | 'maximum' | 'better'; classRefs: string[] };
  /**
   * The requested subject (core §3.4.1): whoever signs in must be this principal, so its NameID is
   * compared in full, never the truncated login hint.
   */
  subject?: { nameId: string; format?: string };
  /** Subject/NameID of the request: a hint of who should sign in. */
  loginHint?: string;
}

export interface LogoutRequest extends MessageBase {
  kind: 'LogoutRequest';
  nameId: string;
  nameIdFormat?: string;
  sessionIndexes: string[];
}

export interface LogoutResponse extends MessageBase {
  kind: 'LogoutResponse';
  inResponseTo?: string;
  statusCode: string;
}

export type SamlRequestMessage = AuthnRequest | LogoutRequest | LogoutResponse;

const invalid = (detail: string) => new SamlError('saml_request_invalid', detail);

/** xs:ID is an NCName; capping the length keeps replay keys and logs small. */
const NCNAME = /^[A-Za-z_][\w.-]{0,255}$/;

export function messageKind(root: Element): SamlMessageKind {
  for (const kind of ['AuthnRequest', 'LogoutRequest', 'LogoutResponse'] as const) {
    if (isElement(root, NS.samlp, kind)) return kind;
  }
  throw invalid(`not a SAML request: {${root.namespaceURI ?? ''}}${root.localName}`);
}

/** The Issuer, read before the signature is checked only to know whose keys to check it with. */
export function peekIssuer(root: Element): string {
  const issuer = optionalChild(root, NS.saml, 'Issuer');
  if (!issuer) throw invalid('no Issuer');
  return issuerValue(issuer);
}

function issuerValue(el: Element): string {
  const value = textOf(el).trim();
  if (value === '' || value.length > 1024) throw invalid('Issuer empty or too long');
  const format = attribute(el, 'Format');
  if (format !== undefined && format !== 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity') throw invalid('Issuer is not an entity');
  return value;
}

function base(root: Element): MessageBase {
  if (attribute(root, 'Version') !== '2.0') {
    throw new SamlError('saml_request_invalid', 'Version is not 2.0', { top: 'VersionMismatch' });
  }
  const id = attribute(root, 'ID');
  if (!id || !NCNAME.test(id)) throw invalid('ID missing or not an xs:ID');
  const instant = attribute(root, 'IssueInstant');
  const issueInstant = instant === undefined ? NaN : parseInstant(instant);
  if (Number.isNaN(issueInstant)) throw invalid('IssueInstant missing or not an xs:dateTime');
  return { id, issuer: peekIssuer(root), issueInstant, destination: attribute(root, 'Destination') };
}

/** xs:dateTime in UTC (SAML core §1.3.3 requires UTC; a "Z" or an offset are both parsed). */
function parseInstant(value: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value)) return NaN;
  return Date.parse(value);
}

function bool(root: Element, name: string): boolean {
  const value = attribute(root, name);
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw invalid(`${name} is not a boolean`);
}

export function readAuthnRequest(root: Element): AuthnRequest {
  if (!isElement(root, NS.samlp, 'AuthnRequest')) throw invalid('not an AuthnRequest');
  const request: AuthnRequest = {
    kind: 'AuthnRequest',
    ...base(root),
    acsUrl: attribute(root, 'AssertionConsumerServiceURL'),
    protocolBinding: attribute(root, 'ProtocolBinding'),
    forceAuthn: bool(root, 'ForceAuthn'),
    isPassive: bool(root, 'IsPassive'),
  };
  const index = attribute(root, 'AssertionConsumerServiceIndex');
  if (index !== undefined) {
    if (!/^\d{1,5}$/.test(index)) throw invalid('AssertionConsumerServiceIndex is not an unsignedShort');
    request.acsIndex = Number(index);
  }
  // SAML core §3.4.1: the URL and the index are mutually exclusive.
  if (request.acsUrl !== undefined && request.acsIndex !== undefined) throw invalid('both AssertionConsumerServiceURL and Index');

  const policy = optionalChild(root, NS.samlp, 'NameIDPolicy');
  if (policy) {
    const allowCreate = attribute(policy, 'AllowCreate');
    request.nameIdPolicy = {
      format: attribute(policy, 'Format'),
      allowCreate: allowCreate === undefined ? undefined : allowCreate === 'true' || allowCreate === '1',
    };
  }

  const context = optionalChild(root, NS.samlp, 'RequestedAuthnContext');
  if (context) {
    const comparison = attribute(context, 'Comparison') ?? 'exact';
    if (!['exact', 'minimum', 'maximum', 'better'].includes(comparison)) throw invalid('unknown RequestedAuthnContext Comparison');
    const classRefs: string[] = [];
    for (let node = context.firstChild; node; node = node.nextSibling) {
      if (isElement(node, NS.saml, 'AuthnContextClassRef')) classRefs.push(textOf(node).trim());
      else if (isElement(node, NS.saml, 'AuthnContextDeclRef')) throw new SamlError('saml_request_invalid', 'AuthnContextDeclRef is not supported', { top: 'Requester', sub: 'NoAuthnContext' });
    }
    request.requestedAuthnContext = { comparison: comparison as 'exact', classRefs };
  }

  const subject = optionalChild(root, NS.saml, 'Subject');
  if (subject) {
    const nameId = optionalChild(subject, NS.saml, 'NameID');
    if (nameId) {
      const value = textOf(nameId).trim();
      // An empty NameID names nobody; treating it as "no identifier" would drop the check silently.
      if (value === '') throw invalid('empty Subject NameID');
      request.subject = { nameId: value, format: attribute(nameId, 'Format') };
      request.loginHint = value.slice(0, 256);
    } else if (optionalChild(subject, NS.saml, 'EncryptedID') || optionalChild(subject, NS.saml, 'BaseID')) {
      // A subject we cannot read could not be compared with the signed-in user: refusing is the
      // only answer that never issues an assertion for someone else.
      throw new SamlError('saml_request_invalid', 'Subject without a plain NameID (EncryptedID and BaseID are not supported)', {
        top: 'Requester',
        sub: 'RequestUnsupported',
      });
    }
    // A Subject with only SubjectConfirmation names no one: the presenter is the requested subject (core §3.4.1).
  }
  return request;
}

export function readLogoutRequest(root: Element): LogoutRequest {
  if (!isElement(root, NS.samlp, 'LogoutRequest')) throw invalid('not a LogoutRequest');
  const nameIdEl = optionalChild(root, NS.saml, 'NameID');
  if (!nameIdEl) throw invalid('LogoutRequest without a plain NameID (EncryptedID and BaseID are not supported)');
  const sessionIndexes: string[] = [];
  for (let node = root.firstChild; node; node = node.nextSibling) {
    if (isElement(node, NS.samlp, 'SessionIndex')) sessionIndexes.push(textOf(node).trim());
  }
  return {
    kind: 'LogoutRequest',
    ...base(root),
    nameId: textOf(nameIdEl).trim(),
    nameIdFormat: attribute(nameIdEl, 'Format'),
    sessionIndexes,
  };
}

export function readLogoutResponse(root: Element): LogoutResponse {
  if (!isElement(root, NS.samlp, 'LogoutResponse')) throw invalid('not a LogoutResponse');
  const status = requiredChild(root, NS.samlp, 'Status');
  const code = requiredChild(status, NS.samlp, 'StatusCode');
  return {
    kind: 'LogoutResponse',
    ...base(root),
    inResponseTo: attribute(root, 'InResponseTo'),
    statusCode: attribute(code, 'Value') ?? '',
  };
}
