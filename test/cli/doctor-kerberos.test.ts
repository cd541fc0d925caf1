/**
 * `openfed doctor`'s Kerberos checks without a DC: the keytab reader on keytabs built here byte by byte
 * (the MIT format), and each verdict on the addon, the keytab and the key version with the addon and
 * the DC's answer stood in for. test/cli/doctor-kerberos-ad.test.ts checks the same against Samba.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkKeytab, kerberosChecks, type SpnLookup } from '../../src/cli/doctor.js';
import { KeytabFormatError, parseKeytab } from '../../src/cli/keytab.js';
import type { AddonLoad, KerberosAddon } from '../../src/authn/kerberos-addon.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-doctor-krb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SPN = 'HTTP/sts.contoso.com';
const REALM = 'CONTOSO.COM';
const AES256 = 18;
const AES128 = 17;
const RC4 = 23;

interface FixtureEntry {
  name?: string;
  realm?: string;
  kvno: number;
  enctype?: number;
  /** How the kvno is written: 8 bits only (ktpass, old MIT), or 8 bits and the 32-bit field; 'zero32' writes a 32-bit 0. */
  kvnoForm?: '8' | '32' | 'zero32';
  timestamp?: number;
}

const counted = (s: string | Buffer) => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
};
const u8 = (n: number) => Buffer.from([n & 0xff]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

function record(e: FixtureEntry): Buffer {
  const components = (e.name ?? SPN).split('/');
  const form = e.kvnoForm ?? '32';
  const body = Buffer.concat([
    u16(components.length),
    counted(e.realm ?? REALM),
    ...components.map((c) => counted(c)),
    u32(1), // KRB5_NT_PRINCIPAL
    u32(e.timestamp ?? 1_700_000_000),
    u8(e.kvno),
    u16(e.enctype ?? AES256),
    counted(Buffer.alloc(e.enctype === AES128 ? 16 : 32, 0xab)),
    ...(form === '32' ? [u32(e.kvno)] : form === 'zero32' ? [u32(0)] : []),
  ]);
  return Buffer.concat([i32(body.length), body]);
}

/** A keytab file: version 0x0502, then records; a number in `parts` is a hole of that many bytes (a deleted entry). */
function keytab(...parts: (FixtureEntry | number)[]): Buffer {
  return Buffer.concat([
    Buffer.from([0x05, 0x02]),
    ...parts.map((p) => (typeof p === 'number' ? Buffer.concat([i32(-p), Buffer.alloc(p)]) : record(p))),
  ]);
}

function file(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

describe('keytab reader (MIT format 0x0502)', () => {
  test('principal, realm, kvno, enctype and timestamp of each entry', () => {
    const entries = parseKeytab(keytab({ kvno: 3, enctype: AES256, timestamp: 1_700_000_123 }, { kvno: 3, enctype: AES128 }));
    assert.deepEqual(entries, [
      { principal: `${SPN}@${REALM}`, name: SPN, realm: REALM, kvno: 3, enctype: AES256, timestamp: 1_700_000_123 },
      { principal: `${SPN}@${REALM}`, name: SPN, realm: REALM, kvno: 3, enctype: AES128, timestamp: 1_700_000_000 },
    ]);
  });

  test('the 32-bit kvno wins over the 8-bit one; a 32-bit 0 or none leaves the 8-bit one', () => {
    const big = record({ kvno: 300 }); // 8-bit field: 300 & 0xff = 44
    const [wide, zero, narrow] = parseKeytab(Buffer.concat([Buffer.from([5, 2]), big, record({ kvno: 7, kvnoForm: 'zero32' }), record({ kvno: 9, kvnoForm: '8' })]));
    assert.equal(wide?.kvno, 300);
    assert.equal(zero?.kvno, 7);
    assert.equal(narrow?.kvno, 9);
  });

  test('holes left by deleted entries are skipped; a zero record length ends the file', () => {
    const entries = parseKeytab(Buffer.concat([keytab({ kvno: 1 }, 57, { kvno: 2, name: 'HTTP/other.contoso.com' }), i32(0), Buffer.alloc(40)]));
    assert.deepEqual(
      entries.map((e) => `${e.principal} ${e.kvno}`),
      [`${SPN}@${REALM} 1`, `HTTP/other.contoso.com@${REALM} 2`],
    );
  });

  test('an empty keytab (ktutil before any addent) holds no entries', () => {
    assert.deepEqual(parseKeytab(Buffer.from([5, 2])), []);
  });

  test('not a keytab, the old 0x0501 format, a truncated record: KeytabFormatError naming the problem', () => {
    assert.throws(() => parseKeytab(Buffer.from('-----BEGIN CERTIFICATE-----')), { name: 'KeytabFormatError', message: 'not a keytab file (it does not start with 0x05)' });
    assert.throws(() => parseKeytab(Buffer.from([5, 1, 0, 0])), { name: 'KeytabFormatError', message: 'keytab format version 0x0501 is not supported (only 0x0502)' });
    const whole = keytab({ kvno: 1 });
    assert.throws(() => parseKeytab(whole.subarray(0, whole.length - 5)), { name: 'KeytabFormatError', message: 'record at byte 2 runs past the end of the file' });
    // A record whose own length is too short for what it says it holds.
    const lying = Buffer.concat([Buffer.from([5, 2]), i32(6), u16(1), counted('CONTOSO.COM').subarray(0, 4)]);
    assert.throws(() => parseKeytab(lying), (err: unknown) => err instanceof KeytabFormatError && err.message === 'record at byte 2 is truncated');
  });
});

describe('doctor: the keytab against kerberos.servicePrincipal and kerberos.realm', () => {
  const principal = `${SPN}@${REALM}`;

  test('OK: the principal, its newest kvno and encryption types', () => {
    const path = file('ok.keytab', keytab({ kvno: 2, enctype: AES256 }, { kvno: 3, enctype: AES256 }, { kvno: 3, enctype: AES128 }, { kvno: 1, name: 'HTTP/other.contoso.com' }));
    const { check, keys } = checkKeytab(path, principal);
    assert.deepEqual(check, { name: 'kerberos keytab', status: 'OK', detail: `${path}: ${principal}, kvno 3 (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)` });
    assert.deepEqual(keys.map((k) => k.kvno), [2, 3, 3]);
  });

  test('FAIL: missing, a directory, not a keytab', () => {
    const missing = join(dir, 'none.keytab');
    assert.deepEqual(checkKeytab(missing, principal).check, { name: 'kerberos keytab', status: 'FAIL', detail: `${missing}: missing (kerberos.keytab)` });
    assert.match(checkKeytab(dir, principal).check.detail, /: unreadable: EISDIR/);
    const pem = file('cert.pem', Buffer.from('-----BEGIN CERTIFICATE-----\n'));
    assert.equal(checkKeytab(pem, principal).check.detail, `${pem}: not a keytab: not a keytab file (it does not start with 0x05)`);
  });

  test('FAIL: another principal, or another realm, names what the keytab holds', () => {
    const path = file('other.keytab', keytab({ kvno: 2, name: 'HTTP/sts' }, { kvno: 2, name: SPN, realm: 'FABRIKAM.COM' }));
    const { check, keys } = checkKeytab(path, principal);
    assert.equal(check.status, 'FAIL');
    assert.equal(check.detail, `${path}: no key for ${principal}; it holds HTTP/sts@${REALM}, ${SPN}@FABRIKAM.COM`);
    assert.deepEqual(keys, []);
    const empty = file('empty.keytab', Buffer.from([5, 2]));
    assert.equal(checkKeytab(empty, principal).check.detail, `${empty}: holds no keys (expected ${principal})`);
  });

  test('FAIL: the same name in other capitals (MIT compares byte for byte)', () => {
    const path = file('case.keytab', keytab({ kvno: 2, name: 'http/STS.contoso.com' }));
    assert.equal(checkKeytab(path, principal).check.detail, `${path}: holds http/STS.contoso.com@${REALM}, not ${principal}: Kerberos names are case-sensitive`);
  });

  test('WARN: RC4 keys only (the account lacks msDS-SupportedEncryptionTypes)', () => {
    const path = file('rc4.keytab', keytab({ kvno: 2, enctype: RC4 }));
    const { check, keys } = checkKeytab(path, principal);
    assert.equal(check.status, 'WARN');
    assert.equal(check.detail, `${path}: ${principal}, kvno 2 (arcfour-hmac): no AES key (set msDS-SupportedEncryptionTypes to 24 on the account, then export the keytab again)`);
    assert.equal(keys.length, 1);
  });
});

describe('doctor: Kerberos checks', () => {
  const fakeAddon: KerberosAddon = {
    initializeServer: () => Promise.reject(new Error('not used by the doctor')),
  };
  const loaded = (): Promise<AddonLoad> => Promise.resolve({ ok: true, addon: fakeAddon });
  const holders =
    (...list: { dn: string; account?: string; keyVersion?: number }[]): SpnLookup =>
    (spn) => {
      assert.equal(spn, SPN, 'the SPN is looked up without the realm, as servicePrincipalName holds it');
      return Promise.resolve({ url: 'ldaps://dc1', holders: list.map((h) => ({ dn: h.dn, account: h.account, keyVersion: h.keyVersion })) });
    };
  const svc = { dn: 'CN=svc-sts,OU=Service Accounts,DC=contoso,DC=com', account: 'svc-sts' };
  const keytabPath = file('kvno3.keytab', keytab({ kvno: 3, enctype: AES256 }, { kvno: 3, enctype: AES128 }));
  const settings = { servicePrincipal: SPN, keytab: keytabPath, realm: REALM };
  const byName = async (lookup: SpnLookup | undefined, load = loaded) => Object.fromEntries((await kerberosChecks(settings, lookup, load)).map((c) => [c.name, c]));

  test('all well: addon, keytab and key version OK', async () => {
    const checks = await byName(holders({ ...svc, keyVersion: 3 }));
    assert.deepEqual(Object.keys(checks), ['kerberos addon', 'kerberos keytab', 'kerberos key version']);
    assert.equal(checks['kerberos addon']?.status, 'OK');
    assert.equal(checks['kerberos keytab']?.status, 'OK');
    assert.deepEqual(checks['kerberos key version'], { name: 'kerberos key version', status: 'OK', detail: "keytab kvno 3 is svc-sts's msDS-KeyVersionNumber on ldaps://dc1" });
  });

  test('the addon missing or failing to load: FAIL with its reason; the keytab is still checked', async () => {
    const reason = 'the kerberos addon could not be loaded: libgssapi_krb5.so.2: cannot open shared object file: No such file or directory';
    const checks = await byName(holders({ ...svc, keyVersion: 3 }), () => Promise.resolve({ ok: false, reason }));
    assert.deepEqual(checks['kerberos addon'], { name: 'kerberos addon', status: 'FAIL', detail: `${reason}: browsers get the forms page, Integrated Authentication is off` });
    assert.equal(checks['kerberos keytab']?.status, 'OK');
    assert.equal(checks['kerberos key version']?.status, 'OK');
  });

  test('a password reset since the keytab was made: FAIL, both key version numbers named', async () => {
    const checks = await byName(holders({ ...svc, keyVersion: 4 }));
    assert.equal(checks['kerberos key version']?.status, 'FAIL');
    // (The advice names Samba's export tool too; spelled out here it would make this a DC test for test:unit.)
    assert.match(
      checks['kerberos key version']?.detail ?? '',
      /^keytab kvno 3, but svc-sts's msDS-KeyVersionNumber on ldaps:\/\/dc1 is 4: its password changed after the keytab was made, so no ticket decrypts \(export the keytab again: ktpass, or /,
    );
  });

  test('a keytab written with 8-bit key version numbers matches a kvno past 255', async () => {
    const path = file('kvno8.keytab', keytab({ kvno: 260 & 0xff, kvnoForm: '8' }));
    const checks = Object.fromEntries((await kerberosChecks({ ...settings, keytab: path }, holders({ ...svc, keyVersion: 260 }), loaded)).map((c) => [c.name, c]));
    assert.equal(checks['kerberos key version']?.status, 'OK', checks['kerberos key version']?.detail);
  });

  test('no account with the SPN, or two: FAIL', async () => {
    const none = await byName(holders());
    assert.equal(none['kerberos key version']?.detail, `no account on ldaps://dc1 has the SPN ${SPN}: browsers get no ticket for it (setspn -S ${SPN} <service account>)`);
    const two = await byName(holders({ ...svc, keyVersion: 3 }, { dn: 'CN=web01,CN=Computers,DC=contoso,DC=com', account: 'WEB01$', keyVersion: 5 }));
    assert.equal(two['kerberos key version']?.status, 'FAIL');
    assert.match(two['kerberos key version']?.detail ?? '', /^2 accounts have the SPN HTTP\/sts\.contoso\.com \(CN=svc-sts,.*; CN=web01,.*\): the KDC refuses a duplicate SPN \(setspn -X lists them\)$/);
  });

  test('msDS-KeyVersionNumber not readable, the demo directory: WARN; the DC unreachable: FAIL', async () => {
    const hidden = await byName(holders(svc));
    assert.equal(hidden['kerberos key version']?.status, 'WARN');
    assert.equal(hidden['kerberos key version']?.detail, `${svc.dn}: msDS-KeyVersionNumber not readable by the service account; keytab kvno 3`);
    const demo = await byName(undefined);
    assert.deepEqual(demo['kerberos key version'], { name: 'kerberos key version', status: 'WARN', detail: 'demo directory: no DC to compare the keytab with' });
    const down = await byName(() => Promise.reject(new Error('no domain controller answered')));
    assert.deepEqual(down['kerberos key version'], { name: 'kerberos key version', status: 'FAIL', detail: `cannot look ${SPN} up: no domain controller answered` });
  });

  test('a keytab without the principal: no key version check (nothing to compare)', async () => {
    const path = file('wrong.keytab', keytab({ kvno: 3, name: 'HTTP/other.contoso.com' }));
    const checks = await kerberosChecks({ ...settings, keytab: path }, holders({ ...svc, keyVersion: 3 }), loaded);
    assert.deepEqual(checks.map((c) => `${c.name} ${c.status}`), ['kerberos addon OK', 'kerberos keytab FAIL']);
  });
});
