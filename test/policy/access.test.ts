/**
 * Access control policies as pure rules: each AD FS template against each kind of user (member of the
 * named group or not, inside or outside, with or without MFA), composed rules with exceptions, named
 * policies and the configuration's refusal of a name that does not exist.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { GroupRef } from '../../src/directory/types.js';
import { AccessDeniedError } from '../../src/errors.js';
import { AccessControl, authorize, decide, policyNamed, TEMPLATES, type AccessPolicy, type AccessSubject } from '../../src/policy/access.js';

const FINANCE: GroupRef = { name: 'Finance', sid: 'S-1-5-21-1-2-3-1201' };
const STAFF: GroupRef = { name: 'Staff', sid: 'S-1-5-21-1-2-3-1104' };
const subject = (groups: GroupRef[], network: 'intranet' | 'extranet', mfa = false): AccessSubject => ({ groups, network, mfa });

describe('decide: AD FS templates', () => {
  const P = 'permit';
  const M = 'mfa_required';
  const D = 'deny';
  // [template, finance member inside, finance outside, other inside, other outside]
  const table: Array<[string, AccessPolicy, string, string, string, string]> = [
    ['permitEveryone', TEMPLATES.permitEveryone(), P, P, P, P],
    ['permitEveryoneAndRequireMfa', TEMPLATES.permitEveryoneAndRequireMfa(), M, M, M, M],
    ['permitEveryoneAndRequireMfaFromExtranet', TEMPLATES.permitEveryoneAndRequireMfaFromExtranet(), P, M, P, M],
    ['permitEveryoneForIntranetAccess', TEMPLATES.permitEveryoneForIntranetAccess(), P, D, P, D],
    ['permitSpecificGroup(Finance)', TEMPLATES.permitSpecificGroup(['Finance']), P, P, D, D],
    ['permitEveryoneAndRequireMfaForSpecificGroup(Finance)', TEMPLATES.permitEveryoneAndRequireMfaForSpecificGroup(['Finance']), M, M, P, P],
    ['denySpecificGroup(Finance)', TEMPLATES.denySpecificGroup(['Finance']), D, D, P, P],
  ];
  for (const [name, policy, ...expected] of table) {
    test(name, () => {
      const got = [
        decide(policy, subject([FINANCE, STAFF], 'intranet')),
        decide(policy, subject([FINANCE, STAFF], 'extranet')),
        decide(policy, subject([STAFF], 'intranet')),
        decide(policy, subject([STAFF], 'extranet')),
      ].map((d) => d.decision);
      assert.deepEqual(got, expected);
    });
  }

  test('MFA done permits where MFA is required, and says so', () => {
    assert.deepEqual(decide(TEMPLATES.permitEveryoneAndRequireMfa(), subject([], 'extranet', true)), { decision: 'permit', mfaUsed: true });
    assert.deepEqual(decide(TEMPLATES.denySpecificGroup(['Finance']), subject([FINANCE], 'intranet', true)).decision, 'deny', 'MFA does not undo a deny');
  });

  test('groups match by name in any case or by SID; nothing else', () => {
    assert.equal(decide(TEMPLATES.permitSpecificGroup(['finance']), subject([FINANCE], 'extranet')).decision, 'permit');
    assert.equal(decide(TEMPLATES.permitSpecificGroup([FINANCE.sid]), subject([FINANCE], 'extranet')).decision, 'permit');
    assert.equal(decide(TEMPLATES.permitSpecificGroup(['Fin']), subject([FINANCE], 'extranet')).decision, 'deny', 'no prefix matching');
    assert.equal(decide(TEMPLATES.permitSpecificGroup(['']), subject([{ name: 'x', sid: '' }], 'extranet')).decision, 'deny', 'an empty SID matches nothing');
  });

  test('composed rules: a permitting rule without MFA wins over one that requires it; an exception removes a user from its rule only', () => {
    const policy: AccessPolicy = [
      { permit: { groups: ['Staff'] }, except: { network: 'extranet' } },
      { permit: 'everyone', requireMfa: true },
    ];
    assert.equal(decide(policy, subject([STAFF], 'intranet')).decision, 'permit');
    assert.equal(decide(policy, subject([STAFF], 'extranet')).decision, 'mfa_required');
    assert.equal(decide(policy, subject([], 'intranet')).decision, 'mfa_required');
  });
});

describe('named policies and the configuration', () => {
  const named = { finance: { template: 'permitSpecificGroup' as const, groups: ['Finance'] } };

  test('a name from accessControl.policies, a parameterless template, none (permitEveryone), or unknown', () => {
    assert.deepEqual(policyNamed('finance', named), TEMPLATES.permitSpecificGroup(['Finance']));
    assert.deepEqual(policyNamed('permitEveryoneForIntranetAccess', named), TEMPLATES.permitEveryoneForIntranetAccess());
    assert.deepEqual(policyNamed(undefined, named), TEMPLATES.permitEveryone());
    assert.equal(policyNamed('permitSpecificGroup', named), undefined, 'a template that needs groups is not a name');
    assert.equal(policyNamed('constructor', named), undefined);
  });

  test('the configuration refuses a relying party naming a policy that does not exist, and a template missing its groups', () => {
    assert.throws(
      () => parseConfig({ wsfedRelyingParties: [{ realm: 'urn:a', replyUrls: ['https://a.example/'], accessPolicy: 'finanse' }] }),
      /wsfedRelyingParties\[0\]\.accessPolicy: no access policy finanse/,
    );
    assert.throws(() => parseConfig({ accessControl: { policies: { x: { template: 'permitSpecificGroup' } } } }), /accessControl\.policies/);
    const ok = parseConfig({
      accessControl: { policies: named },
      microsoft365: { enabled: true, domains: ['contoso.test'], accessPolicy: 'finance' },
      relyingParties: [{ entityId: 'urn:sp', assertionConsumerServices: [{ url: 'https://sp.example/acs' }], accessPolicy: 'permitEveryoneAndRequireMfa' }],
    });
    assert.equal(ok.microsoft365.accessPolicy, 'finance');
  });

  test('AccessControl: the intranet by address; an unknown name denies; authorize throws the refusal', () => {
    const access = new AccessControl(named, (ip) => ip.startsWith('10.'));
    assert.equal(access.decide('permitEveryoneForIntranetAccess', { groups: [], clientIp: '10.0.0.1', mfa: false }).decision, 'permit');
    assert.equal(access.decide('permitEveryoneForIntranetAccess', { groups: [], clientIp: '203.0.113.1', mfa: false }).decision, 'deny');
    assert.deepEqual(access.decide('added-later-typo', { groups: [FINANCE], clientIp: '10.0.0.1', mfa: false }), { decision: 'deny', reason: 'unknown_policy' });
    assert.throws(() => authorize(access, 'finance', { groups: [STAFF], clientIp: '10.0.0.1', mfa: false }, 'urn:app'), (e: unknown) => e instanceof AccessDeniedError && e.messageId === 'access_denied');
    assert.throws(
      () => authorize(access, 'permitEveryoneAndRequireMfa', { groups: [], clientIp: '10.0.0.1', mfa: false }, 'urn:app'),
      (e: unknown) => e instanceof AccessDeniedError && e.messageId === 'mfa_required',
    );
    assert.doesNotThrow(() => authorize(access, 'finance', { groups: [FINANCE], clientIp: '203.0.113.1', mfa: false }, 'urn:app'));
  });
});
