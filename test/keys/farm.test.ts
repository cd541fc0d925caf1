/**
 * Issue #6 §1/§2: two OpenFed nodes on one Redis. `openfed keys add` and `promote`, run as the CLI
 * against that Redis, change what node B publishes and signs with — without restarting it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { KeyChange, KeyListing } from '../../src/cli/keys.js';
import { makeKeyPair, type KeyPair } from '../helpers/saml.js';
import { startRedisServer } from '../helpers/redis.js';
import { startTestServer, TEST_KEY_ENCRYPTION_SECRET, type TestServer } from '../helpers/server.js';
import { eventually, openfed } from './cli-runner.js';
import { issueToken, publishedCertificates, rpAccepts, rpServerConfig } from './relying-party.js';

const redis = await startRedisServer();
const dir = mkdtempSync(join(tmpdir(), 'openfed-farm-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a key change made with openfed keys reaches every node without restart', () => {
  const farm = { sessions: { redis: { url: redis.url, keyPrefix: 'farm:' } }, keys: { autoRollover: false, refreshSeconds: 1 } };
  let a: TestServer;
  let b: TestServer;
  let ca: KeyPair;
  let configFile: string;
  let first: { thumbprint: string; base64: string };
  const env = () => ({ OPENFED_CONFIG: configFile, OPENFED_KEY_ENCRYPTION_SECRET: TEST_KEY_ENCRYPTION_SECRET });

  before(async () => {
    a = await startTestServer({ ...rpServerConfig, ...farm });
    b = await startTestServer({ ...rpServerConfig, ...farm });
    first = { thumbprint: a.deps.keys.primary.thumbprint, base64: a.deps.keys.primary.certificateBase64 };
    ca = makeKeyPair('sts.contoso.test (CA-issued)');
    configFile = join(dir, 'openfed.yaml');
    writeFileSync(configFile, stringify({ dataDir: join(dir, 'data'), ...farm, keys: { autoRollover: false } }));
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  test('both nodes start on the same primary, created once', async () => {
    assert.equal(b.deps.keys.primary.thumbprint, first.thumbprint);
    const listed = await openfed(['keys', 'list', '--json'], env());
    assert.equal(listed.code, 0, listed.stderr);
    const listing = JSON.parse(listed.stdout) as KeyListing;
    assert.equal(listing.mode, 'manual');
    assert.equal(listing.store, 'Redis');
    assert.deepEqual(listing.keys.map((k) => [k.role, k.thumbprint, k.origin]), [['primary', first.thumbprint, 'generated']]);
  });

  test('keys add: node B publishes the new certificate as next; the primary still signs', async () => {
    const added = await openfed(['keys', 'add', '--cert', join(ca.dir, 'cert.pem'), '--key', join(ca.dir, 'key.pem'), '--json'], env());
    assert.equal(added.code, 0, added.stderr);
    const change = JSON.parse(added.stdout) as KeyChange;
    assert.equal(change.command, 'keys add');
    assert.equal(change.primary, first.thumbprint);
    await eventually('node B sees the next certificate', () => b.deps.keys.next?.thumbprint === change.thumbprint);
    const next = b.deps.keys.next!.certificateBase64;
    assert.deepEqual(await publishedCertificates(b.url), [first.base64, next]);
    const token = await issueToken(b.url);
    assert.equal(await rpAccepts([first.base64], token), true);
    assert.equal(await rpAccepts([next], token), false, 'the next certificate does not sign');
  });

  test('keys promote: node B signs with the new certificate; the old one stays published', async () => {
    const next = b.deps.keys.next!;
    const promoted = await openfed(['keys', 'promote', next.thumbprint.toLowerCase(), '--json'], env());
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.equal((JSON.parse(promoted.stdout) as KeyChange).primary, next.thumbprint);
    await eventually('node B signs with the promoted certificate', () => b.deps.keys.primary.thumbprint === next.thumbprint);
    await eventually('node A too', () => a.deps.keys.primary.thumbprint === next.thumbprint);
    for (const node of [a, b]) {
      const token = await issueToken(node.url);
      assert.equal(await rpAccepts([next.certificateBase64], token), true, 'signed with the CA-issued key');
      assert.equal(await rpAccepts([first.base64], token), false, 'no longer with the first one');
      assert.deepEqual(await publishedCertificates(node.url), [next.certificateBase64, first.base64]);
    }
  });

  test('keys remove: the former primary goes; the primary cannot be removed', async () => {
    const removed = await openfed(['keys', 'remove', first.thumbprint], env());
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, new RegExp(`^Removed certificate ${first.thumbprint}: no longer published\\.\\nEvery node picks the change up within 30 s`));
    const primary = b.deps.keys.primary;
    await eventually('node B stops publishing it', async () => (await publishedCertificates(b.url)).length === 1);
    assert.deepEqual(await publishedCertificates(b.url), [primary.certificateBase64]);

    const refused = await openfed(['keys', 'remove', primary.thumbprint], env());
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `openfed: certificate ${primary.thumbprint} is the primary, which signs every token: promote another one first\n`);
  });

  test('every change is in the audit trail, with who made it', () => {
    const lines = readFileSync(join(dir, 'data', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.type, l.command]),
      [
        ['admin.change', 'keys add'],
        ['admin.change', 'keys promote'],
        ['admin.change', 'keys remove'],
      ],
    );
    assert.equal(lines[2]!.target, first.thumbprint);
    assert.ok(lines.every((l) => typeof l.by === 'string' && l.by !== ''));
    assert.doesNotMatch(readFileSync(join(dir, 'data', 'audit.log'), 'utf8'), /PRIVATE KEY/);
  });
});
