/**
 * What a user typed as their login name, and in which order AD attributes are searched for it.
 * Pure: no LDAP here, so every rule is unit-testable.
 *
 * Accepted forms, as Windows and AD FS accept them:
 *   alice@corp.example.com   a UPN, with any suffix of the forest; also the implicit UPN
 *                            sAMAccountName@<DNS domain>, which AD accepts even when the user's
 *                            explicit UPN is different
 *   CORP\alice               the down-level form, NetBIOS domain name (case-insensitive)
 *   alice                    a bare sAMAccountName
 *   an alternate attribute   (AD FS AlternateLoginID, e.g. mail) for names containing "@"
 */

export type LoginName =
  | { form: 'upn'; name: string; prefix: string; suffix: string }
  | { form: 'downlevel'; domain: string; sam: string }
  | { form: 'sam'; sam: string };

export type Checked<T> = { ok: true; value: T } | { ok: false; detail: string };

/**
 * Far above any real name (AD's userPrincipalName allows 1024 characters) and far below what would
 * let one request make the DC parse a megabyte filter.
 */
export const MAX_LOGIN_NAME_LENGTH = 1024;

/** Normalises and splits a login name. Rejections are for logs only: the caller answers invalid_credentials. */
export function parseLoginName(raw: string): Checked<LoginName> {
  // A lone surrogate (\p{Cs} under the u flag) cannot be encoded as UTF-8 for the DC.
  if (/\p{Cs}/u.test(raw)) return { ok: false, detail: 'login name is not well-formed Unicode' };
  // NFC so that "é" typed as e + U+0301 finds the entry stored with the precomposed character.
  const name = raw.normalize('NFC').trim();
  if (name === '') return { ok: false, detail: 'empty login name' };
  if (name.length > MAX_LOGIN_NAME_LENGTH) return { ok: false, detail: 'login name too long' };
  // No AD naming attribute may hold control characters; NUL in particular has ended C strings in
  // LDAP servers before.
  if (/\p{Cc}/u.test(name)) return { ok: false, detail: 'control character in login name' };

  const backslash = name.indexOf('\\');
  if (backslash >= 0) {
    const domain = name.slice(0, backslash);
    const sam = name.slice(backslash + 1);
    if (domain === '' || sam === '' || sam.includes('\\') || sam.includes('@')) {
      return { ok: false, detail: 'malformed DOMAIN\\user name' };
    }
    return { ok: true, value: { form: 'downlevel', domain, sam } };
  }

  const at = name.lastIndexOf('@');
  if (at >= 0) {
    const prefix = name.slice(0, at);
    const suffix = name.slice(at + 1);
    if (prefix === '' || suffix === '') return { ok: false, detail: 'malformed user@suffix name' };
    return { ok: true, value: { form: 'upn', name, prefix, suffix } };
  }

  return { ok: true, value: { form: 'sam', sam: name } };
}

export interface DomainNames {
  /** DNS name of the user's domain, e.g. corp.example.com: the suffix of implicit UPNs. */
  dnsDomain: string;
  /** NetBIOS name of the domain, e.g. CORP. */
  netbiosDomain: string;
  /** AD FS AlternateLoginID attribute, e.g. mail. */
  alternateLoginAttribute?: string | undefined;
}

/** One equality search for a user. */
export interface LookupStep {
  attribute: string;
  value: string;
}

/**
 * The searches to run, in order, for a login name. The first step that finds anyone decides: one
 * entry is the user, several are an ambiguous name (refused). Later steps are fallbacks, never a
 * second chance for a name that was ambiguous.
 */
export function lookupSteps(login: LoginName, domain: DomainNames): Checked<LookupStep[]> {
  switch (login.form) {
    case 'upn': {
      const steps: LookupStep[] = [];
      // AD FS tries the alternate attribute before the UPN: in tenants that use it, mail is what
      // users know, and a UPN that happens to equal someone else's mail must not win.
      if (domain.alternateLoginAttribute) steps.push({ attribute: domain.alternateLoginAttribute, value: login.name });
      steps.push({ attribute: 'userPrincipalName', value: login.name });
      if (sameDomainName(login.suffix, domain.dnsDomain)) steps.push({ attribute: 'sAMAccountName', value: login.prefix });
      return { ok: true, value: steps };
    }
    case 'downlevel':
      // Windows would route another domain's name to a trusted domain; we serve one domain, so a
      // foreign or DNS-style domain part is simply a wrong name.
      if (!sameDomainName(login.domain, domain.netbiosDomain)) {
        return { ok: false, detail: `domain ${login.domain} is not ${domain.netbiosDomain}` };
      }
      return { ok: true, value: [{ attribute: 'sAMAccountName', value: login.sam }] };
    case 'sam':
      return { ok: true, value: [{ attribute: 'sAMAccountName', value: login.sam }] };
  }
}

/**
 * Refuses a password before it reaches a DC. An empty password matters most: LDAP treats a simple
 * bind with a name and no password as an "unauthenticated bind" (RFC 4513 5.1.2), and Windows AD
 * answers it with success.
 */
export function checkPassword(password: string): Checked<string> {
  if (password.length === 0) return { ok: false, detail: 'empty password' };
  return { ok: true, value: password };
}

function sameDomainName(a: string, b: string): boolean {
  return a.localeCompare(b, 'en', { sensitivity: 'accent' }) === 0;
}
