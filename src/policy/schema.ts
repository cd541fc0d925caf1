/**
 * How access control policies are written in the configuration (config/schema.ts includes it as
 * `accessPolicies`; relying parties name one with `accessPolicy`).
 */
import { z } from 'zod';
import { GROUP_TEMPLATES, PARAMETERLESS_TEMPLATES } from './access.js';

const condition = z
  .object({
    groups: z.array(z.string().min(1)).min(1).optional().describe('Any of these groups (transitive), by sAMAccountName or SID.'),
    network: z.enum(['intranet', 'extranet']).optional().describe('intranet: policy.intranetNetworks; extranet: everyone else.'),
  })
  .strict();

const rule = z
  .object({
    permit: z.union([z.literal('everyone'), condition]).describe('"everyone", or users meeting every condition given.'),
    except: condition.optional().describe('...except users meeting every condition given here.'),
    requireMfa: z.boolean().default(false).describe('Permitted by this rule only after multi-factor authentication.'),
  })
  .strict();

export const accessPolicySchema = z
  .union([
    z.object({ template: z.enum(PARAMETERLESS_TEMPLATES) }).strict(),
    z.object({ template: z.enum(GROUP_TEMPLATES), groups: z.array(z.string().min(1)).min(1) }).strict(),
    z.object({ rules: z.array(rule).min(1) }).strict(),
  ])
  .describe(
    'An AD FS access control policy template (permitEveryone, permitEveryoneAndRequireMfa, permitEveryoneAndRequireMfaFromExtranet, ' +
      'permitEveryoneForIntranetAccess; with groups: permitSpecificGroup, permitEveryoneAndRequireMfaForSpecificGroup, denySpecificGroup), ' +
      'or rules: a user is permitted when a rule permits them (and its exception does not apply); MFA is required when every such rule requires it.',
  );

export const accessPolicyName = z
  .string()
  .min(1)
  .describe('The access control policy: a name from accessPolicies, or a template without parameters. Default permitEveryone.');
