import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/config/load.js';
import { DEMO_PASSWORD, DEMO_USER, DemoDirectory, hashPassword, verifyPassword } from '../../src/directory/demo.js';
import { bytesToGuid, guidToBytes } from '../../src/directory/guid.js';
import { createLogger, silentLogger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

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
    await assert.rejects(DemoDirectory.open(file, silentLogger), (err: Error) => {
      assert.ok(err instanceof ConfigError, 'a ConfigError: start-up prints it as one line');
      assert.equal(err.message, `demo users key users[0].passwordHash (x@y): expected scrypt$N$r$p$salt$hash (from openfed hash-password) (in ${file})`);
      return true;
    });
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

describe('demo users file: mistakes are one line naming the file, the entry and the key', () => {
  const hash = 'scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=';
  const bob = { userPrincipalName: 'bob@openfed.test', sAMAccountName: 'bob', passwordHash: hash };
  const cases: Array<[name: string, content: string, line: (file: string) => string]> = [
    ['a required key missing', stringify({ users: [bob, { userPrincipalName: 'eve@openfed.test', passwordHash: hash }] }), (f) => `demo users key users[1].sAMAccountName (eve@openfed.test): required, expected string (in ${f})`],
    ['a misspelt key', stringify({ users: [{ ...bob, objectGUID: '71c80224-5371-4d8e-a9aa-9cb365699f12' }] }), (f) => `demo users key users[0].objectGUID (bob@openfed.test): unknown key (in ${f})`],
    ['a GUID that is not one', stringify({ users: [{ ...bob, objectGuid: '1234' }] }), (f) => `demo users key users[0].objectGuid (bob@openfed.test): Invalid UUID (in ${f})`],
    ['an entry without a UPN', stringify({ users: [{ sAMAccountName: 'x', passwordHash: hash }] }), (f) => `demo users key users[0].userPrincipalName: required, expected string (in ${f})`],
    ['users not a list', 'users:\n  bob: {}\n', (f) => `demo users key users: expected array, received object (in ${f})`],
    ['the same UPN twice', stringify({ users: [bob, { ...bob, userPrincipalName: 'BOB@openfed.test', sAMAccountName: 'bob2' }] }), (f) => `demo users key users[1].userPrincipalName (BOB@openfed.test): the same as users[0] (bob@openfed.test) (in ${f})`],
    [
      'one objectGuid for two users (a copied entry)',
      stringify({ users: [{ ...bob, objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12' }, { userPrincipalName: 'eve@openfed.test', sAMAccountName: 'eve', passwordHash: hash, objectGuid: '71C80224-5371-4D8E-A9AA-9CB365699F12' }] }),
      (f) => `demo users key users[1].objectGuid (eve@openfed.test): the same as users[0] (bob@openfed.test) (in ${f})`,
    ],
  ];
  for (const [name, content, line] of cases) {
    test(name, async () => {
      const file = join(dir, `mistake-${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, content);
      await assert.rejects(DemoDirectory.open(file, silentLogger), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, line(file));
        return true;
      });
    });
  }

  test('not YAML', async () => {
    const file = join(dir, 'not-yaml.yaml');
    writeFileSync(file, 'users: [\n');
    await assert.rejects(DemoDirectory.open(file, silentLogger), (err: Error) => err instanceof ConfigError && err.message.startsWith(`demo users file ${file}: not valid YAML: `) && !err.message.includes('\n'));
  });

  test('the server refuses to start on it with that line, not a JSON log line', () => {
    const file = join(dir, 'start.yaml');
    writeFileSync(file, stringify({ users: [{ userPrincipalName: 'eve@openfed.test', sAMAccountName: 'eve' }] }));
    const config = join(dir, 'start-openfed.yaml');
    writeFileSync(config, stringify({ server: { port: 0 }, management: { port: 0 }, dataDir: join(dir, 'start-data'), directory: { demo: { usersFile: file } } }));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, OPENFED_CONFIG: config }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.equal(result.stderr, `openfed: demo users key users[0].passwordHash (eve@openfed.test): required, expected string (in ${file})\n`);
  });
});

describe('demo users without objectGuid', () => {
  test('get a stable GUID derived from the UPN: the same on every start, whatever the case of the UPN', async () => {
    const passwordHash = await hashPassword('Bob-Passw0rd');
    const write = (name: string, upn: string) => {
      const file = join(dir, name);
      writeFileSync(file, stringify({ users: [{ userPrincipalName: upn, sAMAccountName: 'bob', passwordHash }, { userPrincipalName: 'eve@openfed.test', sAMAccountName: 'eve', passwordHash }] }));
      return file;
    };
    const guidOf = async (file: string, user: string) => (await (await DemoDirectory.open(file, silentLogger)).findPrincipal(user))?.objectGuid;
    const first = await guidOf(write('derived-a.yaml', 'bob@openfed.test'), 'bob@openfed.test');
    const again = await guidOf(write('derived-b.yaml', 'Bob@OpenFed.test'), 'bob@openfed.test');
    const eve = await guidOf(write('derived-c.yaml', 'bob@openfed.test'), 'eve@openfed.test');
    assert.ok(first && again && eve);
    assert.ok(first.equals(again), 'same UPN, same GUID');
    assert.ok(!first.equals(eve), 'another UPN, another GUID');
    // Pinned: relying parties keep ImmutableIDs made from it, so the derivation must never change. The value
    // is standard UUIDv5, as python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('5c0f6f0e-8a3b-4d7e-9b61-c2f4a8d3e715'), 'bob@openfed.test'))".
    assert.equal(bytesToGuid(first), 'efd96237-6973-567d-ac5d-136b96f4de25');
    assert.match(bytesToGuid(first), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'an RFC 9562 version-5 UUID');
  });

  test('an objectGuid given in the file is used as it is', async () => {
    const file = join(dir, 'given.yaml');
    writeFileSync(file, stringify({ users: [{ userPrincipalName: 'bob@openfed.test', sAMAccountName: 'bob', passwordHash: await hashPassword('x'), objectGuid: '71c80224-5371-4d8e-a9aa-9cb365699f12' }] }));
    const principal = await (await DemoDirectory.open(file, silentLogger)).findPrincipal('bob');
    assert.equal(principal && bytesToGuid(principal.objectGuid), '71c80224-5371-4d8e-a9aa-9cb365699f12');
  });
});

describe('demo users file: read again when it changes', () => {
  test('a user appended as the README says signs in without a restart; a broken edit keeps the users read before', async () => {
    const file = join(dir, 'reload', 'demo-users.yaml');
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const directory = await DemoDirectory.open(file, logger, { reloadCheckMs: 0 });
    assert.equal((await directory.authenticate('bob@openfed.test', 'Bob-Passw0rd')).ok, false);

    const bob = stringify([{ userPrincipalName: 'bob@openfed.test', sAMAccountName: 'bob', passwordHash: await hashPassword('Bob-Passw0rd') }]).replace(/^(?=.)/gm, '  ');
    appendFileSync(file, bob);
    assert.equal((await directory.authenticate('bob@openfed.test', 'Bob-Passw0rd')).ok, true, 'appended user signs in');
    assert.equal((await directory.authenticate(DEMO_USER, DEMO_PASSWORD)).ok, true, 'the first user still does');
    assert.ok(lines.some((l) => l.msg === 'demo users file changed: read again' && l.users === 2));

    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}  - userPrincipalName: eve@openfed.test\n`);
    assert.equal((await directory.authenticate('bob@openfed.test', 'Bob-Passw0rd')).ok, true, 'a broken edit keeps the users read before');
    const error = lines.find((l) => l.level === 50);
    assert.equal(error?.msg, `demo users key users[2].sAMAccountName (eve@openfed.test): required, expected string (in ${file}); keeping the 2 users read before`);

    writeFileSync(file, good.replace(/bob@openfed\.test/, 'robert@openfed.test'));
    assert.equal((await directory.authenticate('bob@openfed.test', 'Bob-Passw0rd')).ok, false, 'the fixed file is read again');
    assert.equal((await directory.authenticate('robert@openfed.test', 'Bob-Passw0rd')).ok, true);
  });

  test('checked at most every reloadCheckMs', async () => {
    const file = join(dir, 'throttled', 'demo-users.yaml');
    const directory = await DemoDirectory.open(file, silentLogger, { reloadCheckMs: 60_000 });
    await directory.findPrincipal(DEMO_USER);
    appendFileSync(file, stringify([{ userPrincipalName: 'bob@openfed.test', sAMAccountName: 'bob', passwordHash: await hashPassword('x') }]).replace(/^(?=.)/gm, '  '));
    assert.equal(await directory.findPrincipal('bob@openfed.test'), undefined, 'not within the interval');
  });
});
