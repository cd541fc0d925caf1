/**
 * `openfed doctor`'s Kerberos checks against the Samba test DC: the keytab samba-tool exported (read
 * as klist reads it), its kvno against the SPN holder's msDS-KeyVersionNumber, and a keytab from
 * before a password change. Needs the built kerberos addon (npm test builds it).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { runDoctor, type DoctorReport } from '../../src/cli/doctor.js';
import { parseKeytab } from '../../src/cli/keytab.js';
import { loadAdFacts, readAttribute } from '../helpers/ad.js';

const run = promisify(execFile);
const ad = loadAdFacts();
const dir = mkdtempSync(join(tmpdir(), 'openfed-doctor-krb-ad-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const principal = `${ad.spn}@${ad.realm}`;

function configFile(name: string, keytab: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    stringify({
      server: { baseUrl: 'http://127.0.0.1:1' },
      dataDir: join(dir, 'data'),
      directory: { ldap: { urls: [ad.ldapUrl], caFile: ad.caFile, baseDn: ad.baseDn, bindDn: ad.svcDn } },
      kerberos: { enabled: true, servicePrincipal: ad.spn, keytab, realm: ad.realm },
    }),
  );
  return path;
}

const doctor = (config: string, now?: () => number) => runDoctor({ OPENFED_CONFIG: config, OPENFED_LDAP_BIND_PASSWORD: ad.users.SVC.password }, now);
const check = (report: DoctorReport, name: string) => report.checks.find((c) => c.name === name);

/** The same keytab with every entry's key version number (both fields) set to `kvno`. */
function withKvno(data: Buffer, kvno: number): Buffer {
  const copy = Buffer.from(data);
  let offset = 2;
  while (offset + 4 <= copy.length) {
    const size = copy.readInt32BE(offset);
    offset += 4;
    if (size <= 0) {
      if (size === 0) break;
      offset -= size;
      continue;
    }
    const end = offset + size;
    let pos = offset;
    const count = copy.readUInt16BE(pos);
    pos += 2;
    for (let i = 0; i <= count; i++) pos += 2 + copy.readUInt16BE(pos); // realm, then the components
    pos += 8; // name_type, timestamp
    copy.writeUInt8(kvno & 0xff, pos);
    pos += 1 + 2; // kvno8, enctype
    pos += 2 + copy.readUInt16BE(pos); // key
    if (pos + 4 <= end) copy.writeUInt32BE(kvno, pos);
    offset = end;
  }
  return copy;
}

describe('doctor: Kerberos against the Samba DC', () => {
  test('the exported keytab reads as klist -k reads it: principal, kvno and encryption types', async () => {
    const { stdout } = await run('klist', ['-k', '-e', ad.keytab], { env: { ...process.env, KRB5_CONFIG: ad.krb5Config } });
    const fromKlist = [...stdout.matchAll(/^\s*(\d+)\s+(\S+@\S+)\s+\((\S+)\)\s*$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    assert.ok(fromKlist.length >= 2, stdout);
    const names: Record<number, string> = { 17: 'aes128-cts-hmac-sha1-96', 18: 'aes256-cts-hmac-sha1-96', 23: 'DEPRECATED:arcfour-hmac' };
    const ours = parseKeytab(readFileSync(ad.keytab)).map((e) => `${e.kvno} ${e.principal} ${names[e.enctype] ?? e.enctype}`);
    assert.deepEqual(ours, fromKlist);
    assert.ok(ours.every((line) => line.includes(` ${principal} aes`)), 'msDS-SupportedEncryptionTypes=24 gives AES keys only');
  });

  test('all well: addon loaded, keytab holds the SPN, its kvno is the DC msDS-KeyVersionNumber', async () => {
    const dcKvno = Number((await readAttribute(ad, ad.spnAccountDn, 'msDS-KeyVersionNumber'))?.toString());
    assert.ok(Number.isInteger(dcKvno) && dcKvno > 0);
    const report = await doctor(configFile('good', ad.keytab));
    assert.deepEqual(check(report, 'kerberos addon'), { name: 'kerberos addon', status: 'OK', detail: 'loaded (MIT GSSAPI)' });
    assert.deepEqual(check(report, 'kerberos keytab'), {
      name: 'kerberos keytab',
      status: 'OK',
      detail: `${ad.keytab}: ${principal}, kvno ${dcKvno} (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)`,
    });
    assert.deepEqual(check(report, 'kerberos key version'), {
      name: 'kerberos key version',
      status: 'OK',
      detail: `keytab kvno ${dcKvno} is svc-sts-http's msDS-KeyVersionNumber on ${ad.ldapUrl}`,
    });
  });

  test("a keytab from before the account's password changed: FAIL with both key version numbers", async () => {
    const dcKvno = Number((await readAttribute(ad, ad.spnAccountDn, 'msDS-KeyVersionNumber'))?.toString());
    const stale = join(dir, 'stale.keytab');
    writeFileSync(stale, withKvno(readFileSync(ad.keytab), dcKvno + 5), { mode: 0o600 });
    const report = await doctor(configFile('stale', stale));
    assert.equal(report.ok, false);
    assert.equal(check(report, 'kerberos keytab')?.status, 'OK');
    assert.equal(check(report, 'kerberos key version')?.status, 'FAIL');
    assert.match(
      check(report, 'kerberos key version')?.detail ?? '',
      new RegExp(`^keytab kvno ${dcKvno + 5}, but svc-sts-http's msDS-KeyVersionNumber on ldap://127\\.0\\.0\\.1:389 is ${dcKvno}: its password changed after the keytab was made`),
    );
  });

  test("a clock 10 minutes off the DC's: FAIL naming Kerberos's skew", async () => {
    const report = await doctor(configFile('clock', ad.keytab), () => Date.now() - 10 * 60_000);
    const clock = check(report, `clock vs ${ad.ldapUrl}`);
    assert.equal(clock?.status, 'FAIL');
    assert.match(clock?.detail ?? '', /^ahead of this machine by 60\d s: more than 5 minutes, Kerberos tickets are refused, sign-ins and tokens fail \(sync time with NTP\)$/);
  });
});
