import { WSFED_SESSION_PREFIX } from '../protocols/wsfed/idp.js';
import type { AppDeps } from './context.js';

/**
 * The name a person knows an application of their session by (session.relyingParties holds SAML
 * entity ids and 'wsfed|<realm>' entries): its registered name, else its identifier, so one removed
 * from the registry meanwhile still shows as something.
 */
export function applicationName(deps: Pick<AppDeps, 'registry' | 'wsfed'>, participant: string): string {
  if (participant.startsWith(WSFED_SESSION_PREFIX)) {
    const realm = participant.slice(WSFED_SESSION_PREFIX.length);
    return deps.wsfed.relyingPartyName(realm) ?? realm;
  }
  return deps.registry.get(participant)?.displayName ?? participant;
}
