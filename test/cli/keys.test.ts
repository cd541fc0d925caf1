/**
 * `openfed keys list | add | promote | remove`, spawned as an admin runs them, on a data directory
 * (the farm test in test/keys/farm.test.ts runs them against Redis): the modes, every refusal with
 * its one-line message, PKCS#12 with a password on standard input, and --help / --json.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { KeyChange, KeyListing } from '../../src/cli/keys.js';
import { ManualClock } from '../../src/clock.js';
import { parseConfig } from '../../src/config/load.js';
import { openKeyRing } from '../../src/keys/key-manager.js';
import { fromPem, generateSelfSigned } from '../../src/keys/signing-key.js';
import { silentLogger } from '../../src/log.js';
import { openfed, type CliResult } from '../keys/cli-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-keys-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

let n = 0;
function configFile(input: Record<string, unknown>): { file: string; dataDir: string } {
  const sub = join(dir, `c${n++}`);
  mkdirSync(sub, { recursive: true });
  const dataDir = join(sub, 'data');
  const file = join(sub, 'openfed.yaml');
  writeFileSync(file, stringify({ dataDir, ...input }));
  return { file, dataDir };
}

/** A refusal: exit 1, one line on stderr, no stack trace, nothing on stdout. */
function refused(r: CliResult, message: RegExp) {
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^openfed: [^\n]+\n$/);
  assert.match(r.stderr, message);
  assert.equal(r.stdout, '');
}

describe('openfed keys', () => {
  test('every command has --help and --json', async () => {
    for (const sub of [[], ['list'], ['add'], ['promote'], ['remove']]) {
      const r = await openfed(['keys', ...sub, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: openfed keys/);
      if (sub.length) assert.match(r.stdout, /--json/);
    }
  });

  test('automatic mode (the default): list works, changes by hand are refused', async () => {
    const { file, dataDir } = configFile({});
    const ring = await openKeyRing(parseConfig({ dataDir }), silentLogger, new ManualClock(Date.now()));
    await ring.close();
    const listed = await openfed(['keys', 'list', '--json'], { OPENFED_CONFIG: file });
    assert.equal(listed.code, 0, listed.stderr);
    const listing = JSON.parse(listed.stdout) as KeyListing;
    assert.equal(listing.mode, 'automatic');
    assert.equal(listing.store, join(dataDir, 'keys', 'keyset.json'));
    assert.deepEqual(listing.keys.map((k) => [k.role, k.thumbprint, k.origin]), [['primary', ring.primary.thumbprint, 'generated']]);
    assert.ok(listing.keys[0]!.daysLeft >= 364);
    refused(await openfed(['keys', 'promote'], { OPENFED_CONFIG: file }), /keys\.autoRollover is on: .*set keys\.autoRollover: false to manage them with openfed keys/i);
  });

  test('fixed mode: list shows keys.signing and keys.next; changes are refused', async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'fixed-k.pem', '-out', 'fixed-c.pem', '-days', '30', '-subj', '/CN=fixed');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'fixed-next-k.pem', '-out', 'fixed-next-c.pem', '-days', '60', '-subj', '/CN=fixed next');
    const { file } = configFile({
      keys: {
        signing: { keyFile: join(dir, 'fixed-k.pem'), certFile: join(dir, 'fixed-c.pem') },
        next: { keyFile: join(dir, 'fixed-next-k.pem'), certFile: join(dir, 'fixed-next-c.pem') },
      },
    });
    const listed = await openfed(['keys', 'list'], { OPENFED_CONFIG: file });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^Token-signing certificates \(fixed by keys\.signing; configuration \(keys\.signing\)\):\n  primary   [0-9A-F]{40}  until \S+ \(2\d days left\)  configured  CN=fixed\n  next      [0-9A-F]{40}  until \S+ \(5\d days left\)  configured  CN=fixed next\n$/);
    refused(await openfed(['keys', 'remove', 'AB'.repeat(20)], { OPENFED_CONFIG: file }), /fixed by keys\.signing in the configuration/);
  });

  describe('manual mode (keys.autoRollover: false) on a data directory', () => {
    let file: string;
    let dataDir: string;
    let firstPrimary: string;
    const run = (args: string[], input?: string) => openfed(['keys', ...args], { OPENFED_CONFIG: file }, input);

    before(async () => {
      ({ file, dataDir } = configFile({ keys: { autoRollover: false } }));
      openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-k.pem', '-out', 'ca-c.pem', '-days', '90', '-subj', '/CN=sts.contoso.test')
      openssl('pkcs12', '-export', '-inkey', 'ca-k.pem', '-in', 'ca-c.pem', '-out', 'ca.p12', '-passout', 'pass:Pfx-Passw0rd');
      openssl('req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'small-k.pem', '-out', 'small-c.pem', '-days', '30', '-subj', '/CN=small');
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ec-k.pem', '-out', 'ec-c.pem', '-days', '30', '-subj', '/CN=ec');
      const expired = await generateSelfSigned('expired', new Date(Date.now() - 2 * 365 * 86_400_000));
      writeFileSync(join(dir, 'expired-k.pem'), expired.keyPem);
      writeFileSync(join(dir, 'expired-c.pem'), expired.certPem);
    });

    test('before the first start there is nothing to change', async () => {
      const listed = await run(['list']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /none yet: the first start of OpenFed creates the primary/);
      refused(await run(['add', '--cert', join(dir, 'ca-c.pem'), '--key', join(dir, 'ca-k.pem')]), /there is no key set in .*keyset\.json yet: start OpenFed once/);
      const ring = await openKeyRing(parseConfig({ dataDir, keys: { autoRollover: false } }), silentLogger, new ManualClock(Date.now()));
      firstPrimary = ring.primary.thumbprint;
      await ring.close();
    });

    test('add refuses an expired, a non-RSA, a short or a mismatched key, a missing file and a wrong PKCS#12 password', async () => {
      const pem = (k: string, c: string) => ['add', '--key', join(dir, k), '--cert', join(dir, c)];
      refused(await run(pem('expired-k.pem', 'expired-c.pem')), /certificate [0-9A-F]{40} has expired \(/);
      refused(await run(pem('ec-k.pem', 'ec-c.pem')), /token-signing key: expected an RSA key, got ec/);
      refused(await run(pem('small-k.pem', 'small-c.pem')), /expected at least 2048 bits, got 1024/);
      refused(await run(pem('ca-k.pem', 'small-c.pem')), /token-signing certificate does not belong to the token-signing key/);
      refused(await run(pem('nope.pem', 'ca-c.pem')), /--key .*nope\.pem: cannot be read \(ENOENT\)/);
      refused(await run(['add', '--cert', join(dir, 'ca-c.pem')]), /give --cert and --key, or --pkcs12/);
      refused(await run(['add', '--pkcs12', join(dir, 'ca.p12'), '--password-stdin'], 'wrong\n'), /PKCS#12: cannot be opened \(wrong password/);
      const listed = JSON.parse((await run(['list', '--json'])).stdout) as KeyListing;
      assert.deepEqual(listed.keys.map((k) => k.role), ['primary'], 'nothing was added');
      assert.equal(listed.version, 1);
    });

    test('add a PKCS#12 (password on standard input), promote it, remove the old one; the files stay owner-only', async () => {
      const added = await run(['add', '--pkcs12', join(dir, 'ca.p12'), '--password-stdin', '--json'], 'Pfx-Passw0rd\n');
      assert.equal(added.code, 0, added.stderr);
      const change = JSON.parse(added.stdout) as KeyChange;
      const expected = fromPem(readFileSync(join(dir, 'ca-k.pem'), 'utf8'), readFileSync(join(dir, 'ca-c.pem'), 'utf8'), 'pem').thumbprint;
      assert.deepEqual(change, { command: 'keys add', thumbprint: expected, version: 2, primary: firstPrimary });

      const listed = await run(['list']);
      assert.match(listed.stdout, new RegExp(`\\n  next      ${expected}  until \\S+ \\(\\d+ days left\\)  imported  CN=sts\\.contoso\\.test\\n$`));
      refused(await run(['add', '--cert', join(dir, 'ca-c.pem'), '--key', join(dir, 'ca-k.pem')]), /is already in the key set/);
      refused(await run(['promote', firstPrimary]), /is not the next certificate/);

      const promoted = await run(['promote']);
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.match(promoted.stdout, new RegExp(`^Certificate ${expected} is now the primary`));
      const roles = (JSON.parse((await run(['list', '--json'])).stdout) as KeyListing).keys.map((k) => [k.role, k.thumbprint]);
      assert.deepEqual(roles, [['primary', expected], ['previous', firstPrimary]]);
      // The single-key files other commands read follow the primary.
      const mirrored = fromPem(readFileSync(join(dataDir, 'keys', 'signing-key.pem'), 'utf8'), readFileSync(join(dataDir, 'keys', 'signing-cert.pem'), 'utf8'), 'generated');
      assert.equal(mirrored.thumbprint, expected);

      const removed = await run(['remove', firstPrimary.toLowerCase(), '--json']);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal((JSON.parse(removed.stdout) as KeyChange).thumbprint, firstPrimary);
      refused(await run(['remove', firstPrimary]), /is not in the key set/);
      for (const f of ['keyset.json', 'signing-key.pem']) assert.equal(statSync(join(dataDir, 'keys', f)).mode & 0o777, 0o600, f);
      assert.equal(statSync(join(dataDir, 'keys')).mode & 0o777, 0o700);
      const audit = readFileSync(join(dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { command: string; target: string });
      assert.deepEqual(audit.map((e) => [e.command, e.target]), [['keys add', expected], ['keys promote', expected], ['keys remove', firstPrimary]]);
    });
  });
});
