/**
 * The WS-Federation passive sign-in response, as AD FS emits it: a WS-Trust 2005/02
 * RequestSecurityTokenResponse carrying a signed SAML 1.1 assertion (or a SAML 2.0 one for RPs that
 * ask). Pure; every value escaped. The assertion is written in exclusive canonical form and signed by
 * xml/canonical-sign without re-parsing.
 */
import { signCanonical, type CanonicalElement } from '../../xml/canonical-sign.js';
import { c14nAttribute as a, c14nText as t, escapeXml as x } from '../../xml/escape.js';
import type { SigningKeyMaterial } from '../../xml/sign.js';
import type { SignatureAlgorithm } from '../../xml/verify.js';
import { buildAssertion, newSamlId, type SamlAttribute } from '../saml2/response.js';
import { ATTRNAME_FORMAT } from '../saml2/constants.js';

export const TOKEN_TYPE = {
  saml11: 'urn:oasis:names:tc:SAML:1.0:assertion',
  saml2: 'urn:oasis:names:tc:SAML:2.0:assertion',
} as const;

export const SAML11_BEARER = 'urn:oasis:names:tc:SAML:1.0:cm:bearer';

export interface Claim {
  /** Claim type URI, e.g. http://schemas.xmlsoap.org/claims/UPN. */
  type: string;
  values: string[];
  /** xsi:type of the values (AD FS types insidecorporatenetwork as xs:boolean). */
  valueType?: 'boolean';
}

export interface TokenInput {
  issuer: string;
  realm: string;
  /** The reply URL the token is POSTed to (SAML 2.0 Recipient). */
  replyUrl: string;
  now: number;
  lifetimeMs: number;
  skewMs: number;
  nameIdentifier: { format: string; value: string };
  claims: Claim[];
  authnMethod: string;
  authnInstant: number;
  /** SAML 2.0 tokens only. */
  sessionIndex: string;
  tokenType: keyof typeof TOKEN_TYPE;
  key: SigningKeyMaterial;
  algorithm: SignatureAlgorithm;
  /** xs:ID generator; default newSamlId. Tests inject a deterministic one to compare signing paths. */
  newId?: () => string;
}

const instant = (ms: number) => new Date(ms).toISOString();

/**
 * SAML 1.1 names an attribute by namespace + name: a claim type URI splits at its last "/"
 * (http://schemas.xmlsoap.org/claims/UPN → namespace http://schemas.xmlsoap.org/claims, name UPN).
 */
export function splitClaimType(type: string): { namespace: string; name: string } {
  const slash = type.lastIndexOf('/');
  return slash > 0 && slash < type.length - 1 ? { namespace: type.slice(0, slash), name: type.slice(slash + 1) } : { namespace: '', name: type };
}

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XS = 'http://www.w3.org/2001/XMLSchema';

/**
 * A boolean-typed value, as AD FS types insidecorporatenetwork. The tn prefix is used only inside the
 * b:type value, which exc-c14n does not count as visibly utilised: the canonical form (what the digest
 * covers) has no xmlns:tn, while the token keeps it so the xsi:type resolves for the relying party. The
 * canonical start tag can only ever be this markup (values are escaped), so it is swapped after signing.
 */
export const BOOLEAN_VALUE_CANONICAL = `<saml:AttributeValue xmlns:b="${XSI}" b:type="tn:boolean">`;
export const BOOLEAN_VALUE_SENT = `<saml:AttributeValue xmlns:b="${XSI}" xmlns:tn="${XS}" b:type="tn:boolean">`;

/** The SAML 1.1 assertion, canonical, its Signature the last child (the SAML 1.1 schema puts it there). */
function saml11Assertion(input: TokenInput): CanonicalElement {
  const id = (input.newId ?? newSamlId)();
  const subject =
    `<saml:Subject><saml:NameIdentifier Format="${a(input.nameIdentifier.format)}">${t(input.nameIdentifier.value)}</saml:NameIdentifier>` +
    `<saml:SubjectConfirmation><saml:ConfirmationMethod>${SAML11_BEARER}</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>`;
  let attributes = '';
  for (const claim of input.claims) {
    if (claim.values.length === 0) continue;
    const { namespace, name } = splitClaimType(claim.type);
    const valueStart = claim.valueType === 'boolean' ? BOOLEAN_VALUE_CANONICAL : '<saml:AttributeValue>';
    attributes += `<saml:Attribute AttributeName="${a(name)}" AttributeNamespace="${a(namespace)}">`;
    for (const value of claim.values) attributes += `${valueStart}${t(value)}</saml:AttributeValue>`;
    attributes += '</saml:Attribute>';
  }
  const end = '</saml:Assertion>';
  const xml =
    `<saml:Assertion xmlns:saml="${TOKEN_TYPE.saml11}" AssertionID="${id}" IssueInstant="${instant(input.now)}" Issuer="${a(input.issuer)}" MajorVersion="1" MinorVersion="1">` +
    `<saml:Conditions NotBefore="${instant(input.now - input.skewMs)}" NotOnOrAfter="${instant(input.now + input.lifetimeMs)}">` +
    `<saml:AudienceRestrictionCondition><saml:Audience>${t(input.realm)}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>` +
    // An AttributeStatement must hold at least one Attribute (SAML 1.1 schema), so none means none.
    (attributes ? `<saml:AttributeStatement>${subject}${attributes}</saml:AttributeStatement>` : '') +
    `<saml:AuthenticationStatement AuthenticationInstant="${instant(input.authnInstant)}" AuthenticationMethod="${a(input.authnMethod)}">${subject}</saml:AuthenticationStatement>` +
    end;
  return { xml, id, signatureAt: xml.length - end.length };
}

function saml2Assertion(input: TokenInput): CanonicalElement {
  const attributes: SamlAttribute[] = input.claims.map((c) => ({ name: c.type, nameFormat: ATTRNAME_FORMAT.uri, values: c.values }));
  return buildAssertion({
    issuer: input.issuer,
    now: input.now,
    destination: input.replyUrl,
    audience: input.realm,
    nameId: input.nameIdentifier,
    authnInstant: input.authnInstant,
    sessionIndex: input.sessionIndex,
    authnContextClassRef: input.authnMethod,
    attributes,
    lifetimeMs: input.lifetimeMs,
    skewMs: input.skewMs,
    deliveryMs: input.lifetimeMs,
    newId: input.newId,
  });
}

/**
 * The unsigned assertion of a sign-in response in canonical form (for SAML 1.1 boolean values: see
 * BOOLEAN_VALUE_CANONICAL). Exported for the tests that compare the signing paths.
 */
export function buildTokenAssertion(input: TokenInput): CanonicalElement {
  return input.tokenType === 'saml2' ? saml2Assertion(input) : saml11Assertion(input);
}

/** The assertion signed, as it goes into the RSTR. */
export function signTokenAssertion(assertion: CanonicalElement, input: Pick<TokenInput, 'key' | 'algorithm'>): string {
  const signed = signCanonical(assertion, { key: input.key, algorithm: input.algorithm });
  return signed.includes(BOOLEAN_VALUE_CANONICAL) ? signed.replaceAll(BOOLEAN_VALUE_CANONICAL, BOOLEAN_VALUE_SENT) : signed;
}

/** The wresult: an RSTR with the signed assertion, lifetime, AppliesTo and token type. */
export function buildSignInResponse(input: TokenInput): string {
  // Signed on its own, then placed in the RSTR: exclusive c14n makes the signature independent of
  // the envelope, exactly as relying parties verify it after taking the assertion out.
  const signed = signTokenAssertion(buildTokenAssertion(input), input);
  const wsu = 'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"';
  return (
    '<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">' +
    `<t:Lifetime><wsu:Created ${wsu}>${instant(input.now)}</wsu:Created><wsu:Expires ${wsu}>${instant(input.now + input.lifetimeMs)}</wsu:Expires></t:Lifetime>` +
    '<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">' +
    `<wsa:Address>${x(input.realm)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
    `<t:RequestedSecurityToken>${signed}</t:RequestedSecurityToken>` +
    `<t:TokenType>${TOKEN_TYPE[input.tokenType]}</t:TokenType>` +
    '<t:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</t:RequestType>' +
    '<t:KeyType>http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey</t:KeyType>' +
    '</t:RequestSecurityTokenResponse>'
  );
}
