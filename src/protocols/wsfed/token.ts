/**
 * The WS-Federation passive sign-in response, as AD FS emits it: a WS-Trust 2005/02
 * RequestSecurityTokenResponse carrying a signed SAML 1.1 assertion (or a SAML 2.0 one for RPs that
 * ask). Pure; every value escaped; the signature made by xml/sign (xml-crypto).
 */
import { escapeXml as x } from '../../xml/escape.js';
import { signElement, type SigningKeyMaterial } from '../../xml/sign.js';
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

function saml11Assertion(input: TokenInput): { xml: string; id: string } {
  const id = newSamlId();
  const subject =
    `<saml:Subject><saml:NameIdentifier Format="${x(input.nameIdentifier.format)}">${x(input.nameIdentifier.value)}</saml:NameIdentifier>` +
    `<saml:SubjectConfirmation><saml:ConfirmationMethod>${SAML11_BEARER}</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>`;
  const attributes = input.claims
    .filter((c) => c.values.length > 0)
    .map((c) => {
      const { namespace, name } = splitClaimType(c.type);
      const typed = c.valueType === 'boolean' ? ' xmlns:tn="http://www.w3.org/2001/XMLSchema" xmlns:b="http://www.w3.org/2001/XMLSchema-instance" b:type="tn:boolean"' : '';
      return (
        `<saml:Attribute AttributeName="${x(name)}" AttributeNamespace="${x(namespace)}">` +
        c.values.map((v) => `<saml:AttributeValue${typed}>${x(v)}</saml:AttributeValue>`).join('') +
        '</saml:Attribute>'
      );
    })
    .join('');
  const xml =
    `<saml:Assertion xmlns:saml="${TOKEN_TYPE.saml11}" MajorVersion="1" MinorVersion="1" AssertionID="${id}" Issuer="${x(input.issuer)}" IssueInstant="${instant(input.now)}">` +
    `<saml:Conditions NotBefore="${instant(input.now - input.skewMs)}" NotOnOrAfter="${instant(input.now + input.lifetimeMs)}">` +
    `<saml:AudienceRestrictionCondition><saml:Audience>${x(input.realm)}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>` +
    // An AttributeStatement must hold at least one Attribute (SAML 1.1 schema), so none means none.
    (attributes ? `<saml:AttributeStatement>${subject}${attributes}</saml:AttributeStatement>` : '') +
    `<saml:AuthenticationStatement AuthenticationMethod="${x(input.authnMethod)}" AuthenticationInstant="${instant(input.authnInstant)}">${subject}</saml:AuthenticationStatement>` +
    '</saml:Assertion>';
  return { xml, id };
}

function saml2Assertion(input: TokenInput): { xml: string; id: string } {
  const attributes: SamlAttribute[] = input.claims.map((c) => ({ name: c.type, nameFormat: ATTRNAME_FORMAT.uri, values: c.values }));
  const { xml, assertionId } = buildAssertion({
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
  });
  return { xml, id: assertionId };
}

/** The wresult: an RSTR with the signed assertion, lifetime, AppliesTo and token type. */
export function buildSignInResponse(input: TokenInput): string {
  const assertion = input.tokenType === 'saml2' ? saml2Assertion(input) : saml11Assertion(input);
  // Signed on its own, then placed in the RSTR: exclusive c14n makes the signature independent of
  // the envelope, exactly as relying parties verify it after taking the assertion out.
  const signed = signElement(assertion.xml, { key: input.key, algorithm: input.algorithm, referenceId: assertion.id });
  const wsu = 'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"';
  return (
    '<t:RequestSecurityTokenResponse xmlns:t="http://schemas.xmlsoap.org/ws/2005/02/trust">' +
    `<t:Lifetime><wsu:Created ${wsu}>${instant(input.now)}</wsu:Created><wsu:Expires ${wsu}>${instant(input.now + input.lifetimeMs)}</wsu:Expires></t:Lifetime>` +
    '<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">' +
    `<wsa:Address>${x(input.realm)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
    `<t:RequestedSecurityToken>${signed.replace(/^<\?xml[^>]*>/, '')}</t:RequestedSecurityToken>` +
    `<t:TokenType>${TOKEN_TYPE[input.tokenType]}</t:TokenType>` +
    '<t:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</t:RequestType>' +
    '<t:KeyType>http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey</t:KeyType>' +
    '</t:RequestSecurityTokenResponse>'
  );
}
