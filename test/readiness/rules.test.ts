/**
 * The readiness rules on fixture users: one table row per problem, each with the findings it must
 * give (check and severity) and nothing else, plus the duplicate checks that span users.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { immutableId } from '../../src/claims/values.js';
import type { DirectoryUserRecord, Principal } from '../../src/directory/types.js';
import { guidToBytes } from '../../src/directory/guid.js';
import { CHECKS, readinessFindings, type CheckId, type Finding, type ReadinessConfig } from '../../src/readiness/rules.js';

const CONFIG: ReadinessConfig = { domains: ['contoso.com', 'fabrikam.com'], immutableIdSource: 'auto' };
const NORMAL = 0x200;

let counter = 0;
/** A user with nothing wrong under CONFIG: every row changes only what it is about. */
function user(overrides: Partial<DirectoryUserRecord> = {}): DirectoryUserRecord {
  counter++;
  const n = counter.toString(16).padStart(12, '0');
  const guid = guidToBytes(`6f1e2d3c-4b5a-4968-8776-${n}`);
  return {
    dn: `CN=user${counter},OU=People,DC=corp,DC=example,DC=test`,
    sAMAccountName: `user${counter}`,
    userPrincipalName: `user${counter}@contoso.com`,
    mail: `user${counter}@contoso.com`,
    proxyAddresses: [`SMTP:user${counter}@contoso.com`, `smtp:u${counter}@fabrikam.com`, `X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=user${counter}`],
    objectGuid: guid,
    consistencyGuid: guid,
    userAccountControl: NORMAL,
    ...overrides,
  };
}

const shortly = (findings: Finding[]) => findings.map((f) => `${f.check}:${f.severity}`).sort();

describe('readiness rules, one user at a time', () => {
  const rows: { name: string; user: Partial<DirectoryUserRecord>; config?: Partial<ReadinessConfig>; expect: string[]; says?: RegExp }[] = [
    { name: 'a clean user', user: {}, expect: [] },
    { name: 'a subdomain of a federated domain', user: { userPrincipalName: 'a@sales.contoso.com' }, expect: [] },
    { name: 'UPN suffix in another case', user: { userPrincipalName: 'A.B@Contoso.COM' }, expect: [] },
    { name: "an apostrophe (Entra takes it, though IdFix flags it)", user: { userPrincipalName: "o'brien@contoso.com" }, expect: [] },
    { name: 'no UPN', user: { userPrincipalName: undefined }, expect: ['upn-missing:error'], says: /onmicrosoft\.com/ },
    { name: 'an empty UPN', user: { userPrincipalName: '' }, expect: ['upn-missing:error'] },
    { name: 'no @', user: { userPrincipalName: 'alice' }, expect: ['upn-format:error'], says: /no @/ },
    { name: 'two @', user: { userPrincipalName: 'a@b@contoso.com' }, expect: ['upn-format:error'], says: /2 @ signs/ },
    { name: 'leading period', user: { userPrincipalName: '.alice@contoso.com' }, expect: ['upn-format:error'], says: /starts with a period/ },
    { name: 'period before the @', user: { userPrincipalName: 'alice.@contoso.com' }, expect: ['upn-format:error'], says: /period just before the @/ },
    { name: 'two periods', user: { userPrincipalName: 'al..ice@contoso.com' }, expect: ['upn-format:error'], says: /two periods/ },
    { name: 'nothing before the @', user: { userPrincipalName: '@contoso.com' }, expect: ['upn-format:error'] },
    { name: '65 characters before the @', user: { userPrincipalName: `${'a'.repeat(65)}@contoso.com` }, expect: ['upn-format:error'], says: /65 characters before the @ \(at most 64\)/ },
    { name: '64 characters before the @', user: { userPrincipalName: `${'a'.repeat(64)}@contoso.com` }, expect: [] },
    {
      name: 'more than 48 after the @, 113 in all',
      user: { userPrincipalName: `${'a'.repeat(64)}@${'b'.repeat(40)}.contoso.com` },
      expect: ['upn-format:error'],
      says: /117 characters \(at most 113\); 52 characters after the @ \(at most 48\)/,
    },
    { name: 'a bad domain label', user: { userPrincipalName: 'alice@-contoso.com' }, expect: ['upn-format:error'], says: /label -contoso/ },
    { name: 'a space', user: { userPrincipalName: 'alice smith@contoso.com' }, expect: ['upn-characters:error'], says: /refuses space/ },
    { name: 'IdFix characters', user: { userPrincipalName: 'a&b+c%d@contoso.com' }, expect: ['upn-characters:error'], says: /refuses & \+ %/ },
    { name: 'an umlaut', user: { userPrincipalName: 'jürgen@contoso.com' }, expect: ['upn-characters:error'], says: /refuses ü/ },
    { name: '.local suffix', user: { userPrincipalName: 'alice@corp.local' }, expect: ['upn-suffix-not-routable:error'], says: /\.local/ },
    { name: '.internal suffix', user: { userPrincipalName: 'alice@ad.internal' }, expect: ['upn-suffix-not-routable:error'] },
    { name: 'single-label suffix', user: { userPrincipalName: 'alice@corp' }, expect: ['upn-suffix-not-routable:error'], says: /single label/ },
    { name: 'numeric top-level label', user: { userPrincipalName: 'alice@10.0.0.1' }, expect: ['upn-suffix-not-routable:error'], says: /not a top-level domain/ },
    {
      name: 'routable but not federated',
      user: { userPrincipalName: 'alice@northwind.com' },
      expect: ['upn-suffix-not-federated:error'],
      says: /configured: contoso\.com, fabrikam\.com/,
    },
    { name: 'a lookalike of a federated domain', user: { userPrincipalName: 'alice@notcontoso.com' }, expect: ['upn-suffix-not-federated:error'] },
    { name: 'no federated domains at all', user: {}, config: { domains: [] }, expect: ['upn-suffix-not-federated:error'], says: /configured: none/ },
    { name: 'auto without ConsistencyGuid', user: { consistencyGuid: undefined }, expect: ['immutable-id-source:warning'], says: /auto uses objectGUID/ },
    { name: 'auto with an empty ConsistencyGuid', user: { consistencyGuid: Buffer.alloc(0) }, expect: ['immutable-id-source:warning'] },
    { name: 'consistencyGuid without one', user: { consistencyGuid: undefined }, config: { immutableIdSource: 'consistencyGuid' }, expect: ['immutable-id-source:error'] },
    { name: 'consistencyGuid with one', user: {}, config: { immutableIdSource: 'consistencyGuid' }, expect: [] },
    {
      name: 'objectGuid while ConsistencyGuid differs',
      user: { consistencyGuid: guidToBytes('0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60') },
      config: { immutableIdSource: 'objectGuid' },
      expect: ['immutable-id-source:error'],
      says: /nCpbCx5vWUqaDj8cLU5fYA==/,
    },
    { name: 'objectGuid while ConsistencyGuid equals it', user: {}, config: { immutableIdSource: 'objectGuid' }, expect: [] },
    { name: 'objectGuid without ConsistencyGuid', user: { consistencyGuid: undefined }, config: { immutableIdSource: 'objectGuid' }, expect: [] },
    { name: 'auto with a ConsistencyGuid that is not a GUID', user: { consistencyGuid: Buffer.from('abc') }, expect: ['immutable-id-source:warning'], says: /3 bytes/ },
    { name: 'disabled', user: { userAccountControl: NORMAL | 0x2 }, expect: ['account-disabled:warning'] },
    { name: 'mail with a space', user: { mail: 'alice smith@contoso.com' }, expect: ['mail-invalid:warning'], says: /refused characters space/ },
    { name: 'mail without @', user: { mail: 'alice' }, expect: ['mail-invalid:warning'] },
    { name: 'proxy address with brackets', user: { proxyAddresses: ['SMTP:alice[1]@contoso.com'] }, expect: ['proxy-address-invalid:warning'], says: /\[ \]/ },
    { name: 'proxy address with two periods', user: { proxyAddresses: ['smtp:al..ice@contoso.com'] }, expect: ['proxy-address-invalid:warning'] },
    { name: 'proxy address on a single label', user: { proxyAddresses: ['smtp:alice@exchange'] }, expect: ['proxy-address-invalid:warning'] },
    { name: 'non-SMTP proxies are not checked', user: { proxyAddresses: ['X500:/o=a b (c)', 'sip:alice smith'] }, expect: [] },
    { name: 'no mail, no proxies', user: { mail: undefined, proxyAddresses: [] }, expect: [] },
  ];
  for (const row of rows) {
    test(row.name, () => {
      const findings = readinessFindings([user(row.user)], { ...CONFIG, ...row.config });
      assert.deepEqual(shortly(findings), [...row.expect].sort(), JSON.stringify(findings, null, 2));
      if (row.says) assert.match(findings.map((f) => f.message).join('\n'), row.says);
    });
  }

  test('a user is named by UPN, else sAMAccountName, with its DN', () => {
    const [finding] = readinessFindings([user({ userPrincipalName: undefined, sAMAccountName: 'kim' })], CONFIG);
    assert.equal(finding?.user, 'kim');
    assert.match(finding?.dn ?? '', /^CN=user\d+,OU=People/);
  });

  test('findings come sorted by user, then in check order', () => {
    const findings = readinessFindings(
      [user({ userPrincipalName: 'zed@corp.local', userAccountControl: NORMAL | 0x2 }), user({ userPrincipalName: undefined, sAMAccountName: 'amy' })],
      CONFIG,
    );
    assert.deepEqual(
      findings.map((f) => `${f.user} ${f.check}`),
      ['amy upn-missing', 'zed@corp.local upn-suffix-not-routable', 'zed@corp.local account-disabled'],
    );
  });
});

describe('readiness rules across users', () => {
  test('duplicate UPN, compared without case: both users, each naming the other', () => {
    const a = user({ userPrincipalName: 'Alice@contoso.com' });
    const b = user({ userPrincipalName: 'alice@CONTOSO.com' });
    const findings = readinessFindings([a, b, user()], CONFIG);
    assert.deepEqual(shortly(findings), ['upn-duplicate:error', 'upn-duplicate:error']);
    assert.match(findings.find((f) => f.dn === a.dn)!.message, new RegExp(`as alice@CONTOSO.com \\(${b.dn}\\)`));
    assert.match(findings.find((f) => f.dn === b.dn)!.message, new RegExp(`as Alice@contoso.com \\(${a.dn}\\)`));
  });

  test("one user's mail is another's proxy address (smtp: compared without case)", () => {
    const a = user({ mail: 'Shared@contoso.com', proxyAddresses: [] });
    const b = user({ proxyAddresses: ['SMTP:b@contoso.com', 'smtp:shared@CONTOSO.com'] });
    const findings = readinessFindings([a, b], CONFIG);
    assert.deepEqual(
      findings.map((f) => `${f.dn === a.dn ? 'a' : 'b'} ${f.check}:${f.severity}`).sort(),
      ['a mail-duplicate:warning', 'b proxy-address-duplicate:warning'],
    );
    assert.match(findings[0]!.message, /shared@contoso\.com/);
  });

  test("a user's own mail repeated in its proxy addresses is no duplicate", () => {
    assert.deepEqual(readinessFindings([user({ mail: 'x@contoso.com', proxyAddresses: ['SMTP:X@contoso.com', 'smtp:x@contoso.com'] })], CONFIG), []);
  });

  test('the same X500 proxy on two users is not an SMTP duplicate', () => {
    const x500 = 'X500:/o=Contoso/cn=shared';
    assert.deepEqual(readinessFindings([user({ proxyAddresses: [x500] }), user({ proxyAddresses: [x500] })], CONFIG), []);
  });

  test('duplicate ImmutableID: a ConsistencyGuid copied from another user', () => {
    const a = user();
    const b = user({ consistencyGuid: a.objectGuid });
    const findings = readinessFindings([a, b], CONFIG);
    assert.deepEqual(shortly(findings), ['immutable-id-duplicate:error', 'immutable-id-duplicate:error']);
    assert.ok(findings.every((f) => f.message.includes(a.objectGuid.toString('base64'))));
  });

  test('ImmutableID duplicates follow immutableIdSource: the same ConsistencyGuid does not clash under objectGuid', () => {
    const shared = guidToBytes('0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60');
    const users = [user({ consistencyGuid: shared }), user({ consistencyGuid: shared })];
    assert.deepEqual(shortly(readinessFindings(users, CONFIG)), ['immutable-id-duplicate:error', 'immutable-id-duplicate:error']);
    const underObjectGuid = shortly(readinessFindings(users, { ...CONFIG, immutableIdSource: 'objectGuid' }));
    assert.deepEqual(underObjectGuid, ['immutable-id-source:error', 'immutable-id-source:error']);
  });

  test('the ImmutableID a finding names is the one tokens carry', () => {
    const u = user({ consistencyGuid: undefined });
    const [finding] = readinessFindings([u], CONFIG);
    const principal: Principal = { dn: u.dn, objectGuid: u.objectGuid, userPrincipalName: u.userPrincipalName!, sAMAccountName: u.sAMAccountName, netbiosDomain: 'CORP', groups: [], attributes: {} };
    assert.ok(finding?.message.includes(`(${immutableId(principal)})`), finding?.message);
  });

  test('every check is reachable from the fixtures above', () => {
    const seen = new Set<CheckId>();
    const everything = [
      user({ userPrincipalName: undefined }),
      user({ userPrincipalName: 'a@b@contoso.com' }),
      user({ userPrincipalName: 'a b@contoso.com' }),
      user({ userPrincipalName: 'a@corp.local' }),
      user({ userPrincipalName: 'a@northwind.com' }),
      user({ userPrincipalName: 'dup@contoso.com', consistencyGuid: undefined }),
      user({ userPrincipalName: 'DUP@contoso.com', mail: 'x y@contoso.com', proxyAddresses: ['smtp:(x)@contoso.com'] }),
      user({ mail: 'same@contoso.com', proxyAddresses: ['smtp:other@contoso.com'] }),
      user({ mail: 'other@contoso.com', userAccountControl: NORMAL | 0x2 }),
    ];
    everything.push(user({ consistencyGuid: everything[0]!.objectGuid }), user({ proxyAddresses: ['smtp:same@contoso.com'] }));
    for (const f of readinessFindings(everything, CONFIG)) seen.add(f.check);
    assert.deepEqual([...seen].sort(), [...CHECKS].sort());
  });
});
