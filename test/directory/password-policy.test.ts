/**
 * The password rules checked before a change is sent (length, AD's complexity rule) and the reading
 * of AD's one answer for every policy refusal (52d) once those passed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyPasswordChangeFailure } from '../../src/directory/ad-errors.js';
import { characterCategories, checkNewPassword, explainPolicyRefusal, intervalToMs, unicodePwdValue, type PasswordPolicy } from '../../src/directory/password-policy.js';

const DOMAIN: PasswordPolicy = { minLength: 7, complexity: true, minAgeMs: 86_400_000, historyLength: 24, source: 'test' };
const OWNER = { sAMAccountName: 'jdoe', displayName: 'Jane Doe-Smith' };

describe('checkNewPassword', () => {
  const cases: Array<[string, string, PasswordPolicy, ReturnType<typeof checkNewPassword>]> = [
    ['long and complex', 'Summer-2031!', DOMAIN, undefined],
    ['one short of the minimum', 'Ab1-xyz'.slice(0, 6), DOMAIN, 'too_short'],
    ['exactly the minimum', 'Ab1-xyz', DOMAIN, undefined],
    ['two categories only', 'lowercase123', DOMAIN, 'complexity'],
    ['upper, lower, digit', 'Lowercase123', DOMAIN, undefined],
    ['lower, digit, symbol', 'lowercase-123', DOMAIN, undefined],
    ['caseless letters count as a category', '東京タワー12-a', DOMAIN, undefined],
    ['contains the account name, any case', 'My-JDOE-pass1', DOMAIN, 'complexity'],
    ['contains a display-name part', 'Smith#Winter-1', DOMAIN, 'complexity'],
    ['display-name parts under 3 characters are ignored', 'Winter-Doe-1x'.replace('Doe', 'Do'), DOMAIN, undefined],
    ['complexity off: any long password', 'aaaaaaaaaa', { ...DOMAIN, complexity: false }, undefined],
    ['length counts UTF-16 units', '😀😀😀A1', { ...DOMAIN, minLength: 9 }, 'too_short'],
  ];
  for (const [name, password, policy, expected] of cases) {
    test(name, () => assert.equal(checkNewPassword(password, policy, OWNER), expected));
  }

  test('an account name shorter than 3 characters is not checked', () => {
    assert.equal(checkNewPassword('Xy-jo-2024', DOMAIN, { sAMAccountName: 'jo' }), undefined);
  });

  test('character categories', () => {
    assert.equal(characterCategories('abc'), 1);
    assert.equal(characterCategories('aB1'), 3);
    assert.equal(characterCategories('aB1 '), 4);
    assert.equal(characterCategories('ÄÖü1'), 3);
  });
});

describe('explainPolicyRefusal (AD said 52d, length and complexity passed)', () => {
  const now = Date.UTC(2030, 0, 10);
  const cases: Array<[string, PasswordPolicy | undefined, number | undefined, ReturnType<typeof explainPolicyRefusal>]> = [
    ['set an hour ago, minimum age one day', DOMAIN, now - 3_600_000, 'too_recent'],
    ['set two days ago: the history', DOMAIN, now - 2 * 86_400_000, 'in_history'],
    ['must change (pwdLastSet 0): never too recent', DOMAIN, undefined, 'in_history'],
    ['no minimum age', { ...DOMAIN, minAgeMs: 0 }, now - 1000, 'in_history'],
    ['no history either: a rule we cannot see', { ...DOMAIN, minAgeMs: 0, historyLength: 0 }, now - 1000, 'rejected_by_policy'],
    ['policy unreadable', undefined, now - 1000, 'rejected_by_policy'],
  ];
  for (const [name, policy, lastSet, expected] of cases) {
    test(name, () => assert.equal(explainPolicyRefusal(policy, lastSet, now), expected));
  }
});

describe('AD values', () => {
  test('intervals: negative 100-ns ticks to ms; 0 and "never" are no age', () => {
    assert.equal(intervalToMs('-864000000000'), 86_400_000);
    assert.equal(intervalToMs('0'), 0);
    assert.equal(intervalToMs('-9223372036854775808'), 0);
    assert.equal(intervalToMs(undefined), 0);
  });

  test('unicodePwd is the quoted password in UTF-16LE', () => {
    assert.deepEqual(unicodePwdValue('Ab1'), Buffer.from([0x22, 0, 0x41, 0, 0x62, 0, 0x31, 0, 0x22, 0]));
  });

  const refusals: Array<[string, number, string, string]> = [
    ['Samba policy', 19, '0000052D: Constraint violation - check_password_restrictions: the password is too short.', 'policy'],
    ['Windows policy (its "data 0" is not the code)', 19, '0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)', 'policy'],
    ['wrong current password', 19, "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!", 'invalid_credentials'],
    ['no TLS', 53, '0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0', 'change_unavailable'],
    ['Change Password right removed', 50, '00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0', 'change_unavailable'],
  ];
  for (const [name, code, message, reason] of refusals) {
    test(`AD's answer to a change: ${name}`, () => assert.equal(classifyPasswordChangeFailure(code, message).reason, reason));
  }
});
