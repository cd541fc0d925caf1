/**
 * ImmutableID from a real Active Directory (the Samba DC of the test setup): the source anchor Entra
 * Connect picks, read from the directory by OpenFed, equals the bytes the DC stores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { microsoft365ImmutableId } from '../../src/claims/microsoft365.js';
import { ActiveDirectory } from '../../src/directory/active-directory.js';
import { silentLogger } from '../../src/log.js';
import { ldapConfig, loadAdFacts, readAttribute, type AdFacts } from '../helpers/ad.js';

describe('ImmutableID of Samba AD users', () => {
  let ad: AdFacts;
  let directory: ActiveDirectory;

  before(() => {
    ad = loadAdFacts();
    directory = new ActiveDirectory(ldapConfig(ad), silentLogger);
  });
  after(() => directory?.close());

  test('a user with ms-DS-ConsistencyGuid: that is the ImmutableID (auto), unless objectGUID is forced', async () => {
    const alice = ad.users.NORMAL;
    const principal = (await directory.findPrincipal(`${alice.sam}@${ad.dnsDomain}`))!;
    const stored = (await readAttribute(ad, alice.dn, 'mS-DS-ConsistencyGuid'))!;
    const objectGuid = (await readAttribute(ad, alice.dn, 'objectGUID'))!;
    assert.equal(stored.length, 16);
    assert.equal(microsoft365ImmutableId(principal, 'auto'), stored.toString('base64'));
    assert.equal(microsoft365ImmutableId(principal, 'consistencyGuid'), stored.toString('base64'));
    assert.equal(microsoft365ImmutableId(principal, 'objectGuid'), objectGuid.toString('base64'));
    assert.notEqual(stored.toString('base64'), objectGuid.toString('base64'));
  });

  test('a user without it: objectGUID (auto); none when ms-DS-ConsistencyGuid is forced', async () => {
    const bob = ad.users.SECOND_SUFFIX;
    const principal = (await directory.findPrincipal(`${bob.sam}@${ad.secondUpnSuffix}`))!;
    const objectGuid = (await readAttribute(ad, bob.dn, 'objectGUID'))!;
    assert.equal(await readAttribute(ad, bob.dn, 'mS-DS-ConsistencyGuid'), undefined);
    assert.equal(microsoft365ImmutableId(principal, 'auto'), objectGuid.toString('base64'));
    assert.equal(microsoft365ImmutableId(principal, 'consistencyGuid'), undefined);
  });
});
