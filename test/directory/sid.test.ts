import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { primaryGroupSid, sidFromString, sidToString } from '../../src/directory/sid.js';

describe('SID conversion', () => {
  // Bytes as the Samba DC returned them in tokenGroups.
  const domainUsers = Buffer.from('010500000000000515000000' + '7c53d698' + 'dbdc8d00' + '5e354985' + '01020000', 'hex');

  test('binary -> string, domain SID with RID', () => {
    assert.equal(sidToString(domainUsers), 'S-1-5-21-2564182908-9297115-2236167518-513');
  });

  test('well-known SIDs', () => {
    assert.equal(sidToString(Buffer.from('01020000000000052000000021020000', 'hex')), 'S-1-5-32-545'); // BUILTIN\Users
    assert.equal(sidToString(Buffer.from('010100000000000100000000', 'hex')), 'S-1-1-0'); // Everyone
    assert.equal(sidToString(Buffer.from('0100000000000005', 'hex')), 'S-1-5'); // no sub-authorities
  });

  test('sub-authorities are unsigned 32-bit little-endian', () => {
    const sid = sidFromString('S-1-5-21-4294967295-0-2147483648-1000');
    assert.equal(sidToString(sid), 'S-1-5-21-4294967295-0-2147483648-1000');
    assert.deepEqual(sid.subarray(12, 16), Buffer.from('ffffffff', 'hex'));
  });

  test('string -> binary round-trips', () => {
    assert.deepEqual(sidFromString('S-1-5-21-2564182908-9297115-2236167518-513'), domainUsers);
  });

  test('malformed input throws', () => {
    assert.throws(() => sidToString(Buffer.from('0105', 'hex')), RangeError);
    assert.throws(() => sidToString(domainUsers.subarray(0, 20)), RangeError); // count says 5, 3 present
    assert.throws(() => sidFromString('S-1-5-21-x'), RangeError);
    assert.throws(() => sidFromString('S-1-5-21-4294967296'), RangeError);
  });

  test('primary group SID replaces the last sub-authority', () => {
    const user = sidFromString('S-1-5-21-2564182908-9297115-2236167518-1105');
    assert.equal(sidToString(primaryGroupSid(user, 513)), 'S-1-5-21-2564182908-9297115-2236167518-513');
    assert.equal(sidToString(user), 'S-1-5-21-2564182908-9297115-2236167518-1105', 'input left untouched');
  });
});
