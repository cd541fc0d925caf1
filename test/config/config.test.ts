import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { federationIdentifier } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'openfed-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ldap = { urls: ['ldaps://dc1.contoso.com'], baseDn: 'DC=contoso,DC=com', bindDn: 'svc@contoso.com', bindPassword: 'x' };

describe('configuration', () => {
  test('an empty configuration gives the documented defaults', () => {
    const config = parseConfig({});
    assert.equal(config.server.baseUrl, 'http://localhost:8080');
    assert.equal(config.server.port, 8080);
    assert.equal(config.sessions.lifetimeMinutes, 480);
    assert.equal(config.directory.ldap, undefined);
    assert.equal(config.sessions.redis, undefined);
    assert.deepEqual(config.server.trustedProxies, []);
    assert.equal(federationIdentifier(config), 'http://localhost/adfs/services/trust');
  });

  test('the Federation Service identifier follows AD FS: http://<host>/adfs/services/trust', () => {
    assert.equal(
      federationIdentifier(parseConfig({ server: { baseUrl: 'https://sts.contoso.com' } })),
      'http://sts.contoso.com/adfs/services/trust',
    );
    assert.equal(federationIdentifier(parseConfig({ server: { identifier: 'urn:contoso:sts' } })), 'urn:contoso:sts');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a wrong type', { server: { port: 'abc' } }, /^configuration key server\.port: expected number, received string/],
    ['a port out of range', { server: { port: 70000 } }, /^configuration key server\.port: /],
    ['a missing required key', { directory: { ldap: { ...ldap, baseDn: undefined } } }, /^configuration key directory\.ldap\.baseDn: required/],
    ['an unknown key', { server: { prot: 1 } }, /^configuration key server\.prot: unknown key/],
    ['an unknown top-level key', { relyingparties: [] }, /^configuration key relyingparties: unknown key/],
    ['a non-LDAP DC URL', { directory: { ldap: { ...ldap, urls: ['http://dc1'] } } }, /directory\.ldap\.urls\[0\]: expected a URL starting with ldap:\/\/ or ldaps:\/\//],
    ['no DC at all', { directory: { ldap: { ...ldap, urls: [] } } }, /directory\.ldap\.urls: /],
    ['a bad base URL', { server: { baseUrl: 'sts.contoso.com' } }, /server\.baseUrl: expected a URL starting with http:\/\/ or https:\/\//],
    ['half a signing key', { keys: { signing: { keyFile: 'k.pem' } } }, /keys\.signing: expected keyFile and certFile, or pkcs12File/],
    ['a bad log level', { log: { level: 'loud' } }, /log\.level: expected one of/],
    ['a short CSRF secret', { web: { csrfSecret: 'short' } }, /web\.csrfSecret: expected at least 32 characters/],
    ['not an object', ['a'], /^configuration key \(top level\): expected object/],
  ];
  for (const [what, input, message] of bad) {
    test(`${what} is refused in one line naming the key`, () => {
      assert.throws(
        () => parseConfig(input),
        (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
      );
    });
  }

  test('reads YAML and JSON files named by OPENFED_CONFIG', () => {
    const yaml = file('a.yaml', 'server:\n  baseUrl: https://sts.contoso.com\n  port: 9443\n');
    assert.equal(loadConfig({ OPENFED_CONFIG: yaml }).server.port, 9443);
    const json = file('a.json', JSON.stringify({ server: { port: 9444 } }));
    assert.equal(loadConfig({ OPENFED_CONFIG: json }).server.port, 9444);
  });

  test('an unreadable or malformed file is named in the message', () => {
    assert.throws(() => loadConfig({ OPENFED_CONFIG: join(dir, 'missing.yaml') }), /missing\.yaml: cannot be read \(ENOENT\)/);
    const broken = file('broken.yaml', 'server: [unclosed\n');
    assert.throws(() => loadConfig({ OPENFED_CONFIG: broken }), /broken\.yaml: not valid YAML/);
    const brokenJson = file('broken.json', '{"server": ');
    assert.throws(() => loadConfig({ OPENFED_CONFIG: brokenJson }), /broken\.json: not valid JSON/);
  });

  test('secrets come from the environment', () => {
    const path = file('ldap.yaml', `directory:\n  ldap:\n    urls: [ldaps://dc1]\n    baseDn: DC=x\n    bindDn: svc@x\n`);
    const config = loadConfig({
      OPENFED_CONFIG: path,
      OPENFED_LDAP_BIND_PASSWORD: 'from-env',
      OPENFED_REDIS_URL: 'redis://:pw@127.0.0.1:6379/0',
      OPENFED_CSRF_SECRET: 'c'.repeat(40),
    });
    assert.equal(config.directory.ldap?.bindPassword, 'from-env');
    assert.equal(config.sessions.redis?.url, 'redis://:pw@127.0.0.1:6379/0');
    assert.equal(config.web.csrfSecret, 'c'.repeat(40));
  });

  test('a bind password alone does not invent an LDAP section', () => {
    const config = loadConfig({ OPENFED_LDAP_BIND_PASSWORD: 'x' });
    assert.equal(config.directory.ldap, undefined);
  });

  test('the server refuses to start on a bad configuration with one line and no stack trace', () => {
    const path = file('bad.yaml', 'server:\n  port: many\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, OPENFED_CONFIG: path },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim(), `openfed: configuration key server.port: expected number, received string (in ${path})`);
    assert.doesNotMatch(result.stderr + result.stdout, /\n\s+at /);
  });
});
