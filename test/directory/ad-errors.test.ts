import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { adDataCode, classifyBindFailure } from '../../src/directory/ad-errors.js';
import type { AuthFailureReason } from '../../src/directory/types.js';

// What ldapts puts in err.message for a Samba DC (Windows differs in DSID and the trailing token).
const samba = (code: string) =>
  `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${code}, v1db1 Code: 0x31`;
const windows = (code: string) =>
  `80090308: LdapErr: DSID-0C09050F, comment: AcceptSecurityContext error, data ${code}, v4563`;

describe('AD bind error table', () => {
  const table: [string, AuthFailureReason][] = [
    ['525', 'invalid_credentials'],
    ['52e', 'invalid_credentials'],
    ['530', 'logon_hours'],
    ['531', 'workstation_restricted'],
    ['532', 'password_expired'],
    ['533', 'account_disabled'],
    ['701', 'account_expired'],
    ['773', 'password_must_change'],
    ['775', 'account_locked'],
  ];
  for (const [code, reason] of table) {
    test(`data ${code} -> ${reason}`, () => {
      for (const message of [samba(code), windows(code), samba(code.toUpperCase())]) {
        const failure = classifyBindFailure(message);
        assert.equal(failure.reason, reason);
        assert.equal(failure.adCode, code);
      }
    });
  }

  test('an unknown code fails closed as invalid_credentials and keeps the code for the log', () => {
    const failure = classifyBindFailure(samba('568'));
    assert.equal(failure.reason, 'invalid_credentials');
    assert.equal(failure.adCode, '568');
    assert.match(failure.detail, /568/);
  });

  test('a message without a data code fails closed', () => {
    for (const message of ['', 'Invalid Credentials', 'data 533 without comma', 'metadata 533, x']) {
      const failure = classifyBindFailure(message);
      assert.equal(failure.reason, 'invalid_credentials', message);
    }
  });

  test('adDataCode reads only the " data XXX," token', () => {
    assert.equal(adDataCode(samba('775')), '775');
    assert.equal(adDataCode('no code here'), undefined);
  });
});
