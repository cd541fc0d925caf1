/**
 * Access control policies per relying party, as AD FS 2016 models them: a policy is a list of
 * "permit" rules, each with conditions (groups, network location), optional exceptions, and whether
 * it requires multi-factor authentication. A user gets a token when at least one rule permits them;
 * MFA is required only when every rule that permits them requires it. Pure: a principal, the network
 * and the session's methods in, a decision out — table-tested without a server.
 *
 * AD FS's built-in templates are named here (TEMPLATES) and composable: a configured policy is a
 * template with its parameters, or a list of rules.
 */
import type { GroupRef } from '../directory/types.js';
import { AccessDeniedError } from '../errors.js';

/** Where the request came from: inside (the corporate network) or outside. */
export type NetworkLocation = 'intranet' | 'extranet';

export interface Condition {
  /** Any of these groups (transitive membership), by sAMAccountName (any case) or SID. */
  groups?: readonly string[];
  network?: NetworkLocation;
}

export interface PermitRule {
  /** 'everyone', or users meeting every condition given. */
  permit: 'everyone' | Condition;
  /** ...except users meeting every condition given here. */
  except?: Condition;
  requireMfa?: boolean;
}

export type AccessPolicy = readonly PermitRule[];

/** AD FS 2016's access control policy templates, by the names an admin knows them. */
export const TEMPLATES = {
  permitEveryone: (): AccessPolicy => [{ permit: 'everyone' }],
  permitEveryoneAndRequireMfa: (): AccessPolicy => [{ permit: 'everyone', requireMfa: true }],
  permitEveryoneAndRequireMfaFromExtranet: (): AccessPolicy => [
    { permit: { network: 'intranet' } },
    { permit: { network: 'extranet' }, requireMfa: true },
  ],
  permitEveryoneForIntranetAccess: (): AccessPolicy => [{ permit: { network: 'intranet' } }],
  permitSpecificGroup: (groups: readonly string[]): AccessPolicy => [{ permit: { groups } }],
  permitEveryoneAndRequireMfaForSpecificGroup: (groups: readonly string[]): AccessPolicy => [
    { permit: 'everyone', except: { groups } },
    { permit: { groups }, requireMfa: true },
  ],
  denySpecificGroup: (groups: readonly string[]): AccessPolicy => [{ permit: 'everyone', except: { groups } }],
} as const;

export interface AccessSubject {
  groups: readonly GroupRef[];
  network: NetworkLocation;
  /** Multi-factor authentication already done in this session. */
  mfa: boolean;
}

export type AccessDecision =
  | { decision: 'permit'; /** MFA was required and done */ mfaUsed: boolean }
  | { decision: 'mfa_required' }
  | { decision: 'deny'; reason: 'no_rule_permits' };

function meets(condition: Condition, subject: AccessSubject): boolean {
  if (condition.network !== undefined && condition.network !== subject.network) return false;
  if (condition.groups !== undefined) {
    const wanted = new Set(condition.groups.map((g) => g.toLowerCase()));
    const member = subject.groups.some((g) => wanted.has(g.name.toLowerCase()) || (g.sid !== '' && wanted.has(g.sid.toLowerCase())));
    if (!member) return false;
  }
  return true;
}

export function decide(policy: AccessPolicy, subject: AccessSubject): AccessDecision {
  const permitting = policy.filter(
    (rule) => (rule.permit === 'everyone' || meets(rule.permit, subject)) && !(rule.except !== undefined && meets(rule.except, subject)),
  );
  if (permitting.length === 0) return { decision: 'deny', reason: 'no_rule_permits' };
  if (permitting.some((rule) => !rule.requireMfa)) return { decision: 'permit', mfaUsed: false };
  return subject.mfa ? { decision: 'permit', mfaUsed: true } : { decision: 'mfa_required' };
}

/** Templates that need no parameter can be named directly as a relying party's accessPolicy. */
export const PARAMETERLESS_TEMPLATES = ['permitEveryone', 'permitEveryoneAndRequireMfa', 'permitEveryoneAndRequireMfaFromExtranet', 'permitEveryoneForIntranetAccess'] as const;
export const GROUP_TEMPLATES = ['permitSpecificGroup', 'permitEveryoneAndRequireMfaForSpecificGroup', 'denySpecificGroup'] as const;

/** A policy as configured: a template (with its groups), or rules. */
export type AccessPolicyConfig =
  | { template: (typeof PARAMETERLESS_TEMPLATES)[number] }
  | { template: (typeof GROUP_TEMPLATES)[number]; groups: readonly string[] }
  | { rules: readonly PermitRule[] };

export function policyFrom(config: AccessPolicyConfig): AccessPolicy {
  if ('rules' in config) return config.rules;
  if ('groups' in config) return TEMPLATES[config.template](config.groups);
  return TEMPLATES[config.template]();
}

/**
 * The policy a relying party names: one of `named` (accessPolicies), a parameterless template, or —
 * when it names none — permitEveryone, AD FS's default. undefined for an unknown name: the caller
 * refuses (fail closed), since a typo must not open an application to everyone.
 */
export function policyNamed(name: string | undefined, named: Readonly<Record<string, AccessPolicyConfig>>): AccessPolicy | undefined {
  if (name === undefined) return TEMPLATES.permitEveryone();
  if (Object.hasOwn(named, name)) return policyFrom(named[name]!);
  return (PARAMETERLESS_TEMPLATES as readonly string[]).includes(name) ? TEMPLATES[name as (typeof PARAMETERLESS_TEMPLATES)[number]]() : undefined;
}

export interface AccessRequest {
  groups: readonly GroupRef[];
  /** The address of the request being answered, after the trusted-proxy rules. */
  clientIp: string;
  mfa: boolean;
}

/**
 * The configured policies, and which addresses are the intranet: what every protocol asks before it
 * issues a token. An unknown policy name (an RP added at run time naming a policy nobody defined)
 * denies.
 */
export class AccessControl {
  constructor(
    private readonly policies: Readonly<Record<string, AccessPolicyConfig>>,
    private readonly intranet: (clientIp: string) => boolean,
  ) {}

  decide(policyName: string | undefined, request: AccessRequest): AccessDecision | { decision: 'deny'; reason: 'unknown_policy' } {
    const policy = policyNamed(policyName, this.policies);
    if (policy === undefined) return { decision: 'deny', reason: 'unknown_policy' };
    return decide(policy, { groups: request.groups, network: this.intranet(request.clientIp) ? 'intranet' : 'extranet', mfa: request.mfa });
  }
}

/** Everyone may have every token: no policies configured (and the protocols' tests). */
export const PERMIT_EVERYONE = new AccessControl({}, () => false);

/**
 * The decision a protocol acts on: 'permit', or 'mfa_required' (a browser steps up to the second
 * factor); a deny is thrown as the refusal (AccessDeniedError).
 */
export function decideAccess(access: AccessControl, policyName: string | undefined, request: AccessRequest, who: string): 'permit' | 'mfa_required' {
  const decision = access.decide(policyName, request);
  if (decision.decision === 'deny') throw new AccessDeniedError('access_denied', `${who}: ${policyName ?? 'policy'} does not permit (${decision.reason})`);
  return decision.decision;
}

/**
 * For a caller that cannot step up (WS-Trust: one message, one factor): anything but a permit is
 * refused, an MFA requirement with mfa_required, so the fault says why.
 */
export function authorize(access: AccessControl, policyName: string | undefined, request: AccessRequest, who: string): void {
  if (decideAccess(access, policyName, request, who) === 'mfa_required') {
    throw new AccessDeniedError('mfa_required', `${who}: ${policyName ?? 'policy'} requires multi-factor authentication`);
  }
}
