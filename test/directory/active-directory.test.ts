/**
 * ActiveDirectory against the real Samba AD DC of test/setup/samba-ad.sh: name forms, every AD
 * account state, the principal's shape, and filter injection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ActiveDirectory } from '../../src/directory/active-directory.js';
import { bytesToGuid } from '../../src/directory/guid.js';
import { sidToString } from '../../src/directory/sid.js';
import type { AuthResult, Principal } from '../../src/directory/types.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { badPwdCount, ldapConfig, loadAdFacts, readAttribute, unlockUser, type AdRole } from '../helpers/ad.js';

const ad = loadAdFacts();
const { users } = ad;

function principalOf(result: AuthResult): Principal {
  assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  return result.principal;
}

describe('sign-in with each name form', () => {
  let dir: ActiveDirectory;
  let altDir: ActiveDirectory;
  before(() => {
    dir = new ActiveDirectory(ldapConfig(ad), silentLogger);
    altDir = new ActiveDirectory(ldapConfig(ad, { alternateLoginAttribute: 'mail' }), silentLogger);
  });
  after(async () => {
    await dir.close();
    await altDir.close();
  });

  const alice = users.NORMAL;
  const forms: [string, string, AdRole][] = [
    ['UPN', `${alice.sam}@${ad.dnsDomain}`, 'NORMAL'],
    ['UPN, suffix in other case', `${alice.sam}@${ad.dnsDomain.toUpperCase()}`, 'NORMAL'],
    ['UPN in the second forest suffix', `${users.SECOND_SUFFIX.sam}@${ad.secondUpnSuffix}`, 'SECOND_SUFFIX'],
    ['implicit UPN sam@dnsdomain of a user whose UPN differs', `${users.SECOND_SUFFIX.sam}@${ad.dnsDomain}`, 'SECOND_SUFFIX'],
    ['DOMAIN\\user', `${ad.netbiosDomain}\\${alice.sam}`, 'NORMAL'],
    ['domain\\user in lower case', `${ad.netbiosDomain.toLowerCase()}\\${alice.sam}`, 'NORMAL'],
    ['bare sAMAccountName', alice.sam, 'NORMAL'],
    ['bare sAMAccountName with LDAP metacharacters', users.ESCAPING.sam, 'ESCAPING'],
    ['DOMAIN\\user with LDAP metacharacters', `${ad.netbiosDomain}\\${users.ESCAPING.sam}`, 'ESCAPING'],
    ['surrounding blanks trimmed', `  ${alice.sam}@${ad.dnsDomain} `, 'NORMAL'],
  ];
  for (const [label, name, role] of forms) {
    test(label, async () => {
      const principal = principalOf(await dir.authenticate(name, users[role].password));
      assert.equal(principal.sAMAccountName, users[role].sam);
      assert.equal(principal.dn, users[role].dn);
    });
  }

  test('a foreign domain in DOMAIN\\user is a wrong name', async () => {
    for (const name of [`OTHER\\${alice.sam}`, `${ad.dnsDomain}\\${alice.sam}`]) {
      const result = await dir.authenticate(name, alice.password);
      assert.deepEqual([result.ok, !result.ok && result.reason], [false, 'invalid_credentials'], name);
    }
  });

  test('alternate login attribute (mail) that differs from the UPN', async () => {
    const heidi = users.ALT_LOGIN;
    const mail = (await readAttribute(ad, heidi.dn, 'mail'))?.toString();
    assert.ok(mail && !mail.startsWith(`${heidi.sam}@`), 'seed: heidi has a mail unlike her UPN');
    assert.equal(principalOf(await altDir.authenticate(mail, heidi.password)).sAMAccountName, heidi.sam);
    // The UPN still works when the alternate attribute finds no one...
    assert.equal(principalOf(await altDir.authenticate(`${heidi.sam}@${ad.dnsDomain}`, heidi.password)).sAMAccountName, heidi.sam);
    // ...and without the option, mail is not a login name.
    const plain = await dir.authenticate(mail, heidi.password);
    assert.equal(!plain.ok && plain.reason, 'invalid_credentials');
  });
});

describe('AD account states', () => {
  let dir: ActiveDirectory;
  const logLines: string[] = [];
  before(async () => {
    // Start from clean counters even if an earlier run was interrupted.
    await unlockUser(ad, 'WRONG_PW');
    await unlockUser(ad, 'LOCKOUT');
    const logger = createLogger('debug', { write: (line: string) => void logLines.push(line) });
    dir = new ActiveDirectory(ldapConfig(ad), logger);
  });
  after(async () => {
    await dir.close();
    await unlockUser(ad, 'WRONG_PW');
    await unlockUser(ad, 'LOCKOUT');
  });

  async function failure(name: string, password: string): Promise<{ reason: string; detail: string }> {
    const result = await dir.authenticate(name, password);
    assert.ok(!result.ok, `${name} must not sign in`);
    return { reason: result.reason, detail: result.detail ?? '' };
  }

  test('wrong password (52e) and unknown user give the caller the same reason', async () => {
    const before = await badPwdCount(ad, 'WRONG_PW');
    const wrong = await failure(users.WRONG_PW.sam, 'Not-The-Passw0rd!');
    const unknown = await failure('no-such-user-here', 'Not-The-Passw0rd!');
    const unknownUpn = await failure(`no-such-user@${ad.dnsDomain}`, 'Not-The-Passw0rd!');
    assert.equal(wrong.reason, 'invalid_credentials');
    assert.equal(unknown.reason, 'invalid_credentials');
    assert.equal(unknownUpn.reason, 'invalid_credentials');
    assert.match(wrong.detail, /52e/);
    assert.equal(await badPwdCount(ad, 'WRONG_PW'), before + 1, 'the DC saw exactly one bad bind');
  });

  const states: [AdRole, string, string][] = [
    ['DISABLED', 'account_disabled', '533'],
    ['PWD_EXPIRED', 'password_expired', '532'],
    ['MUST_CHANGE', 'password_must_change', '773'],
    ['ACCOUNT_EXPIRED', 'account_expired', '701'],
  ];
  for (const [role, reason, code] of states) {
    test(`${reason} (${code}) with the right password; invalid_credentials with a wrong one`, async () => {
      const right = await failure(`${users[role].sam}@${ad.dnsDomain}`, users[role].password);
      assert.equal(right.reason, reason);
      assert.match(right.detail, new RegExp(code));
      // AD reveals the state only to someone who knows the password.
      assert.equal((await failure(users[role].sam, 'Wrong-Passw0rd!')).reason, 'invalid_credentials');
      await unlockUser(ad, role);
    });
  }

  test('account_locked (775) after 5 bad passwords, then unlocked again', async () => {
    const grace = users.LOCKOUT;
    for (let i = 1; i <= 5; i++) {
      assert.equal((await failure(grace.sam, `Bad-Passw0rd-${i}`)).reason, 'invalid_credentials', `attempt ${i}`);
    }
    assert.equal((await failure(grace.sam, 'Bad-Passw0rd-6')).reason, 'account_locked');
    const locked = await failure(grace.sam, grace.password);
    assert.equal(locked.reason, 'account_locked', 'locked even with the right password');
    assert.match(locked.detail, /775/);
    await unlockUser(ad, 'LOCKOUT');
    principalOf(await dir.authenticate(grace.sam, grace.password));
  });

  test('an empty password is refused before any bind', async () => {
    const before = await badPwdCount(ad, 'WRONG_PW');
    for (const name of [users.WRONG_PW.sam, users.NORMAL.sam]) {
      const refused = await failure(name, '');
      assert.equal(refused.reason, 'invalid_credentials');
      assert.equal(refused.detail, 'empty password');
    }
    assert.equal(await badPwdCount(ad, 'WRONG_PW'), before);
  });

  test('the log has the internal reason and never a password', () => {
    const log = logLines.join('');
    assert.match(log, /"reason":"account_disabled"/);
    assert.match(log, /AD 533/);
    for (const role of Object.keys(users) as AdRole[]) assert.ok(!log.includes(users[role].password), `${role} password logged`);
    assert.ok(!log.includes('Wrong-Passw0rd!') && !log.includes('Bad-Passw0rd-'));
  });
});

describe('the principal', () => {
  let tokenGroups: ActiveDirectory;
  let inChain: ActiveDirectory;
  before(() => {
    tokenGroups = new ActiveDirectory(ldapConfig(ad, { extraAttributes: ['department', 'title', 'description'] }), silentLogger);
    inChain = new ActiveDirectory(ldapConfig(ad, { groupLookup: 'inChain' }), silentLogger);
  });
  after(async () => {
    await tokenGroups.close();
    await inChain.close();
  });

  test('attributes, binary GUIDs and ImmutableID', async () => {
    const alice = principalOf(await tokenGroups.authenticate(users.NORMAL.sam, users.NORMAL.password));
    assert.equal(alice.dn, users.NORMAL.dn);
    assert.equal(alice.userPrincipalName, `alice@${ad.dnsDomain}`);
    assert.equal(alice.sAMAccountName, 'alice');
    assert.equal(alice.netbiosDomain, ad.netbiosDomain);
    assert.equal(alice.mail, `alice@${ad.dnsDomain}`);
    assert.equal(alice.displayName, 'Alice Anders');
    assert.equal(alice.givenName, 'Alice');
    assert.equal(alice.sn, 'Anders');
    assert.deepEqual(alice.attributes, { department: ['Sales'], title: ['Account Manager'], description: [] });

    assert.ok(Buffer.isBuffer(alice.objectGuid));
    assert.equal(alice.objectGuid.length, 16);
    // ImmutableID (Entra ID sourceAnchor) is base64 of the raw objectGUID bytes, exactly as stored.
    const stored = await readAttribute(ad, alice.dn, 'objectGUID');
    assert.equal(alice.objectGuid.toString('base64'), stored?.toString('base64'));
    assert.match(alice.objectGuid.toString('base64'), /^[A-Za-z0-9+/]{21}[AQgw]==$/);

    // The seed wrote ms-DS-ConsistencyGuid from GUID 0b5b2a9c-... in Microsoft byte order.
    assert.ok(Buffer.isBuffer(alice.consistencyGuid));
    assert.equal(alice.consistencyGuid.toString('base64'), 'nCpbCx5vWUqaDj8cLU5fYA==');
    assert.equal(bytesToGuid(alice.consistencyGuid), '0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60');
  });

  test('a user in another UPN suffix and without ConsistencyGuid', async () => {
    const bob = principalOf(await tokenGroups.authenticate(`bob@${ad.secondUpnSuffix}`, users.SECOND_SUFFIX.password));
    assert.equal(bob.userPrincipalName, `bob@${ad.secondUpnSuffix}`);
    assert.equal(bob.consistencyGuid, undefined);
    assert.equal(bob.objectGuid.length, 16);
  });

  test('a user without userPrincipalName gets the implicit one', async () => {
    const kim = ad.users.NO_UPN;
    assert.equal(await readAttribute(ad, kim.dn, 'userPrincipalName'), undefined, 'seed: kim has no UPN');
    const principal = principalOf(await tokenGroups.authenticate(`${kim.sam}@${ad.dnsDomain}`, kim.password));
    assert.equal(principal.userPrincipalName, `${kim.sam}@${ad.dnsDomain}`);
  });

  async function groupSid(name: string): Promise<string> {
    const dn = name === 'Domain Users' ? `CN=Domain Users,CN=Users,${ad.baseDn}` : `CN=${name},${ad.groupsDn}`;
    const sid = await readAttribute(ad, dn, 'objectSid');
    assert.ok(sid, `objectSid of ${name}`);
    return sidToString(sid);
  }

  test('tokenGroups: transitive security groups with names and SIDs, primary group kept, BUILTIN dropped', async () => {
    const alice = principalOf(await tokenGroups.authenticate(users.NORMAL.sam, users.NORMAL.password));
    assert.deepEqual(
      alice.groups.map((g) => g.name),
      ['Domain Users', 'EU-Sales', 'OpenFed-Users', 'Sales'],
      'A > B > C > alice resolved; the distribution group Newsletter is not in a token',
    );
    for (const group of alice.groups) {
      assert.match(group.sid, /^S-1-5-21-\d+-\d+-\d+-\d+$/);
      assert.equal(group.sid, await groupSid(group.name));
    }
  });

  test('inChain: the same groups plus distribution groups, from one search', async () => {
    const alice = principalOf(await inChain.authenticate(users.NORMAL.sam, users.NORMAL.password));
    assert.deepEqual(
      alice.groups.map((g) => g.name),
      ['Domain Users', 'EU-Sales', 'Newsletter', 'OpenFed-Users', 'Sales'],
    );
    for (const group of alice.groups) assert.equal(group.sid, await groupSid(group.name));
    const bob = principalOf(await inChain.authenticate(users.SECOND_SUFFIX.sam, users.SECOND_SUFFIX.password));
    assert.deepEqual(bob.groups.map((g) => g.name), ['Domain Users', 'OpenFed-Users']);
  });

  test('findPrincipal looks up without a password', async () => {
    const alice = await tokenGroups.findPrincipal(`${ad.netbiosDomain}\\alice`);
    assert.equal(alice?.dn, users.NORMAL.dn);
    assert.equal(alice?.groups.length, 4);
    assert.equal((await tokenGroups.findPrincipal(`bob@${ad.dnsDomain}`))?.userPrincipalName, `bob@${ad.secondUpnSuffix}`);
    assert.equal(await tokenGroups.findPrincipal('no-such-user-here'), undefined);
    assert.equal(await tokenGroups.findPrincipal(''), undefined);
  });

  test('health: service bind and a search', async () => {
    const health = await tokenGroups.health();
    assert.equal(health.ok, true);
    assert.match(health.detail, /ldap:\/\/127\.0\.0\.1/);
  });
});

describe('filter injection: a name never matches anyone but itself', () => {
  let dir: ActiveDirectory;
  before(() => {
    dir = new ActiveDirectory(ldapConfig(ad, { alternateLoginAttribute: 'mail' }), silentLogger);
  });
  after(() => dir.close());

  const hostile = [
    '*',
    'a*',
    'al*',
    '*)(objectClass=*',
    'alice)(|(x=*',
    'alice)(&',
    '*)(sAMAccountName=alice',
    '\\',
    'alice\\',
    '\\2a',
    'al\\69ce', // "\69" is "i" in RFC 4515 escaping: must stay a literal backslash
    'o\\28brien\\29',
    'o*',
    'o(*',
    'al\u0000ice',
    'alice\u0000',
    '*@' + ad.dnsDomain,
    'alice@*',
    '*@*',
    `${ad.netbiosDomain}\\*`,
    `${ad.netbiosDomain}\\a*`,
    '*\\alice',
    'a'.repeat(1024),
    'a'.repeat(100_000),
  ];
  for (const name of hostile) {
    const label = JSON.stringify(name.length > 40 ? `${name.slice(0, 12)}... (${name.length} chars)` : name);
    test(label, async () => {
      // Every seeded password is tried, so a filter that widened to any user would sign someone in.
      for (const role of ['NORMAL', 'ESCAPING', 'SECOND_SUFFIX'] as const) {
        const result = await dir.authenticate(name, users[role].password);
        assert.deepEqual([result.ok, !result.ok && result.reason], [false, 'invalid_credentials']);
      }
      assert.equal(await dir.findPrincipal(name), undefined);
    });
  }
});
