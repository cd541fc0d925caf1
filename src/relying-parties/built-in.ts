import { microsoft365SamlRelyingParty } from '../claims/microsoft365.js';
import type { Config } from '../config/schema.js';
import { samlRelyingPartySchema } from './schema.js';

/** Microsoft 365, when enabled, is also a SAML 2.0 SP (domains federated with SAML), unless configured by hand. */
export function withBuiltInRelyingParties(config: Config): Config {
  const m365 = config.microsoft365;
  if (!m365.enabled || config.relyingParties.some((rp) => rp.entityId === m365.realm)) return config;
  return { ...config, relyingParties: [...config.relyingParties, samlRelyingPartySchema.parse(microsoft365SamlRelyingParty(m365))] };
}
