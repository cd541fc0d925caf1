import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { DEMO_PASSWORD, DEMO_USER, DemoDirectory, hashPassword, verifyPassword } from '../../src/directory/demo.js';
import { bytesToGuid, guidToBytes } from '../../src/directory/guid.js';
import { silentLogger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-demo-'));

describe('demo directory', () => {
  test('created on first start with the documented user, hashed with scrypt, and reused', async () => {
    const file = join(dir, 'first', 'demo-users.yaml');
    const directory = await DemoDirectory.open(file, silentLogger);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /passwordHash: scrypt\$/);
    assert.ok(!text.includes(DEMO_PASSWORD), 'no clear-text password in the file');
    const result = await directory.authenticate(DEMO_USER, DEMO_PASSWORD);
    assert.ok(result.ok);
    const again = await DemoDirectory.open(file, silentLogger);
    const second = await again.authenticate(DEMO_USER, DEMO_PASSWORD);
    assert.ok(second.ok && result.ok && second.principal.objectGuid.equals(result.principal.objectGuid), 'same user, same GUID');
  });

  test('yields the same principal shape as Active Directory', async () => {
    const file = join(dir, 'shape.yaml');
    writeFileSync(
      file,
      stringify({
        users: [
          {
            userPrincipalName: 'ann@contoso.test',
            sAMAccountName: 'ann',
            passwordHash: await hashPassword('Ann-Passw0rd'),
            objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12',
            consistencyGuid: '0b5b2a9c-6f1e-4a59-9a0e-3f1c2d4e5f60',
            mail: 'ann@contoso.test',
            displayName: 'Ann Example',
            groups: [{ name: 'Sales', sid: 'S-1-5-21-1-2-3-1105' }],
            attributes: { department: ['Sales'] },
          },
          { userPrincipalName: 'off@contoso.test', sAMAccountName: 'off', passwordHash: await hashPassword('Off-Passw0rd'), objectGuid: '00000000-0000-4000-8000-000000000001', disabled: true },
        ],
      }),
    );
    const directory = await DemoDirectory.open(file, silentLogger);
    const result = await directory.authenticate('OPENFED\\ann', 'Ann-Passw0rd');
    assert.ok(result.ok);
    const p = result.principal;
    // ImmutableID is base64 of the raw little-endian GUID bytes, exactly as from AD's objectGUID.
    assert.equal(p.objectGuid.toString('base64'), 'JALIcXFTjk2pqpyzZWmfEg==');
    assert.equal(p.consistencyGuid?.length, 16);
    assert.equal(p.userPrincipalName, 'ann@contoso.test');
    assert.equal(p.netbiosDomain, 'OPENFED');
    assert.deepEqual(p.groups, [{ name: 'Sales', sid: 'S-1-5-21-1-2-3-1105' }]);
    assert.deepEqual(p.attributes, { department: ['Sales'] });

    // As AD: a disabled account says so only after the right password.
    assert.deepEqual(await directory.authenticate('off', 'Off-Passw0rd'), { ok: false, reason: 'account_disabled' });
    const wrong = await directory.authenticate('off', 'wrong');
    assert.ok(!wrong.ok && wrong.reason === 'invalid_credentials');
    const unknown = await directory.authenticate('nobody', 'wrong');
    assert.ok(!unknown.ok && unknown.reason === 'invalid_credentials');
    const empty = await directory.authenticate('ann', '');
    assert.ok(!empty.ok && empty.reason === 'invalid_credentials');
    const wrongDomain = await directory.authenticate('CONTOSO\\ann', 'Ann-Passw0rd');
    assert.ok(!wrongDomain.ok);
  });

  test('a malformed users file is refused with the field named', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify({ users: [{ userPrincipalName: 'x@y', sAMAccountName: 'x', passwordHash: 'plain-text', objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12' }] }));
    await assert.rejects(DemoDirectory.open(file, silentLogger), /users\.0\.passwordHash: expected scrypt/);
  });

  test('scrypt parameters from the file cannot exhaust memory', async () => {
    assert.equal(await verifyPassword('x', 'scrypt$1073741824$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), false);
  });

  test('GUIDs convert to and from AD byte order', () => {
    const bytes = guidToBytes('71c80224-5371-4d8e-a9aa-9cb365699f12');
    assert.equal(bytes.toString('hex'), '2402c8717153' + '8e4d' + 'a9aa9cb365699f12');
    assert.equal(bytesToGuid(bytes), '71c80224-5371-4d8e-a9aa-9cb365699f12');
    assert.throws(() => guidToBytes('not-a-guid'));
  });
});
