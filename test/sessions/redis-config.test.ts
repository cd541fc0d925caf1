/**
 * sessions.redis: exactly one of standalone, Sentinel or Cluster, each mistake refused at start-up
 * with one line naming the key; passwords from the environment.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, parseConfig } from '../../src/config/load.js';

const sentinels = [{ host: 's1.contoso.com' }, { host: 's2.contoso.com', port: 26380 }];
const cluster = [{ host: 'r1.contoso.com' }, { host: 'r2.contoso.com', port: 7001 }];

function refusal(redis: unknown): string {
  try {
    parseConfig({ sessions: { redis } });
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`accepted ${JSON.stringify(redis)}`);
}

describe('sessions.redis configuration', () => {
  test('standalone, Sentinel and Cluster each parse, with their defaults', () => {
    assert.equal(parseConfig({ sessions: { redis: { url: 'rediss://r.contoso.com:6380/1' } } }).sessions.redis?.url, 'rediss://r.contoso.com:6380/1');
    const viaSentinel = parseConfig({ sessions: { redis: { sentinels, name: 'openfed', password: 'p', sentinelPassword: 's' } } }).sessions.redis;
    assert.deepEqual(viaSentinel?.sentinels, [{ host: 's1.contoso.com', port: 26379 }, { host: 's2.contoso.com', port: 26380 }]);
    assert.equal(viaSentinel?.keyPrefix, 'openfed:');
    const viaCluster = parseConfig({ sessions: { redis: { cluster, tls: { caFile: '/etc/openfed/redis-ca.pem' } } } }).sessions.redis;
    assert.deepEqual(viaCluster?.cluster, [{ host: 'r1.contoso.com', port: 6379 }, { host: 'r2.contoso.com', port: 7001 }]);
    assert.deepEqual(viaCluster?.tls, { caFile: '/etc/openfed/redis-ca.pem', rejectUnauthorized: true });
  });

  test('no mode, two modes, or a mode without its companion: one line naming the key', () => {
    assert.equal(refusal({}), 'configuration key sessions.redis: expected one of url (standalone), sentinels (with name) or cluster');
    assert.equal(
      refusal({ url: 'redis://r:6379', cluster }),
      'configuration key sessions.redis.cluster: cannot be combined with url: choose one of url, sentinels or cluster',
    );
    assert.equal(
      refusal({ sentinels, name: 'm', cluster }),
      'configuration key sessions.redis.cluster: cannot be combined with sentinels: choose one of url, sentinels or cluster',
    );
    assert.equal(refusal({ sentinels }), 'configuration key sessions.redis.name: required with sentinels: the master group name');
    assert.equal(refusal({ cluster, name: 'm' }), 'configuration key sessions.redis.name: expected only together with sentinels');
    assert.equal(refusal({ url: 'redis://r', sentinelPassword: 'x' }), 'configuration key sessions.redis.sentinelPassword: expected only together with sentinels');
    assert.equal(refusal({ sentinels: [], name: 'm' }), 'configuration key sessions.redis.sentinels: Too small: expected array to have >=1 items');
    assert.equal(refusal({ cluster: [{ host: 'r1', port: 70000 }] }), 'configuration key sessions.redis.cluster[0].port: Too big: expected number to be <=65535');
    assert.equal(refusal({ cluster: [{ host: 'r1', db: 2 }] }), 'configuration key sessions.redis.cluster[0].db: unknown key');
    assert.equal(refusal({ url: 'http://r:6379' }), 'configuration key sessions.redis.url: expected a URL starting with redis:// or rediss://');
    assert.equal(refusal({ url: 'redis://r:6379', tls: {} }), 'configuration key sessions.redis.url: expected a rediss:// url together with sessions.redis.tls');
  });

  test('a key prefix with a hash tag is refused: it would break the Cluster slot layout', () => {
    for (const keyPrefix of ['{openfed}:', 'open{fed:', 'openfed}:']) {
      assert.match(refusal({ url: 'redis://r', keyPrefix }), /^configuration key sessions\.redis\.keyPrefix: must not contain \{ or \}: /);
    }
  });

  test('passwords come from the environment; OPENFED_REDIS_URL next to sentinels is a clear conflict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openfed-redis-config-'));
    const file = join(dir, 'openfed.yaml');
    writeFileSync(file, 'sessions:\n  redis:\n    sentinels: [{ host: s1.contoso.com }]\n    name: openfed\n');
    const config = loadConfig({ OPENFED_CONFIG: file, OPENFED_REDIS_PASSWORD: 'from-env', OPENFED_REDIS_SENTINEL_PASSWORD: 'sentinel-env' });
    assert.equal(config.sessions.redis?.password, 'from-env');
    assert.equal(config.sessions.redis?.sentinelPassword, 'sentinel-env');
    assert.equal(loadConfig({ OPENFED_REDIS_PASSWORD: 'x' }).sessions.redis, undefined, 'a password alone does not turn Redis on');
    assert.throws(
      () => loadConfig({ OPENFED_CONFIG: file, OPENFED_REDIS_URL: 'redis://r:6379' }),
      { message: `configuration key sessions.redis.sentinels: cannot be combined with url: choose one of url, sentinels or cluster (in ${file})` },
    );
  });

  test('the server refuses to start on a mixed configuration with one line, no stack trace, no password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'openfed-redis-config-'));
    const file = join(dir, 'openfed.yaml');
    writeFileSync(file, `dataDir: ${dir}\nsessions:\n  redis:\n    url: redis://:S3cret-in-url@r:6379\n    cluster: [{ host: r1 }]\n`);
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, OPENFED_CONFIG: file, OPENFED_REDIS_PASSWORD: 'S3cret-in-env' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim(), `openfed: configuration key sessions.redis.cluster: cannot be combined with url: choose one of url, sentinels or cluster (in ${file})`);
    assert.doesNotMatch(result.stderr + result.stdout, /S3cret/);
  });
});
