/**
 * `openfed m365 readiness` against the Samba AD DC, spawned as an admin runs it. The users, each
 * seeded with one problem, live in an OU of their own (OU=Readiness-<random>), so the other test
 * files sharing the DC never see them; the OU goes again afterwards, also when a test fails.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { applyLdifAsAdmin, deleteTreeAsAdmin, loadAdFacts, readAttribute } from '../helpers/ad.js';

const ad = loadAdFacts();
const hex = randomBytes(3).toString('hex');
const tag = `Readiness-${hex}`;
const ouDn = `OU=${tag},${ad.baseDn}`;
const dir = mkdtempSync(join(tmpdir(), 'openfed-readiness-'));
const PASSWORD = 'Ready-Passw0rd!';
const NORMAL = 512;
const DISABLED = 514;

interface Seed {
  cn: string;
  upn?: string;
  mail?: string;
  proxyAddresses?: string[];
  /** Absent: none. 'random': 16 random bytes. 'objectGUID': copied from the user's own objectGUID after creation. */
  consistencyGuid?: 'random' | 'objectGUID' | Buffer;
  uac?: number;
}

const sharedAnchor = randomBytes(16);
const SEEDS: Seed[] = [
  { cn: 'ok', upn: 'ok@contoso.com', mail: 'ok@contoso.com', proxyAddresses: ['SMTP:ok@contoso.com', 'smtp:ok@sales.contoso.com'], consistencyGuid: 'random' },
  { cn: 'anchored', upn: 'anchored@contoso.com', consistencyGuid: 'objectGUID' },
  { cn: 'local', upn: 'local@corp.local', consistencyGuid: 'random' },
  { cn: 'unfederated', upn: 'unfederated@northwind.com', consistencyGuid: 'random' },
  { cn: 'dup-a', upn: 'Dup@contoso.com', consistencyGuid: 'random' },
  { cn: 'chars', upn: 'a&b c@contoso.com', consistencyGuid: 'random' },
  { cn: 'noupn', consistencyGuid: 'random' },
  { cn: 'mail-a', upn: 'mail-a@contoso.com', mail: 'shared@contoso.com', consistencyGuid: 'random' },
  { cn: 'mail-b', upn: 'mail-b@contoso.com', proxyAddresses: ['SMTP:mail-b@contoso.com', 'smtp:Shared@Contoso.com'], consistencyGuid: 'random' },
  { cn: 'badproxy', upn: 'badproxy@contoso.com', proxyAddresses: ['SMTP:bad proxy@contoso.com'], consistencyGuid: 'random' },
  { cn: 'noanchor', upn: 'noanchor@contoso.com' },
  { cn: 'twin-a', upn: 'twin-a@contoso.com', consistencyGuid: sharedAnchor },
  { cn: 'twin-b', upn: 'twin-b@contoso.com', consistencyGuid: sharedAnchor },
  { cn: 'disabled', upn: 'disabled@contoso.com', consistencyGuid: 'random', uac: DISABLED },
];
const dnOf = (cn: string) => `CN=${tag}-${cn},${ouDn}`;
const b64 = (value: string | Buffer) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64');
/** Every value base64, so no UPN or address needs LDIF escaping. */
const line = (name: string, value: string | Buffer) => `${name}:: ${b64(value)}`;

function userLdif(seed: Seed): string {
  const sam = `r${hex}-${seed.cn}`; // at most 20 characters, as AD wants
  const anchor = seed.consistencyGuid === 'random' ? randomBytes(16) : Buffer.isBuffer(seed.consistencyGuid) ? seed.consistencyGuid : undefined;
  return [
    `dn: ${dnOf(seed.cn)}`,
    'changetype: add',
    'objectClass: user',
    line('sAMAccountName', sam),
    ...(seed.upn !== undefined ? [line('userPrincipalName', seed.upn)] : []),
    ...(seed.mail !== undefined ? [line('mail', seed.mail)] : []),
    ...(seed.proxyAddresses ?? []).map((p) => line('proxyAddresses', p)),
    ...(anchor ? [line('mS-DS-ConsistencyGuid', anchor)] : []),
    line('unicodePwd', Buffer.from(`"${PASSWORD}"`, 'utf16le')),
    `userAccountControl: ${seed.uac ?? NORMAL}`,
    '',
  ].join('\n');
}

function writeConfig(name: string, immutableIdSource: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      dataDir: join(dir, 'data'),
      directory: { ldap: { urls: [ad.ldapsUrl], caFile: ad.caFile, baseDn: ad.baseDn, bindDn: ad.svcDn } },
      microsoft365: { enabled: true, domains: ['contoso.com'], immutableIdSource },
    }),
  );
  return file;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function readiness(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'm365', 'readiness', ...args],
      // OPENFED_CONFIG from the caller's shell must not leak in: every run names its file.
      { env: { ...process.env, OPENFED_CONFIG: undefined, OPENFED_LDAP_BIND_PASSWORD: ad.users.SVC.password }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface JsonFinding {
  user: string;
  dn: string;
  check: string;
  severity: string;
  message: string;
}
interface JsonReport {
  scope: string;
  users: number;
  errors: number;
  warnings: number;
  ok: boolean;
  findings: JsonFinding[];
}

async function report(...args: string[]): Promise<{ code: number; report: JsonReport }> {
  const run = await readiness(...args, '--json');
  assert.equal(run.stderr, '', run.stderr);
  return { code: run.code, report: JSON.parse(run.stdout) as JsonReport };
}

/** Findings as "<cn> <check>:<severity>", sorted: what each seeded user must show. */
function byUser(findings: JsonFinding[]): string[] {
  const cnOf = (dn: string) => /^CN=([^,]+),/.exec(dn)![1]!.slice(tag.length + 1);
  return findings.map((f) => `${cnOf(f.dn)} ${f.check}:${f.severity}`).sort();
}

let auto = '';
before(async () => {
  await applyLdifAsAdmin(ad, `dn: ${ouDn}\nchangetype: add\nobjectClass: organizationalUnit\n\n${SEEDS.map(userLdif).join('\n')}`);
  const anchored = await readAttribute(ad, dnOf('anchored'), 'objectGUID');
  assert.equal(anchored?.length, 16);
  await applyLdifAsAdmin(ad, `dn: ${dnOf('anchored')}\nchangetype: modify\nreplace: mS-DS-ConsistencyGuid\n${line('mS-DS-ConsistencyGuid', anchored)}\n-\n`);
  // Nested membership: outer has `disabled` and the inner group, inner has `local`; warn has only warnings.
  await applyLdifAsAdmin(
    ad,
    [
      `dn: CN=${tag}-inner,${ouDn}`,
      'changetype: add',
      'objectClass: group',
      line('sAMAccountName', `r${hex}-inner`),
      `member: ${dnOf('local')}`,
      '',
      `dn: CN=${tag}-outer,${ouDn}`,
      'changetype: add',
      'objectClass: group',
      line('sAMAccountName', `r${hex}-outer`),
      `member: CN=${tag}-inner,${ouDn}`,
      `member: ${dnOf('disabled')}`,
      '',
      `dn: CN=${tag}-warn,${ouDn}`,
      'changetype: add',
      'objectClass: group',
      line('sAMAccountName', `r${hex}-warn`),
      `member: ${dnOf('disabled')}`,
      `member: ${dnOf('noanchor')}`,
      '',
    ].join('\n'),
  );
  auto = writeConfig('auto', 'auto');
});

after(async () => {
  await deleteTreeAsAdmin(ad, ouDn);
  rmSync(dir, { recursive: true, force: true });
});

describe('openfed m365 readiness against Samba', () => {
  test('immutableIdSource auto: each seeded problem found, on its user only; exit 1', async () => {
    const { code, report: r } = await report('--config', auto, '--ou', ouDn);
    assert.equal(code, 1);
    assert.equal(r.users, SEEDS.length);
    assert.deepEqual(byUser(r.findings), [
      'chars upn-characters:error',
      'disabled account-disabled:warning',
      'local upn-suffix-not-routable:error',
      'mail-a mail-duplicate:warning',
      'mail-b proxy-address-duplicate:warning',
      'noanchor immutable-id-source:warning',
      'noupn upn-missing:error',
      'twin-a immutable-id-duplicate:error',
      'twin-b immutable-id-duplicate:error',
      'unfederated upn-suffix-not-federated:error',
      'badproxy proxy-address-invalid:warning',
    ].sort());
    assert.equal(r.errors, 6);
    assert.equal(r.warnings, 5);
    assert.equal(r.ok, false);
    const message = (cn: string, check: string) => r.findings.find((f) => f.dn === dnOf(cn) && f.check === check)!.message;
    assert.match(message('chars', 'upn-characters'), /refuses & space/);
    assert.match(message('mail-b', 'proxy-address-duplicate'), /shared@contoso\.com/);
    assert.match(message('twin-a', 'immutable-id-duplicate'), new RegExp(sharedAnchor.toString('base64').replace(/[+/]/g, '\\$&')));
    const objectGuid = await readAttribute(ad, dnOf('noanchor'), 'objectGUID');
    assert.ok(message('noanchor', 'immutable-id-source').includes(`(${objectGuid!.toString('base64')})`), 'names the objectGUID ImmutableID tokens carry');
  });

  test('the table: one row per finding and the summary line', async () => {
    const run = await readiness('--config', auto, '--ou', ouDn);
    assert.equal(run.code, 1);
    assert.match(run.stdout, new RegExp(`^Microsoft 365 readiness of ${SEEDS.length} users: ${ouDn} \\(subtree\\)`));
    assert.match(run.stdout, /^USER +CHECK +SEVERITY +MESSAGE$/m);
    assert.match(run.stdout, /^local@corp\.local +upn-suffix-not-routable +error +UPN suffix corp\.local ends in \.local/m);
    assert.match(run.stdout, /^6 errors \(6 users cannot sign in to Microsoft 365\), 5 warnings\.$/m);
  });

  test('a duplicate UPN cannot be seeded: Samba refuses it, as AD does since Windows Server 2012 R2', async () => {
    // So upn-duplicate is for forests where one got in anyway (older DCs, a replication collision);
    // test/readiness/rules.test.ts covers it. This test says so, and fails the day Samba lets one in.
    await assert.rejects(
      applyLdifAsAdmin(ad, userLdif({ cn: 'dup-b', upn: 'dup@CONTOSO.com' })),
      (err: { stderr?: string }) => /userPrincipalName 'dup@CONTOSO\.com' is already in use/.test(err.stderr ?? ''),
    );
  });

  test('immutableIdSource consistencyGuid: no mS-DS-ConsistencyGuid is an error', async () => {
    const { report: r } = await report('--config', writeConfig('cg', 'consistencyGuid'), '--ou', ouDn);
    assert.deepEqual(
      r.findings.filter((f) => f.check === 'immutable-id-source').map((f) => `${f.dn === dnOf('noanchor')} ${f.severity}`),
      ['true error'],
    );
  });

  test('immutableIdSource objectGuid: every ConsistencyGuid that differs from objectGUID is an error', async () => {
    const { report: r } = await report('--config', writeConfig('og', 'objectGuid'), '--ou', ouDn);
    const flagged = byUser(r.findings.filter((f) => f.check === 'immutable-id-source'));
    const differing = SEEDS.filter((s) => s.consistencyGuid !== undefined && s.consistencyGuid !== 'objectGUID').map((s) => `${s.cn} immutable-id-source:error`);
    assert.deepEqual(flagged, differing.sort());
    // Under objectGuid the twins' shared ConsistencyGuid is not what tokens carry: no duplicate.
    assert.ok(!r.findings.some((f) => f.check === 'immutable-id-duplicate'));
  });

  test('--group: transitive members only, the group named by sAMAccountName, cn or DN', async () => {
    for (const group of [`r${hex}-outer`, `${tag}-outer`, `CN=${tag}-outer,${ouDn}`]) {
      const { code, report: r } = await report('--config', auto, '--group', group);
      assert.equal(code, 1);
      assert.equal(r.users, 2, group);
      assert.deepEqual(byUser(r.findings), ['disabled account-disabled:warning', 'local upn-suffix-not-routable:error']);
    }
  });

  test('warnings only: exit 0', async () => {
    const { code, report: r } = await report('--config', auto, '--group', `r${hex}-warn`);
    assert.deepEqual(byUser(r.findings), ['disabled account-disabled:warning', 'noanchor immutable-id-source:warning']);
    assert.equal(r.ok, true);
    assert.equal(code, 0);
  });

  test('cannot run: exit 2 with one line', async () => {
    const unreachable = join(dir, 'unreachable.yaml');
    writeFileSync(unreachable, stringify({ directory: { ldap: { urls: ['ldap://127.0.0.1:1'], baseDn: ad.baseDn, bindDn: ad.svcDn } } }));
    const cases: [string[], RegExp][] = [
      [['--config', auto, '--ou', `OU=No-Such-${tag},${ad.baseDn}`], /^openfed: OU=No-Such-.* does not exist\n$/],
      [['--config', auto, '--group', `no-such-${tag}`], /^openfed: no group no-such-/],
      [['--config', join(dir, 'missing.yaml')], /^openfed: configuration file .*missing\.yaml: cannot be read/],
      [['--config', unreachable], /^openfed: .*no domain controller answered/],
      [['--config', auto, '--ou', ouDn, '--group', 'x'], /cannot be used with/],
    ];
    for (const [args, stderr] of cases) {
      const run = await readiness(...args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, stderr);
      assert.equal(run.stdout, '');
    }
  });
});
