/**
 * `openfed init`, `doctor`, `rp list` and `sessions revoke`, spawned as an admin runs them, against the
 * real Samba DC (test/setup/samba-ad.sh), a real Redis and running OpenFed servers (the doctor's public
 * metadata check). `openfed rp add|remove|refresh` are in rp.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import request from 'supertest';
import { stringify } from 'yaml';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { lockoutPolicyCheck, publicMetadataCheck, runDoctor, type DoctorReport } from '../../src/cli/doctor.js';
import type { RpListing } from '../../src/cli/rp.js';
import { parseConfig } from '../../src/config/load.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { ldapConfig, loadAdFacts } from '../helpers/ad.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, startTestServer, TEST_KEY_ENCRYPTION_SECRET } from '../helpers/server.js';

const run = promisify(execFile);
const redis = await startRedisServer();
const ad = loadAdFacts();
const dir = mkdtempSync(join(tmpdir(), 'openfed-admin-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A YAML config in its own folder; the bind password goes through the environment, as documented. */
function configFile(input: Record<string, unknown>): string {
  const sub = join(dir, `c${n++}`);
  const file = join(sub, 'openfed.yaml');
  rmSync(sub, { recursive: true, force: true });
  mkdirSync(sub, { recursive: true });
  writeFileSync(file, stringify({ dataDir: join(sub, 'data'), ...input }));
  return file;
}

async function openfed(args: string[], config?: string, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, ...(config ? { OPENFED_CONFIG: config } : {}), ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const { bindPassword, ...ldapWithoutPassword } = ldapConfig(ad);
const bindEnv = { OPENFED_LDAP_BIND_PASSWORD: bindPassword };

describe('openfed init', () => {
  test('writes a starter config and the token-signing key, then refuses to overwrite', async () => {
    const target = join(dir, 'init');
    const first = await openfed(['init', '--dir', target, '--base-url', 'https://sts.contoso.test', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const made = JSON.parse(first.stdout) as { configFile: string; signingCertificate: string; nextSteps: string[] };
    assert.equal(made.configFile, join(target, 'openfed.yaml'));
    assert.ok(existsSync(join(target, 'data', 'keys', 'signing-key.pem')));
    assert.ok(existsSync(made.signingCertificate));
    assert.ok(made.nextSteps.length > 0);
    const text = readFileSync(made.configFile, 'utf8');
    assert.match(text, /baseUrl: "https:\/\/sts\.contoso\.test"/);
    assert.match(text, /^# /m, 'commented');

    // The starter config is valid as written: the doctor warns (demo directory, memory sessions) and fails
    // only on the public metadata, which nothing serves before the server starts.
    const doctor = await openfed(['doctor'], made.configFile);
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /WARN\s+directory\s+demo directory in use/);
    assert.match(doctor.stdout, /WARN\s+sessions\s+sessions in memory: one node only/);
    assert.match(doctor.stdout, /OK\s+token-signing certificate\s+\S+, 36\d days left/);
    assert.match(doctor.stdout, /^FAIL\s+public metadata\s+https:\/\/sts\.contoso\.test\/FederationMetadata\/2007-06\/FederationMetadata\.xml: unreachable \(\S+\)$/m);
    assert.equal(doctor.stdout.match(/^FAIL/gm)?.length, 1, doctor.stdout);

    const second = await openfed(['init', '--dir', target]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /^openfed: .*openfed\.yaml already exists: not overwritten\n$/);
    assert.equal(readFileSync(made.configFile, 'utf8'), text, 'untouched');
  });

  test('every command has --help', async () => {
    for (const args of [['init'], ['doctor'], ['rp', 'list'], ['rp', 'add'], ['rp', 'remove'], ['rp', 'refresh'], ['sessions', 'revoke']]) {
      const help = await openfed([...args, '--help']);
      assert.equal(help.code, 0, args.join(' '));
      assert.match(help.stdout, /^Usage: openfed /, args.join(' '));
    }
  });
});

describe('openfed doctor', () => {
  test('real DC, real Redis and a running server: no FAIL, exit 0; DC and Redis clocks, public metadata signed by the primary', async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const sessions = { redis: { url: redis.url, keyPrefix: 'doctor:' } };
    const server = await startTestServer({ server: { port, baseUrl }, sessions });
    try {
      const config = configFile({
        server: { baseUrl },
        directory: { ldap: ldapWithoutPassword },
        sessions,
        keys: { encryptionSecret: TEST_KEY_ENCRYPTION_SECRET },
      });
      const res = await openfed(['doctor', '--json'], config, bindEnv);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      const report = JSON.parse(res.stdout) as DoctorReport;
      assert.equal(report.ok, true);
      const check = (name: string) => report.checks.find((c) => c.name === name);
      assert.equal(check('configuration')?.status, 'OK');
      assert.equal(check(`directory ${ad.ldapUrl}`)?.status, 'OK');
      assert.equal(check('sessions')?.status, 'OK');
      assert.equal(check('relying parties')?.status, 'OK');
      // Same machine: the DC's and Redis's clocks are ours, to within the DC's one-second resolution.
      assert.match(check(`clock vs ${ad.ldapUrl}`)?.detail ?? '', /^(ahead of|behind) this machine by [01]\.\d s$/);
      assert.equal(check(`clock vs ${ad.ldapUrl}`)?.status, 'OK');
      assert.equal(check('clock vs redis')?.status, 'OK');
      // The key set the server made and shares through Redis is what the doctor reads and checks against.
      const primary = server.deps.keys.primary.thumbprint;
      assert.equal(check('token-signing certificate')?.status, 'OK');
      assert.match(check('token-signing certificate')?.detail ?? '', new RegExp(`^${primary}, 36\\d days left`));
      assert.equal(check('public metadata')?.status, 'OK', check('public metadata')?.detail);
      assert.equal(check('public metadata')?.detail, `${baseUrl}/FederationMetadata/2007-06/FederationMetadata.xml: reachable, signed by the primary certificate ${primary}, entityID http://127.0.0.1/adfs/services/trust`);
      assert.ok(report.checks.every((c) => c.status !== 'FAIL'));

      // The Samba test domain locks at 5: the default 3 per kind of address lets 6 bad passwords reach it.
      assert.equal(check('extranet lockout')?.status, 'WARN');
      assert.match(
        check('extranet lockout')?.detail ?? '',
        /^lockout\.threshold 3 counts unknown and familiar addresses separately: 6 bad passwords can reach AD, not below the lockoutThreshold of DC=[^ ]+ \(5\), so AD can still lock the account; use 2 or less$/,
      );
      const atDomainThreshold = configFile({
        server: { baseUrl },
        directory: { ldap: ldapWithoutPassword },
        sessions,
        keys: { encryptionSecret: TEST_KEY_ENCRYPTION_SECRET },
        lockout: { mode: 'enforce', threshold: 5 },
      });
      const risky = await runDoctor({ OPENFED_CONFIG: atDomainThreshold, ...bindEnv });
      assert.equal(risky.ok, false);
      const esl = risky.checks.find((c) => c.name === 'extranet lockout');
      assert.equal(esl?.status, 'FAIL');
      assert.match(esl?.detail ?? '', /^lockout\.threshold 5 is not below the lockoutThreshold of DC=[^ ]+ \(5\): AD locks the account before OpenFed refuses; use 2 or less$/);

      // A clock 3 minutes off is a warning, 10 minutes a failure (Kerberos allows 5), for the DC and Redis alike.
      const env = { OPENFED_CONFIG: config, ...bindEnv };
      const warned = await runDoctor(env, () => Date.now() + 3 * 60_000);
      assert.equal(warned.checks.find((c) => c.name === `clock vs ${ad.ldapUrl}`)?.status, 'WARN');
      assert.match(warned.checks.find((c) => c.name === 'clock vs redis')?.detail ?? '', /^behind this machine by 1(79|80|81) s: more than 1 minute/);
      const failed = await runDoctor(env, () => Date.now() - 10 * 60_000);
      assert.equal(failed.ok, false);
      assert.equal(failed.checks.find((c) => c.name === `clock vs ${ad.ldapUrl}`)?.status, 'FAIL');
      assert.match(failed.checks.find((c) => c.name === 'clock vs redis')?.detail ?? '', /^ahead of this machine by 60\d s: more than 5 minutes/);
    } finally {
      await server.stop();
    }
  });

  test('public metadata: FAIL when the baseUrl reaches nothing, another federation service, or a server signing with another key', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startTestServer({ server: { port: portA, baseUrl: `http://127.0.0.1:${portA}` } });
    const b = await startTestServer({ server: { port: portB, baseUrl: `http://127.0.0.1:${portB}` } });
    try {
      const doctor = async (baseUrl: string, dataDir: string) => {
        const res = await openfed(['doctor', '--json'], configFile({ server: { baseUrl }, dataDir }));
        const check = (JSON.parse(res.stdout) as DoctorReport).checks.find((c) => c.name === 'public metadata');
        return { code: res.code, status: check?.status, detail: check?.detail ?? '' };
      };
      const ok = await doctor(`http://127.0.0.1:${portA}`, a.dataDir);
      assert.equal(ok.status, 'OK', ok.detail);

      const closed = await freePort();
      const nothing = await doctor(`http://127.0.0.1:${closed}`, a.dataDir);
      assert.deepEqual([nothing.code, nothing.status], [1, 'FAIL']);
      assert.match(nothing.detail, new RegExp(`^http://127\\.0\\.0\\.1:${closed}/FederationMetadata/2007-06/FederationMetadata\\.xml: unreachable \\(ECONNREFUSED\\)$`));

      // Server B answers, but signs with its own key, not the one in A's data directory.
      const otherKey = await doctor(`http://127.0.0.1:${portB}`, a.dataDir);
      assert.deepEqual([otherKey.code, otherKey.status], [1, 'FAIL']);
      assert.match(otherKey.detail, new RegExp(`signed with a certificate that is not in the current key set \\(${a.deps.keys.primary.thumbprint}\\)`));

      // The right server under another name: its entityID is not the one this configuration derives.
      const otherName = await doctor(`http://localhost:${portA}`, a.dataDir);
      assert.deepEqual([otherName.code, otherName.status], [1, 'FAIL']);
      assert.match(otherName.detail, /entityID "http:\/\/127\.0\.0\.1\/adfs\/services\/trust" is not this federation service's "http:\/\/localhost\/adfs\/services\/trust"/);

      // A base URL with a path the server does not serve.
      const misplaced = await publicMetadataCheck(parseConfig({ server: { baseUrl: `http://127.0.0.1:${portA}/sts` } }), []);
      assert.equal(misplaced.status, 'FAIL');
      assert.match(misplaced.detail, /\/sts\/FederationMetadata\/2007-06\/FederationMetadata\.xml: unexpected HTTP 404$/);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  test('a dead DC and a dead Redis are FAIL lines and exit 1; the live DC still shows OK', async () => {
    const config = configFile({
      directory: { ldap: { ...ldapWithoutPassword, urls: ['ldap://127.0.0.1:1', ad.ldapUrl], connectTimeoutMs: 1000 } },
      sessions: { redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 500, commandTimeoutMs: 500 } },
    });
    const res = await openfed(['doctor'], config, bindEnv);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stdout, /^FAIL\s+directory ldap:\/\/127\.0\.0\.1:1\s+\S/m);
    assert.match(res.stdout, new RegExp(`^OK\\s+directory ${ad.ldapUrl.replace(/[.]/g, '\\.')}\\s`, 'm'));
    assert.match(res.stdout, new RegExp(`^OK\\s+clock vs ${ad.ldapUrl.replace(/[.]/g, '\\.')}\\s`, 'm'));
    assert.doesNotMatch(res.stdout, /clock vs ldap:\/\/127\.0\.0\.1:1/);
    assert.match(res.stdout, /^FAIL\s+sessions\s+\S/m);
    assert.match(res.stdout, /check\(s\) failed/);
  });

  test('an invalid configuration is one FAIL line', async () => {
    const config = configFile({ sessions: { lifetimeMinutes: 'long' } });
    const res = await openfed(['doctor'], config);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /^FAIL\s+configuration\s+configuration key sessions\.lifetimeMinutes: /m);
  });
});

describe('openfed rp list', () => {
  test('SAML, WS-Fed and Microsoft 365 relying parties, as JSON and text', async () => {
    const config = configFile({
      relyingParties: [
        {
          entityId: 'https://sp.example.test',
          name: 'Example SP',
          assertionConsumerServices: [{ url: 'https://sp.example.test/acs', isDefault: true }],
          singleLogoutServices: [{ url: 'https://sp.example.test/slo' }],
          requireSignedRequests: false,
        },
      ],
      wsfedRelyingParties: [{ realm: 'urn:example:app', replyUrls: ['https://app.example.test/signin-wsfed'] }],
      microsoft365: { enabled: true, domains: ['contoso.com'] },
    });
    const res = await openfed(['rp', 'list', '--json'], config);
    assert.equal(res.code, 0, res.stderr);
    const listing = JSON.parse(res.stdout) as RpListing;
    const sp = listing.saml.find((rp) => rp.entityId === 'https://sp.example.test');
    assert.deepEqual(sp, {
      entityId: 'https://sp.example.test',
      name: 'Example SP',
      source: 'config',
      acs: ['https://sp.example.test/acs'],
      slo: ['https://sp.example.test/slo'],
      requireSignedRequests: false,
      encryptAssertions: false,
      certificates: [],
    });
    assert.equal(listing.store, 'file');
    assert.equal(listing.saml.find((rp) => rp.entityId === 'urn:federation:MicrosoftOnline')?.source, 'microsoft365');
    assert.deepEqual(listing.wsfed, [{ realm: 'urn:example:app', name: 'urn:example:app', source: 'config', replyUrls: ['https://app.example.test/signin-wsfed'] }]);
    assert.deepEqual(listing.microsoft365, {
      enabled: true,
      realm: 'urn:federation:MicrosoftOnline',
      replyUrl: 'https://login.microsoftonline.com/login.srf',
      domains: ['contoso.com'],
    });

    const text = await openfed(['rp', 'list'], config);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /https:\/\/sp\.example\.test\s+\(Example SP\)/);
    assert.match(text.stdout, /urn:example:app/);
    assert.match(text.stdout, /Microsoft 365: enabled/);
  });
});

describe('openfed sessions revoke', () => {
  test('ends every SSO session of the user on a live server (Redis), audited', async () => {
    const keyPrefix = 'admincli:';
    const server = await startTestServer({ sessions: { redis: { url: redis.url, keyPrefix } } });
    try {
      const signIn = async () => {
        const agent = request.agent(server.url);
        const form = await agent.get('/signin').redirects(1).expect(200);
        await agent.post('/signin').type('form').send({ _csrf: csrfFrom(form.text), username: DEMO_USER, password: DEMO_PASSWORD }).expect(303);
        const home = await agent.get('/').expect(200);
        assert.match(home.text, new RegExp(`id="upn">${DEMO_USER}<`));
        return agent;
      };
      const browsers = [await signIn(), await signIn()];

      const config = configFile({ sessions: { redis: { url: redis.url, keyPrefix } } });
      const res = await openfed(['sessions', 'revoke', DEMO_USER, '--json'], config);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { user: DEMO_USER, revoked: 2 });

      for (const browser of browsers) {
        const home = await browser.get('/').expect(200);
        assert.match(home.text, /You are not signed in/);
      }
      const auditFile = join(dir, `c${n - 1}`, 'data', 'audit.log');
      const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(audit.some((e) => e.type === 'admin.change' && e.command === 'sessions revoke' && e.target === DEMO_USER && typeof e.by === 'string'));

      const again = await openfed(['sessions', 'revoke', DEMO_USER], config);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /Ended 0 SSO sessions of demo@openfed\.test/);
    } finally {
      await server.stop();
    }
  });

  test('memory sessions: exit 1 with one clear line', async () => {
    const res = await openfed(['sessions', 'revoke', DEMO_USER], configFile({}));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^openfed: sessions are in memory, inside the running server process: configure sessions\.redis.*\n$/);
  });
});

describe('doctor: extranet lockout against the domain policy (pure)', () => {
  const domain = (threshold: number) => ({ domain: 'DC=contoso,DC=com', threshold });
  const cases: Array<[Parameters<typeof lockoutPolicyCheck>[0], number, 'OK' | 'WARN' | 'FAIL']> = [
    [{ mode: 'enforce', threshold: 4 }, 10, 'OK'],
    [{ mode: 'enforce', threshold: 3 }, 7, 'OK'],
    // Twice the threshold (familiar and unknown addresses) reaches the domain's: a warning.
    [{ mode: 'enforce', threshold: 5 }, 10, 'WARN'],
    [{ mode: 'enforce', threshold: 9 }, 10, 'WARN'],
    [{ mode: 'enforce', threshold: 3 }, 5, 'WARN'],
    [{ mode: 'logOnly', threshold: 3 }, 5, 'WARN'],
    // One counter alone reaches it: AD locks first whatever the address.
    [{ mode: 'enforce', threshold: 10 }, 10, 'FAIL'],
    [{ mode: 'enforce', threshold: 12 }, 10, 'FAIL'],
    [{ mode: 'logOnly', threshold: 10 }, 10, 'WARN'],
    [{ mode: 'logOnly', threshold: 3 }, 10, 'OK'],
    [{ mode: 'enforce', threshold: 50 }, 0, 'OK'],
    [{ mode: 'off', threshold: 3 }, 10, 'WARN'],
  ];
  for (const [lockout, threshold, status] of cases) {
    test(`${lockout.mode}, ours ${lockout.threshold}, domain ${threshold}: ${status}`, () => {
      assert.equal(lockoutPolicyCheck(lockout, domain(threshold)).status, status);
    });
  }
  test('the advice is the largest threshold whose double is below the domain threshold', () => {
    assert.match(lockoutPolicyCheck({ mode: 'enforce', threshold: 10 }, domain(10)).detail, /use 4 or less$/);
    assert.match(lockoutPolicyCheck({ mode: 'enforce', threshold: 5 }, domain(10)).detail, /: 10 bad passwords can reach AD, .*; use 4 or less$/);
    assert.match(lockoutPolicyCheck({ mode: 'enforce', threshold: 4 }, domain(10)).detail, /^enforce, lockout\.threshold 4: twice it \(unknown and familiar addresses\) is below the lockoutThreshold of DC=contoso,DC=com \(10\)$/);
    assert.match(lockoutPolicyCheck({ mode: 'enforce', threshold: 1 }, domain(1)).detail, /leaves no room below it/);
    assert.match(lockoutPolicyCheck({ mode: 'enforce', threshold: 1 }, domain(2)).detail, /leaves no room below it/);
  });
});
