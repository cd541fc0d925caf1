import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { domainDnOf } from '../../src/directory/active-directory.js';
import { groupsOfFilter, sidsFilter, userFilter } from '../../src/directory/ldap-filter.js';
import {
  checkPassword,
  lookupSteps,
  MAX_LOGIN_NAME_LENGTH,
  parseLoginName,
  type DomainNames,
  type LoginName,
} from '../../src/directory/name.js';

const domain: DomainNames = { dnsDomain: 'corp.example.test', netbiosDomain: 'CORP' };

function parse(raw: string): LoginName {
  const r = parseLoginName(raw);
  assert.ok(r.ok, `expected ${JSON.stringify(raw)} to parse`);
  return r.value;
}

function steps(raw: string, d: DomainNames = domain): string[] {
  const r = lookupSteps(parse(raw), d);
  assert.ok(r.ok, `expected steps for ${raw}`);
  return r.value.map((s) => `${s.attribute}=${s.value}`);
}

describe('parseLoginName', () => {
  test('UPN, down-level and bare forms', () => {
    assert.deepEqual(parse('alice@corp.example.test'), {
      form: 'upn',
      name: 'alice@corp.example.test',
      prefix: 'alice',
      suffix: 'corp.example.test',
    });
    assert.deepEqual(parse('CORP\\alice'), { form: 'downlevel', domain: 'CORP', sam: 'alice' });
    assert.deepEqual(parse('alice'), { form: 'sam', sam: 'alice' });
  });

  test('trims (a pasted trailing newline too) and normalises to NFC', () => {
    assert.deepEqual(parse('alice\r\n'), { form: 'sam', sam: 'alice' });
    const decomposed = 'jose\u0301@corp.example.test';
    assert.deepEqual(parse(`  ${decomposed}\u00a0`), {
      form: 'upn',
      name: 'jos\u00e9@corp.example.test',
      prefix: 'jos\u00e9',
      suffix: 'corp.example.test',
    });
  });

  test('rejects empty, control characters, lone surrogates, overlong names and malformed forms', () => {
    for (const bad of [
      '',
      '   ',
      'ali\u0000ce',
      'ali\nce',
      'al\tice',
      'alice\u007f',
      'alice\u0085',
      'al\ud800ice',
      'a'.repeat(MAX_LOGIN_NAME_LENGTH + 1),
      '\\alice',
      'CORP\\',
      'CORP\\a\\b',
      'CORP\\alice@x',
      '@corp.example.test',
      'alice@',
    ]) {
      assert.equal(parseLoginName(bad).ok, false, JSON.stringify(bad.slice(0, 40)));
    }
    assert.equal(parseLoginName('a'.repeat(MAX_LOGIN_NAME_LENGTH)).ok, true);
  });

  test('LDAP filter metacharacters are ordinary characters of a name', () => {
    assert.deepEqual(parse('o(brien)'), { form: 'sam', sam: 'o(brien)' });
    assert.deepEqual(parse('*)(objectClass=*'), { form: 'sam', sam: '*)(objectClass=*' });
  });
});

describe('lookupSteps', () => {
  test('UPN in the domain: explicit UPN, then the implicit sam@dnsdomain', () => {
    assert.deepEqual(steps('alice@corp.example.test'), ['userPrincipalName=alice@corp.example.test', 'sAMAccountName=alice']);
    assert.deepEqual(steps('alice@CORP.Example.TEST'), ['userPrincipalName=alice@CORP.Example.TEST', 'sAMAccountName=alice']);
  });

  test('UPN with another suffix of the forest: the explicit UPN only', () => {
    assert.deepEqual(steps('bob@contoso.test'), ['userPrincipalName=bob@contoso.test']);
  });

  test('alternate login attribute first, then UPN', () => {
    const alt = { ...domain, alternateLoginAttribute: 'mail' };
    assert.deepEqual(steps('h.hopper@mail.contoso.test', alt), [
      'mail=h.hopper@mail.contoso.test',
      'userPrincipalName=h.hopper@mail.contoso.test',
    ]);
    assert.deepEqual(steps('heidi', alt), ['sAMAccountName=heidi'], 'bare names stay sAMAccountName');
  });

  test('down-level: NetBIOS name case-insensitive, any other domain refused', () => {
    assert.deepEqual(steps('CORP\\alice'), ['sAMAccountName=alice']);
    assert.deepEqual(steps('corp\\alice'), ['sAMAccountName=alice']);
    for (const foreign of ['OTHER\\alice', 'corp.example.test\\alice', 'CORPX\\alice']) {
      const r = lookupSteps(parse(foreign), domain);
      assert.equal(r.ok, false, foreign);
    }
  });

  test('bare name: sAMAccountName', () => {
    assert.deepEqual(steps('alice'), ['sAMAccountName=alice']);
  });
});

describe('checkPassword', () => {
  test('refuses the empty password (an unauthenticated bind succeeds on Windows AD)', () => {
    assert.equal(checkPassword('').ok, false);
    assert.equal(checkPassword(' ').ok, true, 'a space is a password; AD decides');
  });
});

describe('LDAP filters', () => {
  test('values are literal: the string form escapes every metacharacter (RFC 4515)', () => {
    assert.equal(
      userFilter('sAMAccountName', '*)(objectClass=*').toString(),
      '(&(objectCategory=person)(objectClass=user)(sAMAccountName=\\2a\\29\\28objectClass=\\2a))',
    );
    assert.equal(
      userFilter('sAMAccountName', 'a\\b\u0000').toString(),
      '(&(objectCategory=person)(objectClass=user)(sAMAccountName=a\\5cb\\00))',
    );
  });

  test('SIDs travel as binary values', () => {
    const sid = Buffer.from('01020000000000052000000021020000', 'hex');
    assert.equal(sidsFilter([sid]).toString(), '(|(objectSid=\\01\\02\\00\\00\\00\\00\\00\\05\\20\\00\\00\\00\\21\\02\\00\\00))');
  });

  test('in-chain groups with the primary group in the same filter', () => {
    const f = groupsOfFilter('CN=o(brien),OU=People,DC=x', Buffer.from([1, 0, 0, 0, 0, 0, 0, 5]));
    assert.equal(
      f.toString(),
      '(&(objectClass=group)(|(member:1.2.840.113556.1.4.1941:=CN=o\\28brien\\29,OU=People,DC=x)(objectSid=\\01\\00\\00\\00\\00\\00\\00\\05)))',
    );
  });
});

describe('domainDnOf', () => {
  test('the DC= tail of a base DN', () => {
    assert.equal(domainDnOf('OU=People,DC=corp,DC=example,DC=test'), 'DC=corp,DC=example,DC=test');
    assert.equal(domainDnOf('dc=corp, dc=test'), 'dc=corp,dc=test');
    assert.equal(domainDnOf('OU=a\\,DC=b,O=x'), undefined);
  });
});
