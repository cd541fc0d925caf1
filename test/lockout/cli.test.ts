/**
 * `openfed lockout show|reset`, spawned as an admin runs it, against a real Redis holding state a
 * server wrote (seeded here through the store).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger } from '../../src/log.js';
import { RedisLockoutStore } from '../../src/lockout/redis-store.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { startRedisServer } from '../helpers/redis.js';

const run = promisify(execFile);
const redis = await startRedisServer();
const dir = mkdtempSync(join(tmpdir(), 'openfed-lockout-cli-'));
const configFile = join(dir, 'openfed.yaml');
writeFileSync(
  configFile,
  [`dataDir: ${dir}`, 'sessions:', '  redis:', `    url: ${redis.url}`, '    keyPrefix: "cli:"', 'lockout:', '  mode: enforce', '  threshold: 3', ''].join('\n'),
);
const connection = new RedisConnection({ url: redis.url, keyPrefix: 'cli:', connectTimeoutMs: 1000, commandTimeoutMs: 1000 }, silentLogger);
const store = new RedisLockoutStore(connection, { attempts: 0, windowSeconds: 60 });
after(async () => {
  await connection.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openfed(args: string[], config = configFile) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'lockout', ...args], {
      env: { ...process.env, OPENFED_CONFIG: config },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('openfed lockout', () => {
  test('show (JSON and text) by any spelling the servers resolved, then reset (audited)', async () => {
    const now = Date.now();
    await store.compareAndSet(
      'carol@contoso.com',
      0,
      { unknownBadCount: 4, familiarBadCount: 1, lastBadAt: now - 60_000, familiarIps: [{ ip: '10.0.0.5', lastSuccessAt: now - 3_600_000 }] },
      3_600_000,
    );
    await store.setAlias('contoso\\carol', 'carol@contoso.com', 3_600_000);

    const json = await openfed(['show', 'CONTOSO\\carol', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(report.user, 'carol@contoso.com');
    assert.equal(report.unknownBadCount, 4);
    assert.equal(report.familiarBadCount, 1);
    assert.equal(report.lockedForUnknownAddresses, true);
    assert.equal(report.lockedForFamiliarAddresses, false);
    assert.deepEqual((report.familiarIps as Array<{ ip: string }>).map((f) => f.ip), ['10.0.0.5']);

    const text = await openfed(['show', 'Carol@Contoso.com']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Unknown bad count:\s+4\s+LOCKED for unknown addresses/);
    assert.match(text.stdout, /10\.0\.0\.5/);

    const reset = await openfed(['reset', 'carol@contoso.com']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /reset/);
    assert.equal(await store.get('carol@contoso.com'), undefined);
    const audit = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(audit.some((e) => e.type === 'lockout.reset' && e.user === 'carol@contoso.com' && typeof e.by === 'string'));

    const empty = await openfed(['show', 'carol@contoso.com', '--json']);
    assert.equal((JSON.parse(empty.stdout) as { unknownBadCount: number }).unknownBadCount, 0);
  });

  test('without Redis it says the state is out of reach, and exits 1', async () => {
    const memoryConfig = join(dir, 'memory.yaml');
    writeFileSync(memoryConfig, `dataDir: ${dir}\n`);
    const res = await openfed(['show', 'carol@contoso.com'], memoryConfig);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /configure sessions\.redis/);
  });
});
