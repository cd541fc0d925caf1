/**
 * Directory readiness for Microsoft 365: what Microsoft's IdFix and Entra Connect would find in the
 * users OpenFed signs in, before they find it themselves. Pure: users and configuration in, findings
 * out; `openfed m365 readiness` reads the users (src/directory) and prints the findings.
 *
 * Severity is about sign-in through OpenFed, not about tidiness: an `error` stops the user from
 * signing in to Microsoft 365 (no synced user to match, a UPN Entra or OpenFed refuses, a token
 * whose ImmutableID matches nobody); a `warning` is something Entra Connect reports or repairs on
 * its own (a duplicate address is quarantined, a disabled account stays disabled) without taking
 * sign-in away from a user who should have it.
 */
import { federatedDomainFor, microsoft365ImmutableId, type Microsoft365Config } from '../claims/microsoft365.js';
import type { DirectoryUserRecord, Principal } from '../directory/types.js';

type Severity = 'error' | 'warning';

/** Every check, in the order findings of one user are listed. */
export const CHECKS = [
  'upn-missing',
  'upn-format',
  'upn-characters',
  'upn-suffix-not-routable',
  'upn-suffix-not-federated',
  'upn-duplicate',
  'immutable-id-source',
  'immutable-id-duplicate',
  'mail-invalid',
  'proxy-address-invalid',
  'mail-duplicate',
  'proxy-address-duplicate',
  'account-disabled',
] as const;

export type CheckId = (typeof CHECKS)[number];

export interface Finding {
  /** The UPN, else the sAMAccountName: what an admin searches for. */
  user: string;
  dn: string;
  check: CheckId;
  severity: Severity;
  message: string;
}

export type ReadinessConfig = Pick<Microsoft365Config, 'domains' | 'immutableIdSource'>;

/** Entra's own limits for userPrincipalName (the Microsoft 365 "Invalid user name" article; IdFix uses the same). */
const UPN_MAX = 113;
const UPN_LOCAL_MAX = 64;
const UPN_DOMAIN_MAX = 48;
/**
 * The characters Entra accepts before the @. IdFix also flags the apostrophe, but Entra takes it
 * (O'Brien), so flagging it would send admins renaming users for nothing.
 */
const UPN_LOCAL_ALLOWED = /[A-Za-z0-9'._!#^~-]/;
/** IdFix's characters refused in an SMTP proxy address (whitespace < > ( ) ; , [ ] "); the same for mail. */
const ADDRESS_REFUSED = /[\s<>();,[\]"]/g;
/** RFC 5322 dot-atom characters, what IdFix's RFC 2822 rule accepts before the @. */
const ADDRESS_LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const ADDRESS_MAX = 256;
/** A DNS label: letters, digits and inner hyphens. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
/** A top-level domain that exists or may: letters, or an IDN in its xn-- form. */
const PUBLIC_TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/i;
/**
 * Suffixes no public DNS delegates (RFC 2606, RFC 6761, RFC 6762, the ICANN-reserved .internal) and
 * the ones AD admins commonly invent: Entra cannot verify a domain under them, so it never federates.
 */
const NON_ROUTABLE_TLDS = new Set(['local', 'localhost', 'localdomain', 'internal', 'intranet', 'lan', 'home', 'corp', 'private', 'test', 'example', 'invalid', 'arpa']);
const ACCOUNTDISABLE = 0x2;

export function readinessFindings(users: readonly DirectoryUserRecord[], config: ReadinessConfig): Finding[] {
  const findings: Finding[] = [];
  const add = (user: DirectoryUserRecord, check: CheckId, severity: Severity, message: string) =>
    findings.push({ user: labelOf(user), dn: user.dn, check, severity, message });

  for (const user of users) {
    checkUpn(user, config, add);
    checkImmutableIdSource(user, config, add);
    if (user.mail !== undefined) {
      for (const problem of addressProblems(user.mail)) add(user, 'mail-invalid', 'warning', `mail ${user.mail}: ${problem}`);
    }
    for (const value of user.proxyAddresses) {
      const smtp = smtpAddress(value);
      if (smtp === undefined) continue; // X500:, sip: ...: IdFix checks only SMTP proxies for format
      for (const problem of addressProblems(smtp)) add(user, 'proxy-address-invalid', 'warning', `proxyAddresses ${value}: ${problem}`);
    }
    if ((user.userAccountControl & ACCOUNTDISABLE) !== 0) {
      add(user, 'account-disabled', 'warning', 'the account is disabled: it syncs to Entra ID as disabled and cannot sign in until enabled here');
    }
  }
  checkDuplicateUpns(users, add);
  checkDuplicateImmutableIds(users, config, add);
  checkDuplicateAddresses(users, add);

  const order = (c: CheckId) => CHECKS.indexOf(c);
  return findings.sort((a, b) => a.user.localeCompare(b.user) || a.dn.localeCompare(b.dn) || order(a.check) - order(b.check));
}

type Add = (user: DirectoryUserRecord, check: CheckId, severity: Severity, message: string) => void;

function labelOf(user: DirectoryUserRecord): string {
  return user.userPrincipalName || user.sAMAccountName;
}

function checkUpn(user: DirectoryUserRecord, config: ReadinessConfig, add: Add): void {
  const upn = user.userPrincipalName;
  if (upn === undefined || upn === '') {
    add(user, 'upn-missing', 'error', 'no userPrincipalName: Entra Connect gives the user an onmicrosoft.com name, which is never federated');
    return;
  }
  const ats = upn.split('@').length - 1;
  if (ats !== 1) {
    add(user, 'upn-format', 'error', ats === 0 ? `${upn}: no @` : `${upn}: ${ats} @ signs (one separates the name from the domain)`);
    return;
  }
  const at = upn.indexOf('@');
  const local = upn.slice(0, at);
  const suffix = upn.slice(at + 1);

  const format: string[] = [];
  if (upn.length > UPN_MAX) format.push(`${upn.length} characters (at most ${UPN_MAX})`);
  if (local.length === 0) format.push('nothing before the @');
  if (local.length > UPN_LOCAL_MAX) format.push(`${local.length} characters before the @ (at most ${UPN_LOCAL_MAX})`);
  if (suffix.length > UPN_DOMAIN_MAX) format.push(`${suffix.length} characters after the @ (at most ${UPN_DOMAIN_MAX})`);
  if (local.startsWith('.')) format.push('starts with a period');
  if (local.endsWith('.')) format.push('a period just before the @');
  if (local.includes('..')) format.push('two periods in a row');
  const domainProblem = domainSyntaxProblem(suffix);
  if (domainProblem) format.push(domainProblem);
  if (format.length > 0) add(user, 'upn-format', 'error', `${upn}: ${format.join('; ')}`);

  const refused = [...new Set([...local].filter((ch) => !UPN_LOCAL_ALLOWED.test(ch)))];
  if (refused.length > 0) {
    add(user, 'upn-characters', 'error', `${upn}: Entra ID refuses ${refused.map(showChar).join(' ')} in a user name (allowed: letters A-Z, digits and ' . - _ ! # ^ ~)`);
  }

  if (domainProblem) return;
  const routable = routableProblem(suffix);
  if (routable) {
    add(user, 'upn-suffix-not-routable', 'error', `UPN suffix ${suffix} ${routable}: Entra ID cannot verify it, so it can never be federated`);
  } else if (federatedDomainFor(upn, config.domains) === undefined) {
    const configured = config.domains.length > 0 ? config.domains.join(', ') : 'none';
    add(user, 'upn-suffix-not-federated', 'error', `UPN suffix ${suffix} is not in microsoft365.domains nor a subdomain of one (configured: ${configured}): OpenFed refuses the token`);
  }
}

function domainSyntaxProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'nothing after the @';
  const labels = domain.split('.');
  if (labels.some((l) => l === '')) return `domain ${domain} has an empty label`;
  const bad = labels.find((l) => !LABEL.test(l));
  return bad === undefined ? undefined : `domain label ${bad} is not a DNS name (letters, digits, inner hyphens)`;
}

function routableProblem(domain: string): string | undefined {
  const labels = domain.toLowerCase().split('.');
  const tld = labels[labels.length - 1]!;
  if (labels.length < 2) return 'is a single label';
  if (NON_ROUTABLE_TLDS.has(tld)) return `ends in .${tld}, which no public DNS delegates`;
  if (!PUBLIC_TLD.test(tld)) return `ends in .${tld}, which is not a top-level domain`;
  return undefined;
}

function showChar(ch: string): string {
  if (/\s/.test(ch)) return ch === ' ' ? 'space' : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return ch;
}

/** The address of an SMTP proxy (primary SMTP: or secondary smtp:), else undefined. */
function smtpAddress(proxy: string): string | undefined {
  return /^smtp:/i.test(proxy) ? proxy.slice(5) : undefined;
}

/** IdFix's checks of an SMTP address: refused characters, length, and RFC 2822 shape. */
function addressProblems(address: string): string[] {
  const problems: string[] = [];
  const refused = [...new Set(address.match(ADDRESS_REFUSED) ?? [])];
  if (refused.length > 0) problems.push(`refused characters ${refused.map(showChar).join(' ')}`);
  if (address.length > ADDRESS_MAX) problems.push(`${address.length} characters (at most ${ADDRESS_MAX})`);
  const parts = address.split('@');
  if (parts.length !== 2) {
    problems.push(parts.length === 1 ? 'no @' : `${parts.length - 1} @ signs`);
    return problems;
  }
  const [local, domain] = parts as [string, string];
  const atoms = local.split('.');
  if (local === '' || atoms.some((a) => a === '')) problems.push('not an address before the @ (empty, or a period at either end or twice in a row)');
  else if (refused.length === 0 && atoms.some((a) => !ADDRESS_LOCAL_ATOM.test(a))) problems.push('characters RFC 2822 does not allow before the @');
  const domainProblem = domainSyntaxProblem(domain);
  if (domainProblem) problems.push(domainProblem);
  else if (!domain.includes('.')) problems.push(`domain ${domain} is a single label`);
  return problems;
}

/** A principal carrying only what ImmutableID is made of: the token code computes it, so the value here is the token's. */
function principalOf(user: DirectoryUserRecord): Principal {
  return {
    dn: user.dn,
    objectGuid: user.objectGuid,
    consistencyGuid: user.consistencyGuid,
    userPrincipalName: user.userPrincipalName ?? '',
    sAMAccountName: user.sAMAccountName,
    netbiosDomain: '',
    groups: [],
    attributes: {},
  };
}

function hasConsistencyGuid(user: DirectoryUserRecord): user is DirectoryUserRecord & { consistencyGuid: Buffer } {
  return user.consistencyGuid !== undefined && user.consistencyGuid.length > 0;
}

function checkImmutableIdSource(user: DirectoryUserRecord, config: ReadinessConfig, add: Add): void {
  const objectGuid = user.objectGuid.toString('base64');
  switch (config.immutableIdSource) {
    case 'consistencyGuid':
      if (!hasConsistencyGuid(user)) {
        add(
          user,
          'immutable-id-source',
          'error',
          'no mS-DS-ConsistencyGuid, and immutableIdSource is consistencyGuid: tokens carry no ImmutableID, so OpenFed cannot sign the user in to Microsoft 365',
        );
      }
      break;
    case 'auto':
      if (!hasConsistencyGuid(user)) {
        add(
          user,
          'immutable-id-source',
          'warning',
          `no mS-DS-ConsistencyGuid: auto uses objectGUID (${objectGuid}); if Entra Connect anchors on mS-DS-ConsistencyGuid and has not written it back yet (or writes it in another forest), Entra ID expects another ImmutableID`,
        );
      }
      break;
    case 'objectGuid':
      if (hasConsistencyGuid(user) && !user.consistencyGuid.equals(user.objectGuid)) {
        add(
          user,
          'immutable-id-source',
          'error',
          `mS-DS-ConsistencyGuid (${user.consistencyGuid.toString('base64')}) differs from objectGUID (${objectGuid}), and immutableIdSource is objectGuid: Entra Connect anchors this user on mS-DS-ConsistencyGuid, so Entra ID will not match the ImmutableID in tokens`,
        );
      }
      break;
  }
  if (hasConsistencyGuid(user) && user.consistencyGuid.length !== 16 && config.immutableIdSource !== 'objectGuid') {
    add(user, 'immutable-id-source', 'warning', `mS-DS-ConsistencyGuid is ${user.consistencyGuid.length} bytes, not a GUID (16): something other than Entra Connect wrote it`);
  }
}

/** Each user's findings name the others, so an admin sees the whole clash from any one row. */
function reportShared(
  groups: Map<string, DirectoryUserRecord[]>,
  add: Add,
  finding: (user: DirectoryUserRecord, others: string) => [CheckId, Severity, string],
): void {
  for (const sharing of groups.values()) {
    const distinct = [...new Map(sharing.map((u) => [u.dn, u])).values()];
    if (distinct.length < 2) continue;
    for (const user of distinct) {
      const others = distinct.filter((u) => u !== user).map((u) => `${labelOf(u)} (${u.dn})`).join(', ');
      add(user, ...finding(user, others));
    }
  }
}

function groupBy(users: readonly DirectoryUserRecord[], keys: (user: DirectoryUserRecord) => Iterable<string>): Map<string, DirectoryUserRecord[]> {
  const groups = new Map<string, DirectoryUserRecord[]>();
  for (const user of users) {
    for (const key of keys(user)) {
      const list = groups.get(key);
      if (list) list.push(user);
      else groups.set(key, [user]);
    }
  }
  return groups;
}

function checkDuplicateUpns(users: readonly DirectoryUserRecord[], add: Add): void {
  // AD and Entra compare UPNs without regard to case; so does OpenFed's lookup, which then refuses both.
  const byUpn = groupBy(users, (u) => (u.userPrincipalName ? [u.userPrincipalName.toLowerCase()] : []));
  reportShared(byUpn, add, (_user, others) => [
    'upn-duplicate',
    'error',
    `the same UPN as ${others}: OpenFed refuses a name two accounts share, and Entra Connect renames the later one to an onmicrosoft.com UPN`,
  ]);
}

function checkDuplicateImmutableIds(users: readonly DirectoryUserRecord[], config: ReadinessConfig, add: Add): void {
  // Case-sensitive, as Entra compares source anchors.
  const byId = groupBy(users, (u) => {
    const id = microsoft365ImmutableId(principalOf(u), config.immutableIdSource);
    return id === undefined ? [] : [id];
  });
  reportShared(byId, add, (user, others) => [
    'immutable-id-duplicate',
    'error',
    `the same ImmutableID (${microsoft365ImmutableId(principalOf(user), config.immutableIdSource)}) as ${others}: Entra Connect refuses to sync both, and a token would match either`,
  ]);
}

function checkDuplicateAddresses(users: readonly DirectoryUserRecord[], add: Add): void {
  const addressesOf = (u: DirectoryUserRecord) => {
    const all = new Set<string>();
    if (u.mail) all.add(u.mail.toLowerCase());
    for (const p of u.proxyAddresses) {
      const smtp = smtpAddress(p);
      if (smtp) all.add(smtp.toLowerCase());
    }
    return all;
  };
  for (const [address, sharing] of groupBy(users, addressesOf)) {
    reportShared(new Map([[address, sharing]]), add, (user, others) => {
      const inProxy = user.proxyAddresses.some((p) => smtpAddress(p)?.toLowerCase() === address);
      return [
        inProxy ? 'proxy-address-duplicate' : 'mail-duplicate',
        'warning',
        `${address} (${inProxy ? 'proxyAddresses' : 'mail'}) is also an address of ${others}: Entra Connect quarantines the duplicate (AttributeValueMustBeUnique); mail to it goes astray, sign-in is unaffected`,
      ];
    });
  }
}
