/**
 * What Microsoft Entra ID expects of a federation server, as pure functions: which federated domain a
 * user belongs to, the issuer per domain (AD FS -SupportMultipleDomain), the ImmutableID source
 * anchor, and the insidecorporatenetwork claim.
 */
import { BlockList, isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Principal } from '../directory/types.js';
import { TokenRefusedError } from '../errors.js';
import type { samlRelyingPartySchema } from '../relying-parties/schema.js';
import type { z } from 'zod';
import { claimValues } from './values.js';

type SamlRelyingPartyInput = z.input<typeof samlRelyingPartySchema>;

export type Microsoft365Config = Config['microsoft365'];

/**
 * The federated domain for a UPN: its suffix, or the nearest parent that is federated (Entra treats
 * a subdomain as part of its root domain: user@sales.contoso.com uses contoso.com's issuer).
 */
export function federatedDomainFor(upn: string, domains: readonly string[]): string | undefined {
  const at = upn.lastIndexOf('@');
  if (at < 0) return undefined;
  const suffix = upn.slice(at + 1).toLowerCase();
  const federated = new Set(domains.map((d) => d.toLowerCase()));
  for (let candidate = suffix; candidate.includes('.'); candidate = candidate.slice(candidate.indexOf('.') + 1)) {
    if (federated.has(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The token Issuer for a federated domain. With several domains each has its own, with the trailing
 * slash AD FS's issuerid rule emits: it must equal the domain's issuerUri in Entra ID byte for byte.
 */
export function microsoft365Issuer(config: Microsoft365Config, federationIdentifier: string, domain: string): string {
  return config.supportMultipleDomain ? `http://${domain}/adfs/services/trust/` : federationIdentifier;
}

/** The claim source behind the configured source anchor. */
export function immutableIdClaimSource(source: Microsoft365Config['immutableIdSource']): 'immutableId' | 'objectGuid' | 'consistencyGuid' {
  return source === 'auto' ? 'immutableId' : source;
}

/** ImmutableID per the configured source anchor; undefined when the forced source is not set on the user. */
export function microsoft365ImmutableId(principal: Principal, source: Microsoft365Config['immutableIdSource']): string | undefined {
  return claimValues(principal, immutableIdClaimSource(source))[0];
}

/**
 * Microsoft 365 as a SAML 2.0 SP (domains with preferredAuthenticationProtocol = saml): Entra POSTs
 * an AuthnRequest without ACS and wants a signed assertion to login.srf, NameID persistent =
 * ImmutableID, and IDPEmail = UPN.
 */
export function microsoft365SamlRelyingParty(config: Microsoft365Config): SamlRelyingPartyInput {
  return {
    entityId: config.realm,
    name: 'Microsoft Office 365 Identity Platform',
    assertionConsumerServices: [{ url: config.replyUrl, binding: 'post', isDefault: true }],
    nameId: { format: 'persistent', source: immutableIdClaimSource(config.immutableIdSource) },
    attributes: [{ name: 'IDPEmail', source: 'upn', nameFormat: 'unspecified' }],
    ...(config.accessPolicy !== undefined ? { accessPolicy: config.accessPolicy } : {}),
    signAssertion: true,
    assertionLifetimeMinutes: config.tokenLifetimeMinutes,
    signatureAlgorithm: config.signatureAlgorithm,
  };
}

/**
 * The issuer for a token to Microsoft 365, from the user's UPN suffix. A user outside every
 * federated domain is stopped here with a page: a token Entra ID would reject helps nobody.
 */
export function microsoft365IssuerFor(config: Microsoft365Config, federationIdentifier: string, principal: Principal): string {
  const domain = federatedDomainFor(principal.userPrincipalName, config.domains);
  if (!domain) {
    throw new TokenRefusedError('m365_domain_not_federated', `UPN suffix of ${principal.userPrincipalName} is not a federated domain`);
  }
  return microsoft365Issuer(config, federationIdentifier, domain);
}

/** Builds the matcher once per configuration: CIDRs are parsed at start, not per request. */
export function corporateNetwork(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/');
    const family = isIP(address ?? '');
    if (!family) throw new Error(`microsoft365.internalNetworks: ${cidr} is not an address or CIDR`);
    const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
    list.addSubnet(address!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  if (cidrs.length === 0) return () => false;
  // BlockList.check builds a SocketAddress from the string on every call; a client's address repeats
  // across its tokens, so answers are remembered (bounded: a flood of new addresses only refills it).
  const known = new Map<string, boolean>();
  return (ip: string) => {
    const cached = known.get(ip);
    if (cached !== undefined) return cached;
    // Express gives IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d.
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain);
    const inside = family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    if (known.size >= 4096) known.clear();
    known.set(ip, inside);
    return inside;
  };
}
