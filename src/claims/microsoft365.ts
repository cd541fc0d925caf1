/**
 * What Microsoft Entra ID expects of a federation server, as pure functions: which federated domain a
 * user belongs to, the issuer per domain (AD FS -SupportMultipleDomain), the ImmutableID source
 * anchor, and the insidecorporatenetwork claim.
 */
import { BlockList, isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Principal } from '../directory/types.js';

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

/** ImmutableID per the configured source anchor; undefined when the forced source is not set on the user. */
export function microsoft365ImmutableId(principal: Principal, source: Microsoft365Config['immutableIdSource']): string | undefined {
  const consistency = principal.consistencyGuid && principal.consistencyGuid.length > 0 ? principal.consistencyGuid : undefined;
  const bytes = source === 'objectGuid' ? principal.objectGuid : source === 'consistencyGuid' ? consistency : (consistency ?? principal.objectGuid);
  return bytes?.toString('base64');
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
  return (ip: string) => {
    // Express gives IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d.
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}
