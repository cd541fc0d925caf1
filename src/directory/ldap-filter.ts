/**
 * Every LDAP filter OpenFed sends, built as ldapts filter objects and never as strings.
 *
 * A filter object is BER-encoded as an assertion whose value is an opaque OCTET STRING, so a login
 * name such as "*", "a*" or "*)(objectClass=*" is compared literally: no escaping step exists that
 * could be forgotten or done wrong (RFC 4515 escaping only matters for the string syntax). Binary
 * values (SIDs, GUIDs) go in as Buffers, because ldapts's string-filter parser re-encodes "\xx"
 * escapes >= 0x80 as UTF-8 and then matches nothing.
 */
import { AndFilter, EqualityFilter, ExtensibleFilter, type Filter, NotFilter, OrFilter } from 'ldapts';

/** LDAP_MATCHING_RULE_IN_CHAIN: AD walks `member` transitively on the server. */
const IN_CHAIN = '1.2.840.113556.1.4.1941';

const eq = (attribute: string, value: string | Buffer): Filter => new EqualityFilter({ attribute, value });

/**
 * User accounts (not computers or contacts) whose `attribute` equals `value`. objectCategory=person
 * is indexed in AD and excludes computer accounts, which are objectClass=user too.
 */
export function userFilter(attribute: string, value: string): Filter {
  return new AndFilter({ filters: [eq('objectCategory', 'person'), eq('objectClass', 'user'), eq(attribute, value)] });
}

/** The entries with any of these binary SIDs: one search to name every group in a token. */
export function sidsFilter(sids: readonly Buffer[]): Filter {
  return new OrFilter({ filters: sids.map((sid) => eq('objectSid', sid)) });
}

/**
 * Every group `userDn` is in, transitively, plus its primary group. AD keeps the primary group
 * (usually Domain Users) out of `member`, so the in-chain rule never finds it; asking for its SID in
 * the same filter keeps this a single query.
 */
export function groupsOfFilter(userDn: string, primaryGroupSid: Buffer | undefined): Filter {
  const inChain = new ExtensibleFilter({ matchType: 'member', rule: IN_CHAIN, value: userDn });
  const member = primaryGroupSid ? new OrFilter({ filters: [inChain, eq('objectSid', primaryGroupSid)] }) : inChain;
  return new AndFilter({ filters: [eq('objectClass', 'group'), member] });
}

/** The crossRef of a domain in CN=Partitions, which holds its NetBIOS and DNS names. */
export function crossRefFilter(domainDn: string): Filter {
  return new AndFilter({ filters: [eq('objectClass', 'crossRef'), eq('nCName', domainDn)] });
}

/**
 * The user accounts a readiness run reads: people, not computers or contacts, and not the critical
 * system objects (Administrator, Guest, krbtgt) that Entra Connect's default rules never sync.
 * With `groupDn`, only transitive members of that group: the DC walks nested groups itself. A
 * user's primary group (usually Domain Users) is not in `member`, so it never matches here.
 */
export function usersInScopeFilter(groupDn?: string): Filter {
  const filters = [eq('objectCategory', 'person'), eq('objectClass', 'user'), new NotFilter({ filter: eq('isCriticalSystemObject', 'TRUE') })];
  if (groupDn !== undefined) filters.push(new ExtensibleFilter({ matchType: 'memberOf', rule: IN_CHAIN, value: groupDn }));
  return new AndFilter({ filters });
}

/** Users and computers alike: an SPN may sit on either (and on a managed service account). */
export function servicePrincipalFilter(spn: string): Filter {
  return eq('servicePrincipalName', spn);
}

/** Any group: to check that a DN an admin gave names one. */
export function groupFilter(): Filter {
  return eq('objectClass', 'group');
}

/** A group by its pre-Windows 2000 name or its cn, the two names an admin types. */
export function groupByNameFilter(name: string): Filter {
  return new AndFilter({ filters: [eq('objectClass', 'group'), new OrFilter({ filters: [eq('sAMAccountName', name), eq('cn', name)] })] });
}
