/**
 * `openfed init`, `doctor`, `rp list` and `sessions revoke`, spawned as an admin runs them, against the
 * real Samba DC (test/setup/samba-ad.sh) and a real Redis.
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
import type { DoctorReport, RpListing } from '../../src/cli/admin.js';
import { DEMO_PASSWORD, DEMO_USER } from '../../src/directory/demo.js';
import { ldapConfig, loadAdFacts } from '../helpers/ad.js';
import { startRedisServer } from '../helpers/redis.js';
import { csrfFrom, startTestServer } from '../helpers/server.js';

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

    // The starter config is valid as written and the doctor only warns (demo directory, memory sessions).
    const doctor = await openfed(['doctor'], made.configFile);
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /WARN\s+directory\s+demo directory in use/);
    assert.match(doctor.stdout, /WARN\s+sessions\s+sessions in memory: one node only/);
    assert.match(doctor.stdout, /OK\s+token-signing certificate\s+\S+, 36\d days left/);

    const second = await openfed(['init', '--dir', target]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /^openfed: .*openfed\.yaml already exists: not overwritten\n$/);
    assert.equal(readFileSync(made.configFile, 'utf8'), text, 'untouched');
  });

  test('every command has --help', async () => {
    for (const args of [['init'], ['doctor'], ['rp', 'list'], ['sessions', 'revoke']]) {
      const help = await openfed([...args, '--help']);
      assert.equal(help.code, 0, args.join(' '));
      assert.match(help.stdout, /^Usage: openfed /, args.join(' '));
    }
  });
});

describe('openfed doctor', () => {
  test('real DC and real Redis: no FAIL, exit 0, one line per DC', async () => {
    const config = configFile({ directory: { ldap: ldapWithoutPassword }, sessions: { redis: { url: redis.url } } });
    const res = await openfed(['doctor', '--json'], config, bindEnv);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const report = JSON.parse(res.stdout) as DoctorReport;
    assert.equal(report.ok, true);
    const status = (name: string) => report.checks.find((c) => c.name === name)?.status;
    assert.equal(status('configuration'), 'OK');
    assert.equal(status(`directory ${ad.ldapUrl}`), 'OK');
    assert.equal(status('sessions'), 'OK');
    assert.equal(status('relying parties'), 'OK');
    // No key yet: the server will create one; the doctor does not.
    assert.equal(status('token-signing certificate'), 'WARN');
    assert.ok(report.checks.every((c) => c.status !== 'FAIL'));
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
    });
    assert.equal(listing.saml.find((rp) => rp.entityId === 'urn:federation:MicrosoftOnline')?.source, 'microsoft365');
    assert.deepEqual(listing.wsfed, [{ realm: 'urn:example:app', name: 'urn:example:app', replyUrls: ['https://app.example.test/signin-wsfed'] }]);
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
