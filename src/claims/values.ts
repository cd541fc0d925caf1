/**
 * Claim values from a principal: the one mapping every protocol uses, so "UPN" or "ImmutableID"
 * means the same bytes in a SAML 2.0 attribute, a WS-Fed claim and a NameID.
 */
import type { Principal } from '../directory/types.js';
import type { ClaimSource } from '../relying-parties/schema.js';

/**
 * ImmutableID as Entra Connect chooses the source anchor: ms-DS-ConsistencyGuid when set, else
 * objectGUID — base64 of the raw 16 bytes (not of the GUID string).
 */
export function immutableId(principal: Principal): string {
  return (principal.consistencyGuid && principal.consistencyGuid.length > 0 ? principal.consistencyGuid : principal.objectGuid).toString('base64');
}

export function claimValues(principal: Principal, source: ClaimSource): string[] {
  const one = (v: string | undefined) => (v === undefined || v === '' ? [] : [v]);
  switch (source) {
    case 'immutableId':
      return [immutableId(principal)];
    case 'objectGuid':
      return [principal.objectGuid.toString('base64')];
    case 'consistencyGuid':
      return principal.consistencyGuid && principal.consistencyGuid.length > 0 ? [principal.consistencyGuid.toString('base64')] : [];
    case 'upn':
      return one(principal.userPrincipalName);
    case 'mail':
      return one(principal.mail);
    case 'sAMAccountName':
      return one(principal.sAMAccountName);
    case 'downLevelName':
      return [`${principal.netbiosDomain}\\${principal.sAMAccountName}`];
    case 'displayName':
      return one(principal.displayName);
    case 'givenName':
      return one(principal.givenName);
    case 'sn':
      return one(principal.sn);
    case 'groups':
      return principal.groups.map((g) => g.name).filter((n) => n !== '');
    case 'groupSids':
      return principal.groups.map((g) => g.sid).filter((s) => s !== '');
    default: {
      // attribute:<name>; AD attribute names are case-insensitive.
      const wanted = source.slice('attribute:'.length).toLowerCase();
      const key = Object.keys(principal.attributes).find((k) => k.toLowerCase() === wanted);
      return key ? (principal.attributes[key] ?? []) : [];
    }
  }
}
